"""The station gateway (edge.station, edge.boarddef `station`, edge.app, edge.connected) on
CPython and on the MicroPython unix port.

The station's PLC is simulated here by `SimulatedPLC`, a register map behind the
edge.modbus.Master calls (registers only, no process). The same gateway code talks Modbus TCP
to pymodbus in tests/edge_link/test_station_modbus_tcp.py.
"""

import json

from edgecheck import tmpdir
from linkfakes import FakeBroker, FakeClient, SeqRand, rmtree, scratch_dir
from mpcheck import load_json, raises, repo_path

from edge import boarddef, device_profile, modbus, simhw
from edge import station as stationmod
from edge.app import App
from edge.clock import ManualClock
from edge.connected import ConnectedBoard
from edge.events import EventLog
from shared import protocol

SITE = "estate-7"


class SimulatedPLC:
    """A station PLC's holding registers (0-based protocol addresses) on a Modbus master's
    calls; `down` makes every call time out."""

    def __init__(self):
        self.regs = {}
        self.down = False
        self.writes = []
        self.retries = 0
        self.timeout_ms = 100

    def _check(self):
        if self.down:
            raise modbus.Timeout("simulated PLC unplugged")

    def read_registers(self, addr, fc, start, count):
        self._check()
        return [self.regs.get(start + i, 0) for i in range(count)]

    def write_register(self, addr, reg, value):
        self._check()
        self.regs[reg] = value & 0xFFFF
        self.writes.append(reg)

    def write_registers(self, addr, reg, values):
        self._check()
        for i, v in enumerate(values):
            self.regs[reg + i] = v & 0xFFFF

    def set(self, register_1based, raw):
        self.regs[register_1based - 1] = raw & 0xFFFF

    def get(self, register_1based):
        return self.regs.get(register_1based - 1)


def profile():
    with open(repo_path("boards/profiles/station-plc.json")) as f:
        return device_profile.Profile(json.load(f))


def gateway_def():
    spec = load_json("boards/station-gateway.json")
    spec["port"] = "unix"
    return spec


def plc_at(t_supply=55.0, t_return=42.0, t_out=0.0):
    plc = SimulatedPLC()
    plc.set(1, int(t_supply * 10))
    plc.set(2, int(t_return * 10))
    plc.set(3, 4500)  # 450.0 kPa
    plc.set(4, 3000)
    plc.set(9, 850)
    plc.set(10, 1234)  # 12.34 kW
    plc.set(11, int(t_out * 10))
    plc.set(12, 550)
    return plc


def station(plc=None, clock=None, events=None):
    board = boarddef.validate(gateway_def())
    clock = clock or ManualClock()
    emit = events.emit if events is not None else None
    return stationmod.Station(board["station"], profile(), plc or plc_at(), clock, emit)


def command(version=1, **fields):
    msg = {"v": 1, "version": version, "ts_s": ManualClock().time_s()}
    msg.update(fields)
    return protocol.validate(protocol.STATION, msg)


# ------------------------------------------------------------------ board definition ----


def test_the_station_gateway_definition_validates_with_no_valve():
    board = boarddef.validate(gateway_def())
    st = board["station"]
    assert board["valves"] == [] and st["profile"] == "station-plc"
    assert st["modbus_tcp"]["port"] == 502 and st["valid_for_s"] == 7200
    assert st["limits"]["pump_speed_min_pct"] == 40


def test_broken_station_sections_are_refused_naming_the_field():
    def refused(mutate):
        spec = gateway_def()
        mutate(spec["station"])
        return raises(boarddef.BoardError, boarddef.validate, spec).field

    def speed_limits_crossed(s):
        s["limits"]["pump_speed_min_pct"] = 90
        s["limits"]["pump_speed_max_pct"] = 60

    assert refused(speed_limits_crossed) == "station.limits.pump_speed_min_pct"

    def fallback_outside(s):
        s["fallback"]["pump_speed_pct"] = 20

    assert refused(fallback_outside) == "station.fallback.pump_speed_pct"

    def curve_rising(s):
        s["fallback"]["curve"] = [[-20, 60], [0, 65]]

    assert refused(curve_rising) == "station.fallback.curve[1]"

    def curve_hot(s):
        s["fallback"]["curve"] = [[-20, 90], [0, 60]]

    assert refused(curve_hot) == "station.fallback.curve[0]"

    def no_link(s):
        del s["modbus_tcp"]

    assert refused(no_link) == "station.modbus_tcp"
    spec = gateway_def()
    del spec["station"]
    assert raises(boarddef.BoardError, boarddef.validate, spec).field == "valves"


def test_station_profiles_are_checked():
    p = profile()
    assert p.device == "station"
    assert "t_supply_cmd_c" in p.write_points and "heartbeat_cmd" in p.write_points
    assert p.blocks == [[3, 0, 12, list(p.read_points)]]  # one read for every reading
    doc = load_json("boards/profiles/station-plc.json")
    del doc["points"]["t_supply_cmd_c"]
    assert "t_supply_cmd_c" in str(raises(ValueError, device_profile.Profile, doc))
    doc = load_json("boards/profiles/station-plc.json")
    doc["points"]["opening_cmd_pct"] = {"fc": 6, "register": 200}
    assert "opening_cmd_pct" in str(raises(ValueError, device_profile.Profile, doc))
    doc = load_json("boards/profiles/station-plc.json")
    doc["points"]["remote_cmd"]["fc"] = 3
    assert "remote_cmd.fc" in str(raises(ValueError, device_profile.Profile, doc))


def test_heating_curve_is_linear_between_points_and_flat_beyond():
    curve = [[-20, 70], [-5, 60], [5, 50], [15, 38]]
    assert stationmod.curve_c(curve, -30) == 70
    assert stationmod.curve_c(curve, 0) == 55
    assert abs(stationmod.curve_c(curve, 10) - 44) < 1e-9
    assert stationmod.curve_c(curve, 25) == 38


# ------------------------------------------------------------------ the station itself ----


def test_without_a_command_the_station_runs_its_own_curve_and_safe_speed():
    plc = plc_at(t_out=0.0)
    events = EventLog(ManualClock())
    st = station(plc, events=events)
    st.poll()
    assert st.mode == "local"
    assert plc.get(103) == 850  # the fallback speed, 85.0 %
    assert plc.get(104) == 550  # the curve at 0 degC outdoors: 55.0 degC
    assert plc.get(101) == 0  # remote off: the PLC's own programme
    rep = st.report()
    assert rep["mode"] == "local" and rep["t_supply_c"] == 55.0 and rep["p_supply_kpa"] == 450.0
    assert abs(rep["pump_power_kw"] - 12.34) < 1e-6
    protocol.validate(protocol.TELE, {"v": 1, "ts_s": 1, "seq": 1, "valves": [], "station": rep})
    assert [e["event"] for e in events.drain()] == ["station_online"]


def test_a_host_command_is_written_within_limits_and_the_heartbeat_counts():
    plc = plc_at()
    st = station(plc)
    st.poll()
    msg = command(pump_speed_pct=62.0, t_supply_c=52.5)
    assert st.check(msg) is None
    st.apply(msg, 1)
    st.poll()
    assert st.mode == "host"
    assert (plc.get(101), plc.get(103), plc.get(104)) == (1, 620, 525)
    beat = plc.get(102)
    st.poll()
    assert plc.get(102) == beat + 1
    assert st.report()["pump_speed_cmd_pct"] == 62.0
    # Unchanged set-points are not written again: only the heartbeat.
    n = len(plc.writes)
    st.poll()
    assert plc.writes[n:] == [101]  # register 102 counted from 1


def test_a_curve_offset_follows_the_outdoor_temperature_and_is_clamped():
    plc = plc_at(t_out=-5.0)
    st = station(plc)
    st.apply(command(curve_offset_k=-4.0), 1)
    st.poll()
    assert plc.get(104) == 560  # 60 - 4
    plc.set(11, -200)  # -20 degC: 70 + 8 would be 78 > 75
    st.apply(command(2, curve_offset_k=8.0), 2)
    st.poll()
    st.poll()
    assert plc.get(104) == 750


def test_commands_the_station_cannot_take_are_refused_and_change_nothing():
    st = station()
    assert "outside the station's limits 40..100" in st.check(command(pump_speed_pct=20.0))
    assert "t_supply_c 90" in st.check(command(t_supply_c=90.0))
    assert "+-10" in st.check(command(curve_offset_k=-15.0))
    doc = load_json("boards/profiles/station-plc.json")
    del doc["points"]["dp_setpoint_cmd_kpa"]
    board = boarddef.validate(gateway_def())
    no_dp = stationmod.Station(
        board["station"], device_profile.Profile(doc), plc_at(), ManualClock()
    )
    assert "no differential-pressure" in no_dp.check(command(dp_setpoint_kpa=80.0))
    assert "dp_setpoint_kpa 300" in st.check(command(dp_setpoint_kpa=300.0))
    # The contract itself refuses contradictions and values no station could take.
    bad = {"v": 1, "version": 1, "ts_s": 1, "pump_speed_pct": 50, "dp_setpoint_kpa": 80}
    assert raises(protocol.ProtocolError, protocol.validate, protocol.STATION, bad).reason == (
        "inconsistent"
    )
    bad = {"v": 1, "version": 1, "ts_s": 1, "t_supply_c": 120}
    assert raises(protocol.ProtocolError, protocol.validate, protocol.STATION, bad).reason == (
        "range"
    )


def test_a_silent_host_hands_the_station_back_to_its_curve():
    clock = ManualClock()
    plc = plc_at(t_out=5.0)
    events = EventLog(clock)
    st = station(plc, clock, events)
    st.apply(command(pump_speed_pct=55.0, t_supply_c=45.0, valid_for_s=3600), 1)
    st.poll()
    assert st.mode == "host" and plc.get(103) == 550
    clock.advance(3599 * 1000)
    st.poll()
    assert st.mode == "host"
    clock.advance(2 * 1000)
    st.poll()
    assert st.mode == "local"
    assert (plc.get(101), plc.get(103), plc.get(104)) == (0, 850, 500)
    names = [e["event"] for e in events.drain()]
    assert names[-1] == "station_local"


def test_a_command_issued_long_ago_is_not_in_force_even_when_just_received():
    clock = ManualClock()
    st = station(plc_at(), clock)
    old = command(t_supply_c=50.0, valid_for_s=3600)
    old["ts_s"] = clock.time_s() - 4000  # a retained command from a host gone for an hour
    st.apply(old, 1)
    st.poll()
    assert st.mode == "local"


def test_a_plc_that_stops_answering_is_offline_then_rewritten_when_back():
    clock = ManualClock()
    plc = plc_at()
    events = EventLog(clock)
    st = station(plc, clock, events)
    st.apply(command(pump_speed_pct=70.0), 1)
    st.poll()
    plc.down = True
    for _ in range(3):
        st.poll()
    assert st.mode == "offline" and st.readings["t_supply_c"] is None
    rep = st.report()
    assert rep["mode"] == "offline" and "pump_speed_cmd_pct" not in rep
    plc.down = False
    plc.regs = {}  # the PLC restarted and lost its set-points
    plc.set(1, 600)
    plc.set(2, 400)
    st.poll()
    assert st.mode == "host" and plc.get(103) == 700
    names = [e["event"] for e in events.drain()]
    assert "station_offline" in names and names[-1] == "station_online"


# ------------------------------------------------------------------ the gateway board ----


def _gateway_app(root, plc, clock=None):
    board = boarddef.validate(gateway_def())
    sb = simhw.SimBoard(board, fs_root=root)
    st = stationmod.Station(board["station"], profile(), plc, sb.hw.clock)
    return sb, App(board, sb.hw, station=st)


def test_the_gateway_board_reports_the_station_and_keeps_its_command_across_a_reboot():
    root = tmpdir()
    plc = plc_at()
    sb, app = _gateway_app(root, plc)
    ok, reason = app.apply_station(command(3, pump_speed_pct=60.0, t_supply_c=50.0))
    assert ok, reason
    sb.run(app, 60000)
    rec = app.telemetry()
    assert rec["valves"] == [] and rec["station"]["mode"] == "host"
    assert rec["station"]["command_version"] == 3 and plc.get(103) == 600
    protocol.encode(protocol.TELE, rec)
    assert app.summary()["station_version"] == 3
    ok, reason = app.apply_station(command(4, pump_speed_pct=10.0))
    assert not ok and "limits" in reason
    sb2, app2 = _gateway_app(root, plc)  # reboot: the accepted command is back in force
    assert app2.station.command_version == 3
    sb2.run(app2, 20000)
    assert app2.station.mode == "host"


def test_an_entrance_board_refuses_a_station_command():
    sb = simhw.SimBoard(boarddef.validate(simhw.sim_board_def(2)), fs_root=tmpdir())
    app = App(sb.board, sb.hw)
    ok, reason = app.apply_station(command(pump_speed_pct=60.0))
    assert not ok and "no station" in reason


def test_desired_station_over_the_link_is_acknowledged():
    root = scratch_dir("station")
    try:
        plc = plc_at()
        sb, app = _gateway_app(root + "/", plc)
        broker = FakeBroker()
        FakeClient.broker = broker
        ConnectedBoard(
            app,
            {"site": SITE, "unit": "station-1", "broker": "b:1883", "boot_spread_s": 0},
            client_class=FakeClient,
            rand=SeqRand([0.3, 0.8]),
            link_period_ms=500,
        )
        topic = protocol.topic(SITE, "station-1", protocol.STATION)
        good = {"version": 5, "ts_s": sb.hw.clock.time_s(), "pump_speed_pct": 66.0}
        broker.publish_retained(topic, protocol.encode(protocol.STATION, good))
        sb.run(app, 30000)
        bad = {"version": 6, "ts_s": sb.hw.clock.time_s(), "t_supply_c": 80.0}
        broker.publish_retained(topic, protocol.encode(protocol.STATION, bad))
        sb.run(app, 30000)
        acks = broker.payloads("/ack")
        assert [(a["of"], a["version"], a["result"]) for a in acks] == [
            ("station", 5, "applied"),
            ("station", 6, "refused"),
        ]
        assert "limits" in acks[1]["reason"]
        assert plc.get(103) == 660 and app.station.command_version == 5
        sb.run(app, 120000)
        tele = broker.payloads("/tele")
        assert len(tele) >= 2 and tele[-1]["station"]["mode"] == "host"
        states = broker.payloads("/state")
        assert states[-1]["station_version"] == 5
    finally:
        rmtree(root)
