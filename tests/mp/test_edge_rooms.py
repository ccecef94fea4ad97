"""Room temperature sensors on the entrance board (edge.boarddef, edge.household_valves,
edge.app), on CPython and the MicroPython unix port.

Room probes wired to the board are simulated sensors (edge.simhw, type "sim"); room panels
on the RS-485 bus are scripted Modbus slaves (test_modbus_master's `FakeBus`) with the
room-panel and room-float-cdab profiles, next to household valves (generic profile). The
same panels are played by pymodbus in tests/edge_link/test_modbus_pymodbus.py.
"""

import json
import struct

from edgecheck import new_app, sim_entrance, tmpdir
from linkfakes import FakeBroker, FakeClient, SeqRand, rmtree, scratch_dir
from mpcheck import raises, repo_path
from test_modbus_master import FakeBus

from edge import app as appmod
from edge import boarddef, device_profile, hal, modbus, simhw
from edge import household_valves as hv
from edge.app import App
from edge.connected import ConnectedBoard
from shared import protocol

MIN_MS = 60000


def profiles():
    out = {}
    for name in ("generic", "room-panel", "room-float-cdab"):
        with open(repo_path("boards/profiles/{}.json".format(name))) as f:
            out[name] = device_profile.Profile(json.load(f))
    return out


def cdab(value):
    """float32 value as the two registers of a CDAB device (low word first)."""
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [lo, hi]


# ------------------------------------------------------------------ board definition ----


def _spec(n_rooms=2):
    spec = simhw.sim_board_def(2, n_rooms=n_rooms)
    spec["sensors"]["t_out"] = {"type": "sim"}
    spec["entrance"]["t_outdoor"] = "t_out"
    spec["rs485"] = {
        "uart": 1,
        "tx": 1,
        "rx": 2,
        "valves": [{"id": "f5-east", "addr": 5}],
        "rooms": [
            {"id": "f6-east", "addr": 21, "profile": "room-panel"},
            {"id": "f6-west", "addr": 22},
        ],
    }
    return spec


def _refused(mutate, n_rooms=2):
    spec = _spec(n_rooms)
    mutate(spec)
    return raises(boarddef.BoardError, boarddef.validate, spec)


def test_board_definition_declares_room_probes_panels_and_an_outdoor_probe():
    board = boarddef.validate(_spec())
    assert board["rooms"] == [
        {"id": "room1", "sensor": "t_room_room1"},
        {"id": "room2", "sensor": "t_room_room2"},
    ]
    assert board["rs485"]["rooms"][1]["profile"] == "room-panel"  # the default
    assert board["entrance"]["t_outdoor"] == "t_out"
    # Without rooms nothing changes but an empty list; a bus may carry only room panels.
    plain = boarddef.validate(simhw.sim_board_def(2))
    assert plain["rooms"] == []
    spec = simhw.sim_board_def(1)
    spec["rs485"] = {"uart": 1, "tx": 1, "rx": 2, "rooms": [{"id": "f1", "addr": 1}]}
    assert boarddef.validate(spec)["rs485"]["valves"] == []
    # A real board file takes a room probe of a type the board supports.
    with open(repo_path("boards/esp32-devkit.json")) as f:
        esp = json.load(f)
    esp["sensors"]["t_room_f1"] = {"type": "ds18b20", "bus": "ow0", "rom": "28ff0000000000aa"}
    esp["rooms"] = [{"id": "f1-east", "sensor": "t_room_f1"}]
    esp["rs485"]["rooms"] = [{"id": "f6-east", "addr": 21, "profile": "room-panel"}]
    assert boarddef.validate(esp)["rooms"][0]["id"] == "f1-east"


def test_broken_room_declarations_name_the_field():
    def not_an_identifier(s):
        s["rooms"][0]["id"] = "flat 1"

    err = _refused(not_an_identifier)
    assert err.field == "rooms[0].id" and "identifier" in str(err)

    def duplicate(s):
        s["rooms"][1]["id"] = "room1"

    err = _refused(duplicate)
    assert err.field == "rooms[1].id" and "duplicate" in str(err)

    def no_sensor(s):
        s["rooms"][0]["sensor"] = "nowhere"

    assert _refused(no_sensor).field == "rooms[0].sensor"

    def missing_sensor(s):
        del s["rooms"][1]["sensor"]

    err = _refused(missing_sensor)
    assert err.field == "rooms[1].sensor" and "missing" in str(err)

    def return_probe(s):
        s["rooms"][0]["sensor"] = s["valves"][1]["return_probe"]

    err = _refused(return_probe)
    assert err.field == "rooms[0].sensor" and "valves[1].return_probe" in str(err)

    def not_a_list(s):
        s["rooms"] = {"id": "x"}

    assert _refused(not_a_list).field == "rooms"

    def panel_like_local(s):
        s["rs485"]["rooms"][0]["id"] = "room2"

    err = _refused(panel_like_local)
    assert err.field == "rs485.rooms[0].id" and "duplicate" in str(err)

    def panel_twice(s):
        s["rs485"]["rooms"][1]["id"] = "f6-east"

    assert _refused(panel_twice).field == "rs485.rooms[1].id"

    def addr_of_a_valve(s):
        s["rs485"]["rooms"][1]["addr"] = 5

    err = _refused(addr_of_a_valve)
    assert err.field == "rs485.rooms[1].addr" and "f5-east" in str(err)

    def bad_addr(s):
        s["rs485"]["rooms"][0]["addr"] = 0

    assert _refused(bad_addr).field == "rs485.rooms[0].addr"

    def bad_panel_id(s):
        s["rs485"]["rooms"][0]["id"] = "f6/east"

    assert _refused(bad_panel_id).field == "rs485.rooms[0].id"

    def too_many(s):  # 2 on the board + 31 on the bus = 33 > shared.protocol.MAX_ROOMS
        s["rs485"]["rooms"] = [{"id": "p{}".format(i), "addr": 100 + i} for i in range(31)]

    err = _refused(too_many)
    assert err.field == "rooms" and str(protocol.MAX_ROOMS) in str(err)

    def unknown_role(s):
        s["entrance"]["t_room"] = "t_out"

    assert _refused(unknown_role).field == "entrance.t_room"
    # A pressure transducer is no room probe (on a real board file).
    with open(repo_path("boards/pico-w.json")) as f:
        pico = json.load(f)
    pico["rooms"] = [{"id": "f1", "sensor": "p_supply"}]
    err = raises(boarddef.BoardError, boarddef.validate, pico)
    assert err.field == "rooms[0].sensor"
    # 32 rooms is the most a board takes.
    spec = _spec(2)
    spec["rs485"]["rooms"] = [{"id": "p{}".format(i), "addr": 100 + i} for i in range(30)]
    assert len(boarddef.validate(spec)["rs485"]["rooms"]) == 30
    assert boarddef.MAX_ROOMS == protocol.MAX_ROOMS and boarddef.MAX_VALVES == protocol.MAX_VALVES


# ------------------------------------------------------------------ room panel profiles ----


def test_room_profiles_decode_and_have_no_write_point():
    prof = profiles()
    p = prof["room-panel"]
    assert p.device == "room" and p.write_points == ()
    assert p.read_points == ("t_room_c",)
    assert p.decode("t_room_c", [215]) == 21.5
    assert p.decode("t_room_c", [0xFFEC]) == -2.0  # int16 -20 in tenths
    assert p.decode("t_room_c", [0x8000]) is None  # the invalid marker
    f = prof["room-float-cdab"]
    assert f.read_points == ("t_room_c", "battery_pct")
    assert f.points["t_room_c"]["reg"] == 256  # register 257 counted from 1
    assert f.decode("t_room_c", cdab(19.25)) == 19.25
    assert f.decode("t_room_c", cdab(float("nan"))) is None
    assert f.blocks == [[3, 256, 3, ["t_room_c", "battery_pct"]]]  # one read
    assert prof["generic"].device == "valve"


def test_broken_room_profiles_are_refused_naming_the_field():
    base = {
        "profile": "x",
        "device": "room",
        "points": {"t_room_c": {"fc": 4, "register": 0, "type": "int16", "scale": 0.1}},
    }

    def refused(mutate):
        doc = json.loads(json.dumps(base))
        mutate(doc)
        return str(raises(ValueError, device_profile.Profile, doc))

    def write_point(d):
        d["points"]["opening_cmd_pct"] = {"fc": 6, "register": 0}

    assert "points.opening_cmd_pct" in refused(write_point)

    def no_temperature(d):
        d["points"] = {"battery_pct": {"fc": 4, "register": 1}}

    assert "points.t_room_c" in refused(no_temperature)

    def read_with_write_fc(d):
        d["points"]["t_room_c"]["fc"] = 6

    assert "points.t_room_c.fc" in refused(read_with_write_fc)

    def unknown_device(d):
        d["device"] = "heat-meter"

    assert "device" in refused(unknown_device)

    def valve_point(d):
        d["points"]["t_return_c"] = {"fc": 4, "register": 1}

    assert "points.t_return_c" in refused(valve_point)
    device_profile.Profile(base)  # the base itself is fine


def test_a_device_with_the_wrong_kind_of_profile_is_refused_naming_the_field():
    clock, bus, master = _bus_rig()
    prof = profiles()
    err = raises(
        hv.BusError,
        hv.build,
        master,
        clock,
        [],
        prof,
        rooms=[{"id": "f6-east", "addr": 21, "profile": "generic"}],
    )
    assert err.field == "rs485.rooms[0]" and "valve" in str(err)
    err = raises(
        hv.BusError,
        hv.build,
        master,
        clock,
        [{"id": "f5", "addr": 5, "profile": "room-panel"}],
        prof,
    )
    assert err.field == "rs485.valves[0]"
    err = raises(
        hv.BusError,
        hv.build,
        master,
        clock,
        [],
        prof,
        rooms=[{"id": "f6", "addr": 2, "profile": "x"}],
    )
    assert err.field == "rs485.rooms[0].profile" and "no profile" in str(err)
    err = raises(
        ValueError,
        hv.build,
        master,
        clock,
        [{"id": "f5", "addr": 5}],
        prof,
        rooms=[{"id": "f6", "addr": 5}],
    )
    assert "address 5" in str(err)


# -------------------------------------------------------------------------- polling ----


def _bus_rig():
    from edge.clock import ManualClock

    clock = ManualClock()
    bus = FakeBus(clock)
    master = modbus.RTUMaster(bus, clock, baud=9600, timeout_ms=100, retries=1)
    return clock, bus, master


def _poller(events, n_valves=2, stale_ms=60000):
    clock, bus, master = _bus_rig()
    valves = []
    for i in range(n_valves):
        addr = 1 + i
        bus.set(addr, "i", 0, 400 + addr)
        bus.set(addr, "i", 1, 500)
        bus.set(addr, "h", 0, 0)
        valves.append({"id": "hh{}".format(addr), "addr": addr})
    bus.set(21, "i", 0, 215)  # room-panel: 21.5 degC
    t, b = cdab(19.25), 87
    bus.set(22, "h", 256, t[0])
    bus.set(22, "h", 257, t[1])
    bus.set(22, "h", 258, b)
    rooms = [
        {"id": "f6-east", "addr": 21, "profile": "room-panel"},
        {"id": "f6-west", "addr": 22, "profile": "room-float-cdab"},
        {"id": "hh1", "addr": 23},  # a room may share its name with a valve
    ]
    bus.set(23, "i", 0, 0xFFFF)  # -0.1 degC
    poller = hv.build(
        master,
        clock,
        valves,
        profiles(),
        emit=lambda *a: events.append(a),
        rooms=rooms,
        dead_after=3,
        probe_ms=60000,
        stale_ms=stale_ms,
    )
    return clock, bus, poller


def test_room_panels_are_polled_with_the_valves_in_one_budget():
    events = []
    clock, bus, poller = _poller(events)
    assert poller.poll(budget_ms=1000) == 5  # two valves and three panels, in turn
    east, west, third = poller.rooms
    assert east.t_room_c == 21.5 and east.battery_pct is None
    assert west.t_room_c == 19.25 and west.battery_pct == 87
    assert abs(third.t_room_c + 0.1) < 1e-9 and poller.by_id["hh1"].t_return_c == 40.1
    assert poller.room_fresh(east) and events == []
    assert all(r["ok"] for r in poller.report_rooms()) and len(poller.report()) == 2
    # No write ever goes to a panel.
    assert not [r for r in bus.requests if r[0] in (21, 22, 23) and r[1] in (6, 16)]
    # With every device dead one poll still ends within its budget plus one transaction.
    for addr in (1, 2, 21, 22, 23):
        bus.faults[addr] = "dead"
    t0 = clock.now_ms
    visited = poller.poll(budget_ms=150)
    assert visited == 1 and clock.now_ms - t0 <= 150 + 2 * 120, clock.now_ms - t0
    # The round robin goes on where it stopped: over several polls every device gets a turn.
    turns = 0
    for _ in range(4):
        turns += poller.poll(budget_ms=150)
    assert turns >= 4


def test_a_silent_panel_is_isolated_held_then_null_and_readmitted():
    events = []
    clock, bus, poller = _poller(events, stale_ms=30000)
    poller.poll(budget_ms=1000)
    east = poller.rooms_by_id["f6-east"]
    probe = hv.RemoteRoomProbe(poller, "f6-east")
    assert probe.read() == 21.5 and probe.fault == hal.OK
    bus.faults[21] = "dead"
    for _ in range(3):
        clock.advance(5000)
        poller.poll(budget_ms=1000)
    assert east.isolated
    ev = events[-1]
    assert ev[:2] == ("modbus_dead", "alarm") and ev[2] is None and ev[3] == 21
    assert ev[4].startswith("room f6-east: ")
    # Frozen: the last reading is held until it is older than stale_ms ...
    assert poller.room_fresh(east) and probe.read() == 21.5 and probe.fault == hal.OK
    clock.advance(20000)
    poller.poll(budget_ms=1000)
    assert not poller.room_fresh(east)
    probe.read()
    assert probe.fault == hal.F_STALE
    assert poller.report_rooms()[0]["t_room_c"] is None
    # ... the others were polled at full pace meanwhile, and the panel is probed again.
    assert poller.rooms_by_id["f6-west"].ok() and poller.by_id["hh2"].ok()
    bus.faults.pop(21)
    bus.set(21, "i", 0, 0x8000)  # back, but its sensor has no reading
    clock.advance(60000)
    poller.poll(budget_ms=1000)
    assert not east.isolated and events[-1][:2] == ("modbus_ok", "info")
    assert "room f6-east" in events[-1][4]
    assert probe.read() == 21.5 and probe.fault == hal.F_DEVICE


# ------------------------------------------------------------------------ telemetry ----


def _rooms_app(stale_ms=30000, n_rooms=2):
    """A simulated board with n_rooms probes of its own, an outdoor probe, one household valve
    and two room panels on its bus."""
    spec = _spec(n_rooms)
    spec["rs485"].update({"period_ms": 5000, "stale_ms": stale_ms, "dead_after": 3})
    board = boarddef.validate(spec)
    sb = simhw.SimBoard(board, ua=[0.45, 0.35], fs_root=tmpdir())
    bus = FakeBus(sb.clock)
    bus.set(5, "i", 0, 380)
    bus.set(5, "i", 1, 500)
    bus.set(5, "h", 0, 500)
    bus.set(21, "i", 0, 215)
    bus.set(22, "i", 0, 198)
    rs = board["rs485"]
    master = modbus.RTUMaster(bus, sb.clock, baud=9600, timeout_ms=100, retries=1)
    household = hv.build(
        master,
        sb.clock,
        rs["valves"],
        profiles(),
        rooms=rs["rooms"],
        dead_after=rs["dead_after"],
        probe_ms=rs["probe_ms"],
        stale_ms=rs["stale_ms"],
    )
    app = App(board, sb.hw, household=household)
    return sb, bus, app


def _rooms_of(rec):
    return {r["sensor"]: r for r in rec["rooms"]}


def test_records_carry_rooms_and_the_outdoor_temperature():
    sb, bus, app = _rooms_app()
    rec = app.telemetry()  # before any good sample: every room reported, none trusted
    assert [r["sensor"] for r in rec["rooms"]] == ["room1", "room2", "f6-east", "f6-west"]
    assert all(r["t_room_c"] is None and r["sensor_ok"] is False for r in rec["rooms"])
    protocol.encode(protocol.TELE, rec)
    sb.run(app, 2 * MIN_MS)
    rec = app.telemetry()
    protocol.encode(protocol.TELE, rec)
    rooms = _rooms_of(rec)
    assert set(rooms["f6-east"]) == {"sensor", "t_room_c", "sensor_ok"}  # no ts_s: fresh
    assert rooms["f6-east"]["t_room_c"] == 21.5 and rooms["f6-east"]["sensor_ok"] is True
    assert rooms["f6-west"]["t_room_c"] == 19.8
    for rid in ("room1", "room2"):  # wired probes read the plant's 20 degC (with a bias)
        assert rooms[rid]["sensor_ok"] and abs(rooms[rid]["t_room_c"] - 20.0) < 1.5, rooms[rid]
    assert abs(rec["entrance"]["t_outdoor_c"]) < 0.5  # the plant's 0 degC outdoors
    assert [v["id"] for v in rec["valves"]] == ["entrance", "hh1", "f5-east"]
    assert len(app.records()) == 1  # a small board: one record
    report = app.commissioning()
    assert report["rooms"]["f6-east"]["addr"] == 21 and report["rooms"]["f6-east"]["sensor_ok"]
    assert report["rooms"]["room1"]["channel"] == "t_room_room1"
    assert report["sensors"]["t_room_f6-east"]["ok"] and report["sensors"]["t_room_room1"]["ok"]


def test_a_silent_panel_is_held_with_its_time_then_null_and_reported():
    sb, bus, app = _rooms_app(stale_ms=30000)
    sb.run(app, 2 * MIN_MS)
    t_before = app.clock.time_s()
    bus.faults[22] = "dead"
    sb.run(app, 16000)  # three failed polls: isolated, the reading held
    rooms = _rooms_of(app.telemetry())
    assert rooms["f6-west"]["t_room_c"] == 19.8 and rooms["f6-west"]["sensor_ok"]
    assert t_before - 5 <= rooms["f6-west"]["ts_s"] <= t_before  # its last answer
    assert "modbus_dead" in app.events.names()
    sb.run(app, 30000)  # older than stale_ms
    rec = app.telemetry()
    protocol.encode(protocol.TELE, rec)
    rooms = _rooms_of(rec)
    assert rooms["f6-west"]["t_room_c"] is None and rooms["f6-west"]["sensor_ok"] is False
    assert "ts_s" not in rooms["f6-west"]
    assert rooms["f6-east"]["sensor_ok"] and rooms["room1"]["sensor_ok"]  # the others go on
    assert app.commissioning()["rooms"]["f6-west"]["fault"] == "stale"
    assert app.scheduler.get("rs485").errors == 0 and app.scheduler.get("control").errors == 0
    bus.faults.pop(22)
    sb.run(app, 2 * MIN_MS)
    rooms = _rooms_of(app.telemetry())
    assert rooms["f6-west"]["t_room_c"] == 19.8 and rooms["f6-west"]["sensor_ok"]


def test_implausible_room_readings_are_debounced_faults():
    sb, bus, app = _rooms_app()
    sb.run(app, 2 * MIN_MS)
    bus.set(21, "i", 0, 900)  # 90 degC: outside the room range
    sb.run(app, 6000)
    assert _rooms_of(app.telemetry())["f6-east"]["sensor_ok"]  # one bad sample: not yet
    sb.run(app, 20000)
    east = _rooms_of(app.telemetry())["f6-east"]
    assert east["t_room_c"] is None and not east["sensor_ok"]
    assert "sensor_range" in app.events.names()
    sb.probes["t_room_room1"].force_fault = hal.F_OPEN  # a wired probe breaks
    sb.run(app, 30000)
    assert _rooms_of(app.telemetry())["room1"]["sensor_ok"] is False


def test_a_board_without_rooms_records_exactly_as_before():
    sb, board = sim_entrance(3)
    app = new_app(sb, board)
    sb.run(app, MIN_MS)
    recs = app.records()
    assert len(recs) == 1
    assert sorted(recs[0]) == ["entrance", "health", "seq", "time_synced", "ts_s", "valves"]
    assert "t_outdoor_c" not in recs[0]["entrance"]
    assert "rooms" not in app.commissioning() or app.commissioning()["rooms"] == {}


def _full_board():
    """33 valves and 32 rooms, every id 32 characters long: more than one payload holds."""
    spec = simhw.sim_board_def(33, n_rooms=32)
    for i, v in enumerate(spec["valves"]):
        v["id"] = "valve-{:026d}".format(i)
    for i, r in enumerate(spec["rooms"]):
        r["id"] = "room-of-flat-{:019d}".format(i)
    board = boarddef.validate(spec)
    sb = simhw.SimBoard(board, fs_root=tmpdir())
    return sb, App(board, sb.hw)


def test_valves_and_rooms_that_do_not_fit_go_in_two_records():
    sb, app = _full_board()
    sb.run(app, MIN_MS)
    combined = app.telemetry()
    assert len(combined["valves"]) == 33 and len(combined["rooms"]) == 32
    err = raises(protocol.ProtocolError, protocol.encode, protocol.TELE, combined)
    assert err.reason == "size"
    seq0 = app.seq
    recs = app.records()
    assert len(recs) == 2
    first, second = recs
    assert "rooms" not in first and len(first["valves"]) == 33
    assert second["valves"] == [] and len(second["rooms"]) == 32
    assert [first["seq"], second["seq"]] == [seq0 + 1, seq0 + 2]
    assert second["ts_s"] == first["ts_s"]
    for rec in recs:
        data = protocol.encode(protocol.TELE, rec)
        assert len(data) <= protocol.MAX_PAYLOAD_BYTES
        assert appmod.encoded_len(rec) + len(',"v":1') == len(data)
    assert all(r["sensor_ok"] for r in second["rooms"])
    # The record task sends both, in order.
    sent = []
    app.on_record = sent.append
    app._record()
    assert [("rooms" in r, len(r["valves"])) for r in sent] == [(False, 33), (True, 0)]


def test_split_records_each_get_a_seq_of_the_link_and_reach_the_broker():
    root = scratch_dir("rooms")
    try:
        spec = simhw.sim_board_def(33, n_rooms=32)
        for i, v in enumerate(spec["valves"]):
            v["id"] = "valve-{:026d}".format(i)
        for i, r in enumerate(spec["rooms"]):
            r["id"] = "room-of-flat-{:019d}".format(i)
        board = boarddef.validate(spec)
        sb = simhw.SimBoard(board, fs_root=root + "/")
        app = App(board, sb.hw)
        app.apply_config({"collection_period_s": 60, "control_period_s": 120})
        broker = FakeBroker()
        FakeClient.broker = broker
        conn = ConnectedBoard(
            app,
            {"site": "estate-9", "unit": "e7", "broker": "b:1883", "boot_spread_s": 0},
            client_class=FakeClient,
            rand=SeqRand([0.3, 0.8]),
            link_period_ms=500,
        )
        sb.run(app, 4 * MIN_MS)
        assert conn.refused_records == 0
        raw = [m for m in broker.log if m[0].endswith("/tele")]
        assert all(len(m[1]) <= protocol.MAX_PAYLOAD_BYTES for m in raw)
        tele = broker.payloads("/tele")
        assert len(tele) >= 6
        rooms_only = [t for t in tele if not t["valves"]]
        assert rooms_only and all(len(t["rooms"]) == 32 for t in rooms_only)
        assert all("rooms" not in t for t in tele if t["valves"])
        seqs = sorted(t["seq"] for t in tele + broker.payloads("/event"))
        assert seqs == list(range(len(seqs)))  # one sequence for every record
    finally:
        rmtree(root)
