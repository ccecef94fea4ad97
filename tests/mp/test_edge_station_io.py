"""A board at the station running it on its own I/O (edge.station_io, edge.boarddef
`station.io` and `outputs`, edge.app, edge.hal.AnalogOut) on CPython and on the MicroPython
unix port.

The station's heat exchanger is simulated (edge.simhw.SimStation, deliberately small): the
secondary supply temperature rises, first order (3 min), with the primary valve's opening,
35 degC closed to 85 degC open, and the pump's differential pressure follows the speed on the
analogue output (edge.simhw.SimAnalogOut). The board program is the real one
(boards/station-board.json on the simulated port).
"""

from edgecheck import fast_config, tmpdir
from mpcheck import load_json, raises, repo_path

from edge import boarddef, hal, persist, simhw
from edge.app import App
from edge.clock import ManualClock
from shared import protocol

HOUR_MS = 3600 * 1000


def board_def():
    spec = load_json("boards/station-board.json")
    spec["port"] = "unix"
    return spec


def command(version=1, **fields):
    msg = {"v": 1, "version": version, "ts_s": ManualClock().time_s()}
    msg.update(fields)
    return protocol.validate(protocol.STATION, msg)


def station_app(root=None, start_pct=20.0, safe_mode=False):
    """(SimBoard, App) of the station board; PI tuned for the simulated exchanger."""
    board = boarddef.validate(board_def())
    sb = simhw.SimBoard(board, fs_root=root or tmpdir(), start_pct=start_pct)
    app = App(board, sb.hw, safe_mode=safe_mode)
    if not safe_mode:
        fast_config(app, control_period_s=60, kp_pct_per_c=1.5, ti_s=300.0)
    return sb, app


# ------------------------------------------------------------------ board definition ----


def test_the_station_board_validates_on_its_port_with_the_pump_output_safe_at_fallback():
    board = boarddef.load(repo_path("boards/station-board.json"))
    assert board["port"] == "esp32"
    io = board["station"]["io"]
    assert io["primary_valve"] == "primary" and board["valves"][0]["return_probe"] == "t_supply"
    out = board["outputs"]["pump_speed"]
    assert out["type"] == "pwm" and out["freq_hz"] == 5000 and out["invert"] is False
    assert out["safe_pct"] == board["station"]["fallback"]["pump_speed_pct"] == 85
    assert boarddef.io_roles(board["station"])[0] == ("t_supply", "t_supply")
    assert boarddef.io_roles(None) == []


_GONE = object()  # delete the entry

# (path of the entry, new value or _GONE, the field refused, words of the reason)
_BROKEN = (
    ("station.io.p_supply", "p_nowhere", "station.io.p_supply", "no sensor named 'p_nowhere'"),
    ("station.io.primary_valve", _GONE, "station.io.primary_valve", "missing"),
    ("station.io.primary_valve", "hx1", "station.io.primary_valve", "no valve 'hx1'"),
    (
        "valves.0.return_probe",
        "t_return",
        "station.io.primary_valve",
        "must control the station's supply probe 't_supply'",
    ),
    ("station.modbus_tcp", {"host": "192.168.10.20"}, "station.io", "not both"),
    ("station.io", _GONE, "station.modbus_tcp", "modbus_tcp (the station's PLC) or io"),
    ("station.io.pump_speed", "vfd", "station.io.pump_speed", "no output named 'vfd'"),
    ("station.io.p_return", "t_return", "station.io.p_return", "not a pressure sensor"),
    ("station.io.t_return", _GONE, "station.io.t_return", "missing"),
    ("station.io.flow", "t_return", "station.io.flow", "unknown entry"),
    ("outputs.pump_speed.duty_span_pct", [100, 20], "outputs.pump_speed.duty_span_pct", "low"),
    ("outputs.pump_speed.pin", 35, "outputs.pump_speed.pin", "input-only on esp32"),
)


def test_broken_station_io_sections_are_refused_with_a_clear_message():
    for path, value, field, words in _BROKEN:
        spec = board_def()
        spec["port"] = "esp32"  # pins checked too
        keys = path.split(".")
        obj = spec
        for key in keys[:-1]:
            obj = obj[int(key)] if type(obj) is list else obj[key]
        if value is _GONE:
            del obj[keys[-1]]
        else:
            obj[keys[-1]] = value
        err = raises(boarddef.BoardError, boarddef.validate, spec)
        assert (err.field, words in str(err)) == (field, True), (path, str(err))


# ------------------------------------------------------------------ the station itself ----


def test_the_set_point_in_force_is_the_primary_valves_target_and_the_supply_follows_it():
    sb, app = station_app(start_pct=20.0)
    plant = sb.plant
    assert abs(plant.t_supply_c - 45.0) < 0.1  # 35 + 50 * 20 %
    # No command: the station's own curve at the measured outdoor temperature (0 degC: 55).
    sb.run(app, 2 * HOUR_MS)
    assert app.station.mode == "local"
    assert abs(app.targets["primary"]["t_return_c"] - 55.0) < 0.15
    assert abs(plant.t_supply_c - 55.0) < 1.0, plant.t_supply_c
    # The host's supply set-point: the valve opens further and the supply rises to it.
    opening = sb.valves[0].pos_pct
    ok, reason = app.apply_station(command(2, ts_s=sb.clock.time_s(), t_supply_c=65.0))
    assert ok, reason
    sb.run(app, 2 * HOUR_MS)
    assert app.station.mode == "host"
    assert abs(float(app.balancer.target[0]) - 65.0) < 1e-6
    assert abs(plant.t_supply_c - 65.0) < 1.0, plant.t_supply_c
    assert sb.valves[0].pos_pct > opening + 10.0
    rec = app.telemetry()
    protocol.encode(protocol.TELE, rec)
    st = rec["station"]
    assert st["mode"] == "host" and st["command_version"] == 2
    assert st["t_supply_setpoint_c"] == 65.0 and abs(st["t_supply_c"] - 65.0) < 1.0
    assert st["t_outdoor_c"] is not None and abs(st["t_outdoor_c"]) < 0.5
    assert "flow_m3h" not in st and "heat_kw" not in st  # no channel for them on own I/O
    assert rec["valves"][0]["id"] == "primary" and rec["valves"][0]["target_c"] == 65.0


def test_a_host_target_for_the_primary_valve_does_not_replace_the_stations_set_point():
    sb, app = station_app()
    app.apply_station(command(t_supply_c=60.0))
    sb.run(app, 30000)
    ok, _ = app.apply_targets({"primary": {"t_return_c": 40.0}}, 7)
    assert ok
    assert app.targets["primary"]["t_return_c"] == 60.0
    assert abs(float(app.balancer.target[0]) - 60.0) < 1e-6


def test_the_pump_output_follows_the_host_and_falls_back_when_the_command_expires():
    sb, app = station_app()
    pump = sb.outputs["pump_speed"]
    assert pump.value == 85  # the driver starts at the fallback speed
    ok, reason = app.apply_station(command(3, pump_speed_pct=62.0, valid_for_s=3600))
    assert ok, reason
    sb.run(app, 60000)
    assert pump.value == 62.0 and app.station.mode == "host"
    rep = app.station.report()
    assert rep["pump_speed_cmd_pct"] == 62.0
    assert abs(rep["p_supply_kpa"] - rep["p_return_kpa"] - 200.0 * 0.62 * 0.62) < 2.0
    sb.run(app, 3600 * 1000 - 120000)
    assert pump.value == 62.0 and app.station.mode == "host"
    sb.run(app, 120000)
    assert pump.value == 85 and app.station.mode == "local"
    names = [e["event"] for e in app.events.drain()]
    assert "station_local" in names and names.count("station_online") == 1


def test_an_out_of_limits_command_is_refused_and_changes_nothing():
    root = tmpdir()
    sb, app = station_app(root)
    pump = sb.outputs["pump_speed"]
    assert app.apply_station(command(4, pump_speed_pct=70.0, t_supply_c=58.0))[0]
    sb.run(app, 30000)
    stored = persist.load(root + "station.json", {})
    for bad, words in (
        (command(5, pump_speed_pct=20.0), "outside the station's limits 40..100"),
        (command(5, t_supply_c=90.0), "t_supply_c 90"),
        (command(5, curve_offset_k=12.0), "+-10"),
        (command(5, dp_setpoint_kpa=80.0), "no differential-pressure set-point (own I/O)"),
    ):
        ok, reason = app.apply_station(bad)
        assert not ok and words in reason, reason
    sb.run(app, 30000)
    assert app.station.command_version == 4 and pump.value == 70.0
    assert app.targets["primary"]["t_return_c"] == 58.0
    assert persist.load(root + "station.json", {}) == stored
    names = [e["event"] for e in app.events.drain()]
    assert names.count("station_refused") == 4


def test_the_command_is_kept_across_a_reboot():
    root = tmpdir()
    sb, app = station_app(root)
    assert app.apply_station(command(6, pump_speed_pct=55.0))[0]
    sb2, app2 = station_app(root)
    assert app2.station.command_version == 6
    sb2.run(app2, 30000)
    assert sb2.outputs["pump_speed"].value == 55.0 and app2.station.mode == "host"


def test_all_station_probes_bad_is_offline_with_the_pump_at_its_fallback():
    sb, app = station_app()
    pump = sb.outputs["pump_speed"]
    app.apply_station(command(pump_speed_pct=50.0))
    sb.run(app, 60000)
    assert pump.value == 50.0
    for name in ("t_supply", "t_return", "p_supply", "p_return", "t_outdoor"):
        sb.probes[name].force_fault = hal.F_OPEN
    sb.run(app, 60000)
    assert app.station.mode == "offline" and pump.value == 85
    rep = app.station.report()
    assert rep["t_supply_c"] is None and rep["pump_speed_cmd_pct"] == 85
    for name in ("t_supply", "t_return", "p_supply", "p_return", "t_outdoor"):
        sb.probes[name].force_fault = hal.OK
    sb.run(app, 60000)
    assert app.station.mode == "host" and pump.value == 50.0
    names = [e["event"] for e in app.events.drain()]
    assert "station_offline" in names and names[-1] != "station_offline"


def test_a_failed_pump_output_is_not_reported_as_commanded():
    sb, app = station_app()
    sb.outputs["pump_speed"].broken = True
    sb.run(app, 30000)
    assert "pump_speed_cmd_pct" not in app.station.report()
    assert "pump output" in app.station.last_error


def test_safe_state_and_safe_mode_put_the_pump_at_its_fallback_speed():
    root = tmpdir()
    sb, app = station_app(root)
    pump = sb.outputs["pump_speed"]
    app.apply_station(command(pump_speed_pct=45.0))
    sb.run(app, 30000)
    assert pump.value == 45.0
    sb.hw.safe_state()
    assert pump.value == 85
    # Safe mode after crashes: nothing is sampled, so the station is offline and the pump
    # at its fallback although the host's command is still stored and valid.
    sb2, app2 = station_app(root, safe_mode=True)
    assert app2.station.command_version == 1
    sb2.run(app2, 5 * 60000)
    assert app2.station.mode == "offline" and sb2.outputs["pump_speed"].value == 85
    assert abs(sb2.valves[0].pos_pct - 30.0) < 2.0  # the primary valve at its fail-safe opening
