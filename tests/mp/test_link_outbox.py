"""The offline outbox on flash (edge/outbox.py), on CPython and the MicroPython unix port.

Bounded, oldest dropped first and counted, order kept across reopen (a reboot), torn lines
from a power cut skipped, replay cursor persisted.
"""

from linkfakes import rmtree, scratch_dir
from mpcheck import raises

from edge.outbox import Outbox


def in_scratch(test):
    """Run test(root) in a fresh folder that is removed afterwards."""

    def run():
        root = scratch_dir("outbox")
        try:
            test(root)
        finally:
            rmtree(root)

    return run


def rec(seq):
    return '{{"v":1,"ts_s":{},"seq":{},"valves":[]}}'.format(1795000000 + 60 * seq, seq).encode()


def seq_of(payload):
    import json

    return json.loads(payload)["seq"]


def make(root, **kw):
    return Outbox(root + "/outbox", **kw)


def deliver(box, n):
    """The broker acknowledged the next n records."""
    for _ in range(n):
        box.peek()
        box.pop()


def drain(box):
    seqs = []
    while True:
        item = box.peek()
        if item is None:
            return seqs
        seqs.append(seq_of(item[1]))
        box.pop()


@in_scratch
def test_fifo_order_and_kinds_survive_a_reopen(root):
    box = make(root, seg_records=4, max_segments=8)
    for seq in range(10):
        box.append("tele" if seq % 3 else "event", rec(seq))
    assert box.depth() == 10
    assert box.peek()[0] == "event"
    deliver(box, 1)
    box.commit()
    again = make(root, seg_records=4, max_segments=8)  # a reboot
    assert again.depth() == 9
    kind, payload = again.peek()
    assert kind == "tele" and seq_of(payload) == 1
    assert drain(again) == list(range(1, 10))
    assert again.depth() == 0
    assert again.peek() is None


@in_scratch
def test_full_outbox_drops_oldest_first_and_counts_every_drop(root):
    box = make(root, seg_records=5, max_segments=4)  # room for 20
    dropped = 0
    for seq in range(33):
        dropped += box.append("tele", rec(seq))
    # 33 records into 4 segments of 5: the three oldest segments had to go.
    assert dropped == 15, dropped
    assert box.dropped_total == 15
    assert box.depth() == 18
    assert drain(box) == list(range(15, 33))
    reopened = make(root, seg_records=5, max_segments=4)
    assert reopened.dropped_total == 15  # persisted for the health report


@in_scratch
def test_byte_bound_also_drops_oldest(root):
    size = len(rec(0)) + 2
    box = make(root, seg_records=2, max_segments=100, max_bytes=size * 6)
    for seq in range(10):
        box.append("tele", rec(seq))
    assert box.size_bytes() <= size * 6
    assert box.dropped_total == 10 - box.depth()
    assert drain(box)[-1] == 9


@in_scratch
def test_partly_replayed_segment_only_counts_undelivered_records_as_dropped(root):
    box = make(root, seg_records=4, max_segments=2)
    for seq in range(4):
        box.append("tele", rec(seq))
    deliver(box, 2)  # 0 and 1 delivered
    for seq in range(4, 9):
        box.append("tele", rec(seq))  # the 9th record forces out the first segment
    assert box.dropped_total == 2  # 2 and 3 were lost, not 0 and 1
    assert drain(box) == [4, 5, 6, 7, 8]


@in_scratch
def test_torn_last_line_from_a_power_cut_is_skipped_and_counted(root):
    box = make(root, seg_records=8, max_segments=4)
    box.append("tele", rec(0))
    box.append("tele", rec(1))
    with open(root + "/outbox/s00000000", "ab") as f:
        f.write(b't{"v":1,"ts_s":17950')  # power cut mid-write
    again = make(root, seg_records=8, max_segments=4)
    again.append("tele", rec(2))  # goes after the torn bytes
    assert again.corrupt == 1
    assert again.depth() == 3
    assert drain(again) == [0, 1, 2]


@in_scratch
def test_cursor_after_crash_replays_at_most_the_uncommitted_records(root):
    box = make(root, seg_records=10, max_segments=4)
    for seq in range(6):
        box.append("tele", rec(seq))
    deliver(box, 2)
    box.commit()
    deliver(box, 1)  # delivered but not committed when the power goes
    again = make(root, seg_records=10, max_segments=4)
    assert drain(again) == [2, 3, 4, 5]  # 2 again: a duplicate, never a loss


@in_scratch
def test_refuses_unknown_kinds_and_multiline_payloads(root):
    box = make(root)
    raises(ValueError, box.append, "ack", rec(0))
    raises(ValueError, box.append, "tele", b'{"a":\n1}')
    raises(ValueError, box.pop)
    assert box.depth() == 0
