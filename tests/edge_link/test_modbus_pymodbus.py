"""The board's Modbus RTU master (edge/modbus.py, edge/household_valves.py) against pymodbus.

pymodbus plays the household valves on a pseudo-terminal (modbus_pty.py): its framer checks
the board's requests and CRCs and encodes the replies, its simulator datastore holds the
registers. Register contents are written here from the vendors' documented layouts with
struct, independently of the board's profile code. Real time, 9600 baud timing.
"""

from __future__ import annotations

import json
import struct
import time

import pytest

from edge import device_profile, hal, modbus
from edge import household_valves as hv
from tests.boardcheck import ROOT
from tests.edge_link.modbus_pty import PymodbusBus, RealClock, device

PROFILES = device_profile.load_profiles(str(ROOT / "boards" / "profiles"))


def words(fmt: str, value, swap_words=False, swap_bytes=False) -> list[int]:
    raw = struct.pack(fmt, value)
    if swap_bytes:
        raw = b"".join(raw[i + 1 : i + 2] + raw[i : i + 1] for i in range(0, len(raw), 2))
    regs = [struct.unpack(">H", raw[i : i + 2])[0] for i in range(0, len(raw), 2)]
    return regs[::-1] if swap_words else regs


def valve_slaves():
    """Slave 1: generic; 2: float-cdab; 3: permille-swapped; (4: nobody)."""
    generic = device(1, holding={0: 0}, inputs={0: 412, 1: 655})  # 41.2 degC, 65.5 %
    t2, o2 = words(">f", 39.75, swap_words=True), words(">f", 22.5, swap_words=True)
    cdab = device(
        2, holding={100: t2[0], 101: t2[1], 102: o2[0], 103: o2[1], 200: 0, 201: 0}, inputs={}
    )
    t3 = words(">h", round((38.5 - 50) / 0.01), swap_bytes=True)[0]
    o3 = words(">H", 875, swap_bytes=True)[0]
    swapped = device(3, holding={16: t3, 17: o3, 32: 0}, inputs={})
    return [generic, cdab, swapped]


@pytest.fixture
def bus():
    b = PymodbusBus(valve_slaves())
    yield b
    b.close()


def master_on(bus, **kw):
    return modbus.RTUMaster(bus.port, RealClock(), baud=9600, **kw)


def household(bus, emit=None):
    devices = [
        {"id": "hh1", "addr": 1, "profile": "generic"},
        {"id": "hh2", "addr": 2, "profile": "float-cdab"},
        {"id": "hh3", "addr": 3, "profile": "permille-swapped"},
        {"id": "hh4", "addr": 4, "profile": "generic"},
    ]  # not on the bus
    return hv.build(
        master_on(bus, timeout_ms=100),
        RealClock(),
        devices,
        PROFILES,
        emit=emit,
        dead_after=2,
        probe_ms=60_000,
    )


def test_pymodbus_accepts_requests_and_replies_decode(bus):
    m = master_on(bus)
    assert m.read_registers(1, 4, 0, 2) == [412, 655]
    m.write_register(1, 0, 377)
    assert bus.registers(1, 3, 0, 1) == [377]
    m.write_registers(2, 200, [0x1234, 0xABCD])
    assert bus.registers(2, 3, 200, 2) == [0x1234, 0xABCD]
    exc = pytest.raises(modbus.SlaveException, m.read_registers, 1, 4, 500, 2)
    assert exc.value.code == 2  # pymodbus: illegal data address
    assert m.stats["crc_errors"] == 0 and m.stats["timeouts"] == 0


def test_three_vendor_profiles_and_a_dead_slave(bus):
    events = []
    valves = household(bus, emit=lambda *a: events.append(a))
    valves.command("hh1", 33.3)
    valves.command("hh2", 71.25)
    valves.command("hh3", 12.3)
    timings = []
    for _ in range(3):
        t0 = time.monotonic()
        valves.poll(budget_ms=2000)
        timings.append(time.monotonic() - t0)
    r = {v["id"]: v for v in valves.report()}
    assert r["hh1"]["t_return_c"] == pytest.approx(41.2)
    assert r["hh1"]["opening_meas_pct"] == pytest.approx(65.5)
    assert r["hh2"]["t_return_c"] == 39.75 and r["hh2"]["opening_meas_pct"] == 22.5
    assert r["hh3"]["t_return_c"] == pytest.approx(38.5)
    assert r["hh3"]["opening_meas_pct"] == pytest.approx(87.5)
    # What pymodbus holds after the board's writes, decoded by the vendors' layouts.
    assert bus.registers(1, 3, 0, 1) == [333]
    cdab = bus.registers(2, 3, 200, 2)
    assert struct.unpack(">f", struct.pack(">HH", cdab[1], cdab[0]))[0] == 71.25
    sw = bus.registers(3, 3, 32, 1)[0]
    assert ((sw & 0xFF) << 8 | sw >> 8) == 123
    # The dead slave: isolated after two failed polls, reported, then skipped.
    assert r["hh4"]["isolated"] and r["hh4"]["t_return_c"] is None
    assert [e[0] for e in events] == ["modbus_dead"] and events[0][2] == "hh4"
    assert all(r[k]["ok"] for k in ("hh1", "hh2", "hh3"))
    t0 = time.monotonic()
    valves.poll(budget_ms=2000)
    isolated_pass_s = time.monotonic() - t0
    assert isolated_pass_s < timings[0], (isolated_pass_s, timings)  # no timeout any more
    assert isolated_pass_s < 0.5  # three live valves at 9600 baud timing, no timeout


def test_crc_errors_are_detected_retried_and_isolate_the_slave(bus):
    bus.faults[2] = "crc"
    events = []
    valves = household(bus, emit=lambda *a: events.append(a))
    valves.poll(budget_ms=2000)
    valves.poll(budget_ms=2000)
    assert valves.master.stats["crc_errors"] >= 4  # two polls, each retried once
    assert valves.by_id["hh2"].isolated and "CRCError" in valves.by_id["hh2"].last_error
    assert valves.by_id["hh1"].ok() and valves.by_id["hh3"].ok()
    bus.faults.pop(2)
    valves.by_id["hh2"].next_probe_ms = 0  # the probe is due
    valves.poll(budget_ms=2000)
    assert valves.by_id["hh2"].ok() and events[-1][0] == "modbus_ok"


def test_wrong_address_reply_is_refused(bus):
    bus.faults[1] = "wrong_addr"
    m = master_on(bus, retries=0)
    exc = pytest.raises(modbus.WrongAddress, m.read_registers, 1, 4, 0, 2)
    assert "from 2" in str(exc.value)
    assert m.read_registers(3, 3, 16, 2)  # the bus is fine for the others


def test_babbling_bus_is_reported_and_polling_resumes(bus):
    valves = household(bus)
    bus.faults["bus"] = "babble"
    time.sleep(0.02)
    t0 = time.monotonic()
    visited = valves.poll(budget_ms=300)
    spent = time.monotonic() - t0
    # Bounded although the bus never went quiet: the budget plus one babble wait (50 ms),
    # with room for a loaded machine; a master that waited for silence would never return.
    assert spent < 0.3 + 0.05 + 0.5, spent
    assert valves.master.stats["babble_bytes"] > 0
    assert any("BusBabble" in v.last_error for v in valves.valves[:visited])
    bus.faults.pop("bus")
    time.sleep(0.1)
    for _ in range(3):  # the junk already in the pty is read away within a poll or two
        for v in valves.valves:
            v.failures = 0
            v.isolated = False
        valves.poll(budget_ms=2000)
        if valves.by_id["hh1"].ok():
            break
    assert valves.by_id["hh1"].ok() and valves.by_id["hh3"].t_return_c == pytest.approx(38.5)


def test_profiles_folder_is_valid_and_documented():
    names = sorted(PROFILES)
    assert {"generic", "float-cdab", "permille-swapped"} <= set(names)
    readme = (ROOT / "boards" / "profiles" / "README.md").read_text()
    for path in (ROOT / "boards" / "profiles").glob("*.json"):
        doc = json.loads(path.read_text())
        assert doc["profile"] == path.stem
        assert doc["profile"] in readme


def test_pi_loop_drives_rs485_valves_on_pymodbus_to_their_targets(tmp_path):
    """The board's PI loops (edge.app) over two household valves that are pymodbus slaves.

    Each slave positions itself: a simulated valve (edge.simhw.SimValve) runs towards the
    opening the board wrote into pymodbus's holding register 0, and a first-order-plus-delay
    plant (edge.simhw.SimEntrance) turns that opening into the return temperature pymodbus
    serves from input register 0 (generic profile). Board time is simulated; the bus is real
    (38400 baud timing on a pty). The third address has no slave: isolated, frozen, reported.
    """
    from edge import boarddef, simhw
    from edge.app import App
    from edge.clock import ManualClock
    from shared import protocol

    spec = simhw.sim_board_def(1)
    spec["rs485"] = {
        "uart": 1,
        "tx": 1,
        "rx": 2,
        "baud": 38400,
        "period_ms": 20000,
        "stale_ms": 60000,
        "dead_after": 2,
        "probe_ms": 600000,
        "valves": [
            {"id": "f5-east", "addr": 1},
            {"id": "f5-west", "addr": 2},
            {"id": "f6-east", "addr": 3},
        ],
    }
    spec["targets"] = {
        "entrance": {"t_return_c": 41.0},
        "f5-east": {"t_return_c": 38.0},
        "f5-west": {"t_return_c": 44.0},
    }
    board = boarddef.validate(spec)
    sb = simhw.SimBoard(board, ua=[0.4], fs_root=str(tmp_path) + "/", tau_s=300, delay_s=60)
    clock: ManualClock = sb.clock
    valves = [simhw.SimValve(stroke_s=30.0, start_pct=50.0) for _ in range(2)]
    plant = simhw.SimEntrance(valves, [0.4, 0.35], tau_s=300, delay_s=60)
    bus = PymodbusBus(
        [device(a, holding={0: 500}, inputs={0: 0, 1: 0}) for a in (1, 2)],
        baud=38400,
        latency_ms=1.0,
    )
    try:

        def publish():
            for i, addr in enumerate((1, 2)):
                bus.set_registers(
                    addr, 4, 0, [round(plant.t_return_c[i] * 10), round(valves[i].pos_pct * 10)]
                )

        publish()
        rs = board["rs485"]
        master = modbus.RTUMaster(bus.port, RealClock(), baud=38400, timeout_ms=60)
        household = hv.build(
            master,
            clock,
            rs["valves"],
            PROFILES,
            dead_after=rs["dead_after"],
            probe_ms=rs["probe_ms"],
            stale_ms=rs["stale_ms"],
        )
        app = App(board, sb.hw, household=household)
        ok, _ = app.apply_config(
            {
                "control_period_s": 120,
                "kp_pct_per_c": 5.0,
                "ti_s": 900.0,
                "collection_period_s": 60,
            }
        )
        assert ok
        start = [plant.t_return_c[0] - 38.0, plant.t_return_c[1] - 44.0]
        assert abs(start[0]) > 1.0 and abs(start[1]) > 1.0, start

        cmds = [50.0, 50.0]

        def run(ms):
            end = clock.now_ms + ms
            while clock.now_ms < end:
                wait = app.poll()
                dt = max(1, min(wait, 1000, end - clock.now_ms))
                rs485_due = app.scheduler.get("rs485").due_ms <= clock.now_ms + dt
                if rs485_due:  # what the board wrote (read only when it can have changed)
                    cmds[:] = [bus.registers(a, 3, 0, 1)[0] / 10.0 for a in (1, 2)]
                for v, cmd in zip(valves, cmds, strict=True):  # each valve's own positioner
                    err = cmd - v.pos_pct
                    v.direction = (
                        hal.STOP if abs(err) <= 0.3 else (hal.OPEN if err > 0 else hal.CLOSE)
                    )
                sb.plant.advance(dt)
                plant.advance(dt)
                clock.advance(dt)
                if rs485_due:
                    publish()

        t0 = time.monotonic()
        run(90 * 60 * 1000)
        worst = 0.0
        for _ in range(4):
            run(5 * 60 * 1000)
            worst = max(worst, abs(plant.t_return_c[0] - 38.0), abs(plant.t_return_c[1] - 44.0))
        real_s = time.monotonic() - t0
        assert worst <= app.config["precision_c"], (worst, list(plant.t_return_c))
        rec = app.telemetry()
        protocol.validate(protocol.TELE, dict(rec, v=protocol.SCHEMA_VERSION))
        tele = {v["id"]: v for v in rec["valves"]}
        for i, vid in enumerate(("f5-east", "f5-west")):
            assert tele[vid]["mode"] in ("auto", "hold") and tele[vid]["valve_ok"]
            assert tele[vid]["opening_meas_pct"] == pytest.approx(valves[i].pos_pct, abs=0.1)
            assert tele[vid]["t_return_c"] == pytest.approx(plant.t_return_c[i], abs=0.3)
            assert bus.registers(i + 1, 3, 0, 1)[0] == round(tele[vid]["opening_cmd_pct"] * 10)
        assert tele["f5-east"]["opening_cmd_pct"] < 50.0 < tele["f5-west"]["opening_cmd_pct"]
        assert tele["f6-east"]["mode"] == "frozen" and tele["f6-east"]["valve_ok"] is False
        assert "modbus_dead" in app.events.names()
        print(f"closed loop over pymodbus: 110 min board time in {real_s:.1f} s real")
    finally:
        bus.close()


def room_slaves():
    """Slaves 1: a generic household valve; 21: room-panel (21.5 degC); 22: room-float-cdab
    (19.25 degC, battery 64 %); 23: room-panel whose sensor has no reading."""
    valve = device(1, holding={0: 0}, inputs={0: 412, 1: 655})
    t22 = words(">f", 19.25, swap_words=True)
    return [
        valve,
        device(21, holding={}, inputs={0: 215}),
        device(22, holding={256: t22[0], 257: t22[1], 258: 64}, inputs={}),
        device(23, holding={}, inputs={0: words(">h", -32768)[0]}),
    ]


def test_room_panels_on_pymodbus_one_silent_then_back(tmp_path):
    """Room panels beside a household valve on one pymodbus bus: every device polled in one
    budget, the panels decoded from the vendors' layouts, nothing ever written to a panel; a
    panel that falls silent is isolated and frozen (held, then no reading once stale), and
    readmitted when it answers again."""
    bus = PymodbusBus(room_slaves())
    try:
        events = []
        poller = hv.build(
            master_on(bus, timeout_ms=100),
            RealClock(),
            [{"id": "hh1", "addr": 1, "profile": "generic"}],
            PROFILES,
            emit=lambda *a: events.append(a),
            rooms=[
                {"id": "f6-east", "addr": 21, "profile": "room-panel"},
                {"id": "f6-west", "addr": 22, "profile": "room-float-cdab"},
                {"id": "f7-east", "addr": 23, "profile": "room-panel"},
            ],
            dead_after=2,
            probe_ms=60_000,
            stale_ms=1500,
        )
        assert poller.poll(budget_ms=2000) == 4
        assert poller.master.stats["timeouts"] == 0  # four live devices: nothing waited out
        rooms = {r["id"]: r for r in poller.report_rooms()}
        assert rooms["f6-east"]["t_room_c"] == pytest.approx(21.5)
        assert rooms["f6-west"]["t_room_c"] == 19.25 and rooms["f6-west"]["battery_pct"] == 64
        assert rooms["f7-east"]["t_room_c"] is None and rooms["f7-east"]["ok"]
        assert poller.by_id["hh1"].t_return_c == pytest.approx(41.2)
        assert not [r for r in bus.requests if r[0] in (21, 22, 23) and r[1] in (6, 16)]
        # f6-west falls silent: isolated after two polls, its reading held until stale.
        bus.faults[22] = "dead"
        poller.poll(budget_ms=2000)
        poller.poll(budget_ms=2000)
        west = poller.rooms_by_id["f6-west"]
        assert west.isolated and "Timeout" in west.last_error
        assert events[-1][0] == "modbus_dead" and events[-1][2] is None
        assert events[-1][3] == 22 and events[-1][4].startswith("room f6-west: ")
        probe = hv.RemoteRoomProbe(poller, "f6-west")
        if poller.room_fresh(west):  # held while younger than stale_ms
            assert probe.read() == 19.25
        time.sleep(1.6)
        assert not poller.room_fresh(west)
        probe.read()
        assert probe.fault == hal.F_STALE
        waited = poller.master.stats["timeouts"]
        poller.poll(budget_ms=2000)
        assert poller.master.stats["timeouts"] == waited  # the isolated panel costs no timeout
        assert poller.rooms_by_id["f6-east"].ok() and poller.by_id["hh1"].ok()
        # Back: probed, readmitted, fresh again.
        bus.faults.pop(22)
        west.next_probe_ms = 0  # the probe is due
        poller.poll(budget_ms=2000)
        assert west.ok() and poller.room_fresh(west) and events[-1][0] == "modbus_ok"
        assert probe.read() == 19.25
    finally:
        bus.close()


def test_broken_room_profile_and_a_panel_with_a_valve_profile_are_refused(tmp_path):
    folder = tmp_path / "profiles"
    folder.mkdir()
    good = json.loads((ROOT / "boards" / "profiles" / "room-panel.json").read_text())
    (folder / "room-panel.json").write_text(json.dumps(good))
    broken = dict(good, profile="room-broken")
    broken["points"] = dict(good["points"], opening_cmd_pct={"fc": 6, "register": 1})
    (folder / "room-broken.json").write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=r"profile room-broken: points\.opening_cmd_pct"):
        device_profile.load_profiles(str(folder))
    bus = PymodbusBus(room_slaves())
    try:
        with pytest.raises(hv.BusError) as err:
            hv.build(
                master_on(bus),
                RealClock(),
                [],
                PROFILES,
                rooms=[{"id": "f6-east", "addr": 21, "profile": "generic"}],
            )
        assert err.value.field == "rs485.rooms[0]" and "describes a valve" in str(err.value)
        assert bus.requests == []  # refused before anything went on the wire
    finally:
        bus.close()


def test_board_with_room_panels_on_pymodbus_reports_them(tmp_path):
    """The board program (edge.app) with a room panel on pymodbus: rooms in its record."""
    from edge import boarddef, simhw
    from edge.app import App
    from shared import protocol

    spec = simhw.sim_board_def(1)
    spec["rs485"] = {
        "uart": 1,
        "tx": 1,
        "rx": 2,
        "period_ms": 5000,
        "stale_ms": 30000,
        "rooms": [
            {"id": "f6-east", "addr": 21},
            {"id": "f6-west", "addr": 22, "profile": "room-float-cdab"},
        ],
    }
    board = boarddef.validate(spec)
    sb = simhw.SimBoard(board, ua=[0.4], fs_root=str(tmp_path) + "/")
    bus = PymodbusBus(room_slaves())
    try:
        rs = board["rs485"]
        household = hv.build(
            master_on(bus, timeout_ms=100),
            sb.clock,
            rs["valves"],
            PROFILES,
            rooms=rs["rooms"],
            stale_ms=rs["stale_ms"],
        )
        app = App(board, sb.hw, household=household)
        sb.run(app, 60_000)
        rec = app.telemetry()
        protocol.encode(protocol.TELE, rec)
        rooms = {r["sensor"]: r for r in rec["rooms"]}
        assert rooms["f6-east"] == {"sensor": "f6-east", "t_room_c": 21.5, "sensor_ok": True}
        assert rooms["f6-west"]["t_room_c"] == 19.25 and rooms["f6-west"]["battery_pct"] == 64
        assert rec["valves"][0]["id"] == "entrance"
    finally:
        bus.close()
