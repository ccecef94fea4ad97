"""Modbus RTU master and household valve polling, on CPython and the MicroPython unix port.

A scripted RS-485 bus (`FakeBus`) on the manual clock plays the slaves: it answers after a
latency, or stays dead, corrupts the CRC, answers from the wrong address, babbles, or returns
an exception. The same master is checked against pymodbus on a pseudo-terminal in
tests/edge_link/test_modbus_pymodbus.py.
"""

import json
import struct

from mpcheck import raises, repo_path

from edge import device_profile, modbus
from edge import household_valves as hv
from edge.clock import ManualClock


class Pin:
    def __init__(self, clock):
        self.clock = clock
        self.level = 0
        self.changes = []

    def value(self, v):
        self.level = v
        self.changes.append((self.clock.now_ms, v))


class FakeBus:
    """Slaves behind a UART; `faults[addr]` = "dead" | "crc" | "wrong_addr" | "babble"."""

    def __init__(self, clock, pin=None, latency_ms=3):
        self.clock = clock
        self.pin = pin
        self.latency_ms = latency_ms
        self.regs = {}  # addr -> {(fc_table, reg): value}
        self.faults = {}
        self.rx = bytearray()
        self.ready_ms = 0
        self.requests = []
        self.de_during_write = []

    def set(self, addr, table, reg, value):
        self.regs.setdefault(addr, {})[(table, reg)] = value

    def any(self):
        if self.faults.get("bus") == "babble":
            self.rx += b"\x55"
            self.ready_ms = 0
        if self.rx and self.clock.now_ms >= self.ready_ms:
            return len(self.rx)
        return 0

    def read(self, n):
        out = bytes(self.rx[:n])
        self.rx = self.rx[n:]
        return out

    def write(self, data):
        data = bytes(data)
        self.de_during_write.append(self.pin.level if self.pin else None)
        self.requests.append(data)
        if modbus.crc16(data) != 0:  # a frame with its CRC appended has CRC 0
            return
        addr = data[0]
        fault = self.faults.get(addr)
        if addr not in self.regs or fault == "dead":
            return
        reply = self.answer(addr, data[1:-2])
        if fault == "crc":
            reply[-1] ^= 0xFF
        elif fault == "wrong_addr":
            reply[0] = (addr % 247) + 1
            crc = modbus.crc16(reply, len(reply) - 2)
            reply[-2], reply[-1] = crc & 0xFF, crc >> 8
        self.rx += reply
        self.ready_ms = self.clock.now_ms + self.latency_ms

    def answer(self, addr, pdu):
        fc = pdu[0]
        regs = self.regs[addr]
        start = (pdu[1] << 8) | pdu[2]
        if fc in (3, 4):
            count = (pdu[3] << 8) | pdu[4]
            table = "h" if fc == 3 else "i"
            body = bytearray((fc, 2 * count))
            for r in range(start, start + count):
                if (table, r) not in regs:
                    return modbus.frame(addr, bytes((fc | 0x80, 2)))
                v = regs[(table, r)]
                body += bytes((v >> 8, v & 0xFF))
            return modbus.frame(addr, body)
        if fc == 6:
            regs[("h", start)] = (pdu[3] << 8) | pdu[4]
            return modbus.frame(addr, pdu)
        if fc == 16:
            n = pdu[4]
            for i in range(n):
                regs[("h", start + i)] = (pdu[6 + 2 * i] << 8) | pdu[7 + 2 * i]
            return modbus.frame(addr, pdu[:5])
        return modbus.frame(addr, bytes((fc | 0x80, 1)))


def rig(baud=9600, **kw):
    clock = ManualClock()
    pin = Pin(clock)
    bus = FakeBus(clock, pin)
    master = modbus.RTUMaster(bus, clock, baud=baud, de_pin=pin, **kw)
    return clock, bus, master, pin


def test_crc_matches_the_specification_example():
    # Modbus over serial line, 6.2.2: read 10 holding registers from slave 1.
    assert bytes(modbus.frame(1, b"\x03\x00\x00\x00\x0a")) == b"\x01\x03\x00\x00\x00\x0a\xc5\xcd"
    assert modbus.crc16(b"\x01\x03\x00\x00\x00\x0a\xc5\xcd") == 0


def test_silence_and_character_times_follow_the_baud_rate():
    assert rig(9600)[2].t35_ms == 5  # 3.5 x 1.146 ms = 4.01 ms, rounded up
    assert rig(19200)[2].t35_ms == 3  # 2.005 ms
    assert rig(115200)[2].t35_ms == 2  # fixed 1.75 ms above 19200 baud


def test_read_write_and_direction_pin_turnaround():
    clock, bus, master, pin = rig()
    bus.set(5, "i", 0, 412)
    bus.set(5, "i", 1, 0xFFFF)
    bus.set(5, "h", 0, 0)
    assert master.read_registers(5, 4, 0, 2) == [412, 0xFFFF]
    master.write_register(5, 0, 555)
    assert bus.regs[5][("h", 0)] == 555
    master.write_registers(5, 0, [7, 8])
    assert bus.regs[5][("h", 1)] == 8
    assert bus.de_during_write == [1, 1, 1]  # transmitting while the request goes out
    assert pin.level == 0  # and back to receive for the reply
    levels = [v for _t, v in pin.changes]
    assert levels == [0, 1, 0, 1, 0, 1, 0]


def test_requests_are_separated_by_3_5_characters_of_silence():
    clock, bus, master, _pin = rig()
    bus.set(1, "i", 0, 1)
    stamps = []
    for _ in range(3):
        master.read_registers(1, 4, 0, 1)
        stamps.append(clock.now_ms)
    # Each transaction: wait >= t3.5 after the last reply byte, send, latency, reply, t3.5.
    for a, b in zip(stamps, stamps[1:]):  # noqa: B905 - zip has no strict= on MicroPython
        assert b - a >= master.t35_ms * 2


def test_exception_reply_is_reported_and_not_retried():
    clock, bus, master, _pin = rig(retries=2)
    bus.set(2, "i", 0, 1)
    exc = raises(modbus.SlaveException, master.read_registers, 2, 4, 40, 1)
    assert exc.code == 2
    assert len(bus.requests) == 1


def test_crc_error_is_retried_then_raised():
    clock, bus, master, _pin = rig(retries=2)
    bus.set(3, "i", 0, 1)
    bus.faults[3] = "crc"
    raises(modbus.CRCError, master.read_registers, 3, 4, 0, 1)
    assert len(bus.requests) == 3 and master.stats["crc_errors"] == 3


def test_wrong_address_reply_is_refused():
    clock, bus, master, _pin = rig(retries=0)
    bus.set(4, "i", 0, 1)
    bus.faults[4] = "wrong_addr"
    raises(modbus.WrongAddress, master.read_registers, 4, 4, 0, 1)


def test_dead_slave_times_out_within_the_bound():
    clock, bus, master, _pin = rig(timeout_ms=100, retries=1)
    t0 = clock.now_ms
    raises(modbus.Timeout, master.read_registers, 9, 4, 0, 1)
    spent = clock.now_ms - t0
    assert 200 <= spent <= 2 * (100 + 5 + 20), spent


def test_babbling_bus_is_detected_not_waited_on_forever():
    clock, bus, master, _pin = rig(babble_ms=50)
    bus.faults["bus"] = "babble"
    t0 = clock.now_ms
    raises(modbus.BusBabble, master.read_registers, 1, 4, 0, 1)
    assert clock.now_ms - t0 <= 60
    assert master.stats["babble_bytes"] > 0


def profiles():
    out = {}
    for name in ("generic", "float-cdab", "permille-swapped"):
        with open(repo_path("boards/profiles/{}.json".format(name))) as f:
            out[name] = device_profile.Profile(json.load(f))
    return out


def test_profiles_decode_scaling_byte_and_word_order():
    prof = profiles()
    g = prof["generic"]
    assert g.decode("t_return_c", [0xFE70]) == -40.0  # int16 -400 in tenths
    assert g.decode("t_return_c", [0x8000]) is None  # the invalid marker
    assert g.encode("opening_cmd_pct", 45.5) == [455]
    f = prof["float-cdab"]
    words_abcd = [
        (w[0] << 8) | w[1] for w in (struct.pack(">f", 41.25)[0:2], struct.pack(">f", 41.25)[2:4])
    ]
    assert f.decode("t_return_c", [words_abcd[1], words_abcd[0]]) == 41.25  # low word first
    assert f.encode("opening_cmd_pct", 41.25) == [words_abcd[1], words_abcd[0]]
    assert f.points["t_return_c"]["reg"] == 100  # register 101 counted from 1
    assert f.blocks == [[3, 100, 4, ["t_return_c", "opening_meas_pct"]]]  # one read
    s = prof["permille-swapped"]
    raw = int((38.5 - 50) / 0.01) & 0xFFFF
    swapped = ((raw & 0xFF) << 8) | (raw >> 8)
    assert abs(s.decode("t_return_c", [swapped]) - 38.5) < 1e-9
    assert s.encode("opening_cmd_pct", 12.3) == [((123 & 0xFF) << 8) | (123 >> 8)]


def test_broken_profiles_are_refused_naming_the_field():
    base = {
        "profile": "x",
        "points": {
            "t_return_c": {"fc": 4, "register": 0, "type": "int16"},
            "opening_meas_pct": {"fc": 4, "register": 1},
            "opening_cmd_pct": {"fc": 6, "register": 0},
        },
    }
    doc = json.loads(json.dumps(base))
    doc["points"]["t_return_c"]["type"] = "int12"
    assert "points.t_return_c.type" in str(raises(ValueError, device_profile.Profile, doc))
    doc = json.loads(json.dumps(base))
    doc["points"]["opening_cmd_pct"] = {"fc": 6, "register": 0, "type": "float32"}
    assert "function 16" in str(raises(ValueError, device_profile.Profile, doc))
    doc = json.loads(json.dumps(base))
    del doc["points"]["opening_meas_pct"]
    assert "opening_meas_pct" in str(raises(ValueError, device_profile.Profile, doc))
    doc = json.loads(json.dumps(base))
    doc["word_order"] = "middle"
    assert "word_order" in str(raises(ValueError, device_profile.Profile, doc))


def household_rig():
    clock, bus, master, _pin = rig(timeout_ms=100, retries=1)
    prof = profiles()
    for addr in (1, 2, 3):
        bus.set(addr, "i", 0, 400 + addr)
        bus.set(addr, "i", 1, 500)
        bus.set(addr, "h", 0, 0)
    events = []
    valves = hv.build(
        master,
        clock,
        [
            {"id": "hh1", "addr": 1, "profile": "generic"},
            {"id": "hh2", "addr": 2, "profile": "generic"},
            {"id": "hh3", "addr": 3},
        ],
        prof,
        emit=lambda *a: events.append(a),
        dead_after=3,
        probe_ms=60000,
    )
    return clock, bus, valves, events


def test_household_valves_are_read_and_commanded():
    clock, bus, valves, events = household_rig()
    valves.command("hh2", 37.5)
    assert valves.poll(budget_ms=1000) == 3
    assert valves.by_id["hh1"].t_return_c == 40.1
    assert valves.by_id["hh3"].opening_meas_pct == 50.0
    assert bus.regs[2][("h", 0)] == 375
    writes = len(bus.requests)
    valves.poll(budget_ms=1000)
    assert len(bus.requests) == writes + 3  # the unchanged command is not written again
    assert all(r["ok"] for r in valves.report()) and events == []


def test_dead_slave_is_isolated_reported_probed_and_readmitted():
    clock, bus, valves, events = household_rig()
    bus.faults[2] = "dead"
    for _ in range(3):
        valves.poll(budget_ms=1000)
    hh2 = valves.by_id["hh2"]
    assert hh2.isolated and hh2.t_return_c is None
    assert events[-1][:4] == ("modbus_dead", "alarm", "hh2", 2)
    # Isolated: the others are polled at full pace and the dead one costs nothing.
    t0 = clock.now_ms
    for _ in range(10):
        valves.poll(budget_ms=1000)
    per_pass = (clock.now_ms - t0) / 10
    assert per_pass < 2 * 30, per_pass  # two live valves, a few ms each
    assert valves.by_id["hh1"].ok() and valves.by_id["hh3"].ok()
    bus.faults.pop(2)
    clock.advance(60000)
    valves.poll(budget_ms=1000)
    assert not hh2.isolated and hh2.t_return_c == 40.2
    assert events[-1][:3] == ("modbus_ok", "info", "hh2")


def test_poll_respects_its_time_budget_with_every_slave_dead():
    clock, bus, valves, events = household_rig()
    for addr in (1, 2, 3):
        bus.faults[addr] = "dead"
    t0 = clock.now_ms
    visited = valves.poll(budget_ms=150)
    # One transaction may overrun the budget, never the whole bus: 2 x (100 ms + t3.5 ...).
    assert visited == 1 and clock.now_ms - t0 <= 150 + 2 * 120
