"""Atomic state files, corrupt files at boot, and the crash counter (dual-runtime)."""

import os

from edgecheck import tmpdir

from edge import persist
from edge.clock import ManualClock
from edge.events import EventLog
from edge.safemode import BootCounter


def _files(folder):
    return sorted(os.listdir(folder.rstrip("/")))


def test_round_trip_and_no_temporary_left_behind():
    d = tmpdir()
    data = {"ids": ["a", "b"], "integral": [1.5, -2.25], "note": None}
    persist.save(d + "s.json", data)
    persist.save(d + "s.json", data)  # replacing an existing file
    assert persist.load(d + "s.json", {}) == data
    assert _files(d) == ["s.json"]


def test_missing_file_gives_defaults_without_event():
    d = tmpdir()
    events = EventLog(ManualClock())
    assert persist.load(d + "none.json", {"x": 1}, events) == {"x": 1}
    assert len(events) == 0


def test_truncated_file_falls_back_to_defaults_with_event():
    d = tmpdir()
    persist.save(d + "s.json", {"x": 2, "long": "y" * 50})
    with open(d + "s.json") as f:
        text = f.read()
    for cut in (0, 5, len(text) // 2, len(text) - 1):
        with open(d + "s.json", "w") as f:
            f.write(text[:cut])
        events = EventLog(ManualClock())
        assert persist.load(d + "s.json", {"x": 1}, events) == {"x": 1}
        assert events.names() == ["state_corrupt"]
        assert "s.json.bad" in _files(d) and "s.json" not in _files(d)


def test_flipped_character_is_caught_by_the_checksum():
    d = tmpdir()
    persist.save(d + "s.json", {"integral": [10.5, 20.5]})
    with open(d + "s.json") as f:
        text = f.read()
    with open(d + "s.json", "w") as f:
        f.write(text.replace("20.5", "29.5"))
    events = EventLog(ManualClock())
    assert persist.load(d + "s.json", {}, events) == {}
    assert "checksum" in events.peek()[0]["detail"]


def test_interrupted_write_keeps_the_old_file():
    d = tmpdir()
    persist.save(d + "s.json", {"x": 1})
    with open(d + "s.json.tmp", "w") as f:  # power cut before the rename
        f.write('{"crc": 12')
    assert persist.load(d + "s.json", {}) == {"x": 1}
    assert _files(d) == ["s.json"]


def test_wrong_type_is_corrupt():
    d = tmpdir()
    persist.save(d + "s.json", [1, 2])
    events = EventLog(ManualClock())
    assert persist.load(d + "s.json", {"x": 0}, events) == {"x": 0}
    assert events.names() == ["state_corrupt"]


def test_crash_loop_enters_safe_mode_and_power_on_or_stable_run_clears_it():
    d = tmpdir()
    events = EventLog(ManualClock())
    path = d + "boot.json"
    assert not BootCounter(path, events).boot("power_on")
    assert not BootCounter(path, events).boot("hard")  # crash 1
    assert not BootCounter(path, events).boot("watchdog")  # crash 2
    c = BootCounter(path, events)
    assert c.boot("soft") and c.crashes == 3 and c.safe_mode
    assert "safe_mode" in events.names()
    c.stable()
    assert not BootCounter(path, events).boot("soft")
    for _ in range(3):
        BootCounter(path, events).boot("hard")
    assert not BootCounter(path, events).boot("power_on")


def test_corrupt_boot_counter_is_survived():
    d = tmpdir()
    with open(d + "boot.json", "w") as f:
        f.write("garbage")
    events = EventLog(ManualClock())
    c = BootCounter(d + "boot.json", events)
    assert not c.boot("hard")
    assert events.names()[0] == "state_corrupt"
