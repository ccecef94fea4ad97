"""The offline outbox: records the link could not deliver, kept on flash, replayed in order.

Telemetry and event records (already encoded payloads, with their own `ts_s` and `seq`) go
here whenever the link is down or a backlog is waiting, and leave only once the broker has
acknowledged them (QoS 1 PUBACK). Replaying the stored bytes keeps every record's original
timestamp and sequence number, so the host backfills and deduplicates on (site, unit, seq).

Layout on flash, below `<root>/`:
  s00000012 ...   segment files, one record per line: a kind letter, then the JSON payload
                  (`t{...}` telemetry, `e{...}` event); at most `seg_records` lines each
  meta.json       oldest segment, how far into it the replay got, records dropped so far

Bounds: at most `max_segments` segments and `max_bytes` bytes. When a new record would break a
bound, the oldest segment is deleted whole: oldest records go first and every one of them is
counted in `dropped_total` (persisted, reported in telemetry health and an `outbox_overflow`
event by the caller). Small segments keep that granularity fine.

Power cuts: appends are whole lines; a torn last line (no newline) is cut off at boot and a
line of no known kind skipped, both counted in `corrupt`. The replay cursor is saved
atomically with edge.persist (`commit()`), so after
a crash at most the records replayed since the last commit are sent twice: the host stores
each (unit, seq) once. Nothing here talks to the network or reads a clock.
"""

import os

from edge import persist

_KIND_TO_CHAR = {"tele": "t", "event": "e"}
_CHAR_TO_KIND = {"t": "tele", "e": "event"}
_NL = 10  # b"\n"[0]


def _makedirs(path):
    current = "/" if path.startswith("/") else ""
    for part in path.split("/"):
        if not part:
            continue
        current = current + part if current in ("", "/") else current + "/" + part
        try:
            os.mkdir(current)
        except OSError:  # it exists already
            pass


class Outbox:
    """A bounded FIFO of encoded records on flash.

    root:         folder for the segment files (created if missing)
    seg_records:  records per segment file
    max_segments: segments kept at most (capacity = seg_records * max_segments records)
    max_bytes:    bytes of segment files kept at most
    """

    def __init__(self, root, seg_records=32, max_segments=16, max_bytes=262144, events=None):
        if seg_records < 1 or max_segments < 2:
            raise ValueError("outbox needs seg_records >= 1 and max_segments >= 2")
        self.root = root.rstrip("/")
        self._events = events  # for persist's state_corrupt event
        self.seg_records = seg_records
        self.max_segments = max_segments
        self.max_bytes = max_bytes
        self.dropped_total = 0  # records lost to the bounds, since first boot
        self.corrupt = 0  # torn or unreadable lines skipped
        self._segs = []  # segment numbers, oldest first
        self._counts = {}  # segment number -> lines written
        self._sizes = {}  # segment number -> bytes
        self._sent = 0  # records of the oldest segment already delivered
        self._offset = 0  # byte offset of the next record in the oldest segment
        self._peeked = None  # (kind, payload, next_offset) of the record peek() returned
        self._next_n = 0  # number of the next segment file (names are never reused)
        self._dirty = False
        _makedirs(self.root)
        self._recover()

    # ------------------------------------------------------------------ state on flash ----

    def _seg_path(self, n):
        return "{}/s{:08d}".format(self.root, n)

    def _meta_path(self):
        return self.root + "/meta.json"

    def _recover(self):
        meta = persist.load(self._meta_path(), {}, self._events)
        segs = []
        for name in os.listdir(self.root):
            if len(name) == 9 and name[0] == "s" and name[1:].isdigit():
                segs.append(int(name[1:]))
        segs.sort()
        for n in segs:
            count = 0
            size = 0
            torn = False
            with open(self._seg_path(n), "rb") as f:
                for line in f:
                    if line and line[-1] == _NL:
                        count += 1
                        size += len(line)
                    else:
                        torn = True
            if torn:
                self._cut_torn_tail(n, size)
            self._counts[n] = count
            self._sizes[n] = size
        self._segs = segs
        self._next_n = max(int(meta.get("next", 0)), segs[-1] + 1 if segs else 0)
        self.dropped_total = int(meta.get("dropped", 0))
        if segs and meta.get("first") == segs[0]:
            self._sent = int(meta.get("sent", 0))
            self._offset = int(meta.get("offset", 0))

    def _cut_torn_tail(self, n, good_bytes):
        """A power cut tore the last line: keep only the whole lines (rewrite, then rename)."""
        self.corrupt += 1
        path = self._seg_path(n)
        tmp = path + ".tmp"
        with open(path, "rb") as src, open(tmp, "wb") as dst:
            left = good_bytes
            while left > 0:
                chunk = src.read(min(512, left))
                if not chunk:
                    break
                dst.write(chunk)
                left -= len(chunk)
        os.rename(tmp, path)

    def commit(self):
        """Persist the replay cursor and the drop count (call after a replay batch)."""
        if not self._dirty:
            return
        meta = {
            "first": self._segs[0] if self._segs else None,
            "sent": self._sent,
            "offset": self._offset,
            "dropped": self.dropped_total,
            "next": self._next_n,
        }
        persist.save(self._meta_path(), meta)
        self._dirty = False

    # ------------------------------------------------------------------------ writing ----

    def append(self, kind, payload):
        """Store one encoded record; return how many old records were dropped to make room."""
        char = _KIND_TO_CHAR.get(kind)
        if char is None:
            raise ValueError("outbox stores tele and event records, not " + str(kind))
        if type(payload) is str:
            payload = payload.encode("utf-8")
        if b"\n" in payload:
            raise ValueError("payload must be one line of JSON")
        dropped = 0
        if not self._segs or self._counts[self._segs[-1]] >= self.seg_records:
            if len(self._segs) >= self.max_segments:
                dropped += self._drop_oldest()
            n = self._next_n
            self._next_n += 1
            self._segs.append(n)
            self._counts[n] = 0
            self._sizes[n] = 0
        line_len = len(payload) + 2
        while len(self._segs) > 1 and self.size_bytes() + line_len > self.max_bytes:
            dropped += self._drop_oldest()
        n = self._segs[-1]
        with open(self._seg_path(n), "ab") as f:
            f.write(char.encode())
            f.write(payload)
            f.write(b"\n")
        self._counts[n] += 1
        self._sizes[n] += line_len
        if dropped:
            self.dropped_total += dropped
            self._dirty = True
            self.commit()
        return dropped

    def _drop_oldest(self):
        """Delete the oldest segment to make room; returns its undelivered records."""
        return max(self._forget_oldest(), 0)

    def _remove(self, n):
        try:
            os.remove(self._seg_path(n))
        except OSError:
            pass

    # ------------------------------------------------------------------------ reading ----

    def __len__(self):
        return self.depth()

    def depth(self):
        """Records waiting (written and not yet delivered)."""
        total = 0
        for n in self._segs:
            total += self._counts[n]
        return total - self._sent

    def size_bytes(self):
        total = 0
        for n in self._segs:
            total += self._sizes[n]
        return total

    def peek(self):
        """(kind, payload bytes) of the oldest waiting record, or None when empty."""
        while self._segs:
            if self._peeked is not None:
                return self._peeked[0], self._peeked[1]
            n = self._segs[0]
            line = b""
            if self._sent < self._counts[n]:
                with open(self._seg_path(n), "rb") as f:
                    f.seek(self._offset)
                    line = f.readline()
            if not line:
                self._finish_oldest()
                continue
            next_offset = self._offset + len(line)
            kind = _CHAR_TO_KIND.get(chr(line[0]))
            if kind is None or line[-1] != _NL:
                # A torn or foreign line: skip it (counted) and look at the next one.
                self.corrupt += 1
                self._advance(next_offset)
                continue
            self._peeked = (kind, bytes(line[1:-1]), next_offset)
            return kind, self._peeked[1]
        return None

    def pop(self):
        """Forget the record the last peek() returned: the broker has acknowledged it."""
        if self._peeked is None:
            raise ValueError("pop() without a peek()")
        self._advance(self._peeked[2])

    def _advance(self, next_offset):
        self._peeked = None
        self._sent += 1
        self._offset = next_offset
        self._dirty = True
        n = self._segs[0]
        if self._sent >= self._counts[n]:
            self._finish_oldest()

    def _finish_oldest(self):
        """The oldest segment is fully delivered: delete it (the newest one too, when done)."""
        self._forget_oldest()

    def _forget_oldest(self):
        """Delete the oldest segment file; returns how many of its records were not sent."""
        n = self._segs.pop(0)
        left = self._counts.pop(n) - self._sent
        self._sizes.pop(n)
        self._remove(n)
        self._sent = 0
        self._offset = 0
        self._peeked = None
        self._dirty = True
        return left

    def stats(self):
        return {
            "depth": self.depth(),
            "bytes": self.size_bytes(),
            "segments": len(self._segs),
            "dropped_total": self.dropped_total,
            "corrupt": self.corrupt,
        }
