"""The whole board program on a simulated entrance (ulab stand-in on MicroPython, numpy on
CPython): closed loop to the targets, reboot without a bump, bad probe, corrupt files, safe
mode, watchdog, an operator's manual opening, and telemetry in the protocol's shape.
Dual-runtime."""

from edgecheck import fast_config, new_app, sim_entrance

from edge import hal
from edge.app import App
from shared import protocol

HOUR_MS = 3600 * 1000
TARGETS = {
    "entrance": {"t_return_c": 42.0},
    "hh1": {"t_return_c": 38.0},
    "hh2": {"t_return_c": 40.0},
    "hh3": {"t_return_c": 41.0},
}


def _started(n_valves=4, **kw):
    sb, board = sim_entrance(n_valves, **kw)
    app = new_app(sb, board)
    fast_config(app)
    targets = {}
    for vid in app.valve_ids:
        targets[vid] = TARGETS[vid]
    ok, reason = app.apply_targets(targets, version=3)
    assert ok, reason
    return sb, board, app


def _errors(sb, app):
    return [
        sb.plant.t_return_c[i] - TARGETS[vid]["t_return_c"] for i, vid in enumerate(app.valve_ids)
    ]


def test_closed_loop_reaches_targets_within_precision():
    sb, _, app = _started()
    before = _errors(sb, app)
    assert max(abs(e) for e in before) > 1.5  # the plant starts out of balance
    sb.run(app, 2 * HOUR_MS)
    worst = 0.0
    for _ in range(6):  # the last half hour, every 5 min
        sb.run(app, 300000)
        worst = max([worst] + [abs(e) for e in _errors(sb, app)])
    assert worst <= app.config["precision_c"], worst
    assert all(p.ok() for p in app.positioners)
    assert app.supervisor.feeds > 0 and not sb.watchdog.check()


def test_reboot_mid_run_resumes_without_a_bump():
    sb, board, app = _started()
    sb.run(app, HOUR_MS)
    saved_out = [float(x) for x in app.balancer.output]
    saved_i = [float(x) for x in app.balancer.integral]
    pos_before = [v.pos_pct for v in sb.valves]
    app2 = new_app(sb, board)  # the board resets; plant, valves and flash stay
    assert app2.events.peek()[0]["detail"] == "resumed"
    assert [float(x) for x in app2.balancer.integral] == saved_i
    assert [p.command_pct for p in app2.positioners] == saved_out
    assert app2.targets_version == 3 and app2.config["control_period_s"] == 120
    sb.run(app2, 60000)  # before its first control cycle the valves do not move
    for i, v in enumerate(sb.valves):
        assert abs(v.pos_pct - pos_before[i]) <= 1.0
    outs = [saved_out]
    for _ in range(15):
        sb.run(app2, 120000)
        outs.append([float(x) for x in app2.balancer.output])
    steps = [abs(outs[k + 1][i] - outs[k][i]) for k in range(len(outs) - 1) for i in range(4)]
    assert max(steps) <= 2.0, steps  # near balance: small trims, no jump
    assert max(abs(e) for e in _errors(sb, app2)) <= app2.config["precision_c"]


def test_corrupt_state_file_at_boot_is_survived():
    sb, board, app = _started()
    sb.run(app, HOUR_MS)
    with open(app.paths["state"], "w") as f:
        f.write('{"crc": 1, "data": {"ids": [')
    with open(app.paths["config"], "w") as f:
        f.write("\x00\xff garbage")
    pos_before = [v.pos_pct for v in sb.valves]
    app2 = new_app(sb, board)
    names = app2.events.names()
    assert names.count("state_corrupt") == 2, names
    assert app2.events.peek()[-1]["detail"] == "cold"
    assert app2.config["control_period_s"] == 300  # defaults
    sb.run(app2, 1200000)  # the cold start continues from the measured openings
    for i, v in enumerate(sb.valves):
        assert abs(v.pos_pct - pos_before[i]) <= 2 * app2.config["rate_limit_pct"] + 1.0


def test_bad_return_probe_drives_failsafe_and_recovers():
    sb, _, app = _started()
    sb.run(app, HOUR_MS)
    probe = sb.probes["t_ret_hh2"]
    probe.force_fault = hal.F_OPEN
    sb.run(app, 30000)  # three bad samples in a row: the channel is bad
    integral = float(app.balancer.integral[2])
    sb.run(app, 600000)
    assert app.telemetry()["valves"][2]["mode"] == "failsafe"
    assert abs(sb.valves[2].pos_pct - app.config["failsafe_opening_pct"]) <= 1.0
    assert float(app.balancer.integral[2]) == integral
    assert "sensor_open" in app.events.names()
    rec = app.telemetry()["valves"][2]
    assert rec["t_return_c"] is None and rec["sensor_ok"] is False
    probe.force_fault = hal.OK
    sb.run(app, 2 * HOUR_MS)
    assert app.telemetry()["valves"][2]["mode"] in ("auto", "hold")
    assert abs(_errors(sb, app)[2]) <= 1.0


def test_stalled_valve_is_reported_and_frozen_in_the_loop():
    sb, _, app = _started()
    sb.run(app, 1800000)
    sb.valves[1].motor_dead = True
    sb.run(app, HOUR_MS)
    v = app.telemetry()["valves"][1]
    assert v["valve_ok"] is False and v["mode"] == "frozen"
    assert "valve_stall" in app.events.names() or "valve_stuck" in app.events.names()


def test_telemetry_and_events_follow_the_protocol():
    sb, _, app = _started()
    records = []
    app.on_record = records.append
    sb.run(app, 600000)
    assert len(records) == 10
    for rec in records:
        protocol.validate(protocol.TELE, dict(rec, v=protocol.SCHEMA_VERSION))
    assert records[-1]["seq"] == records[0]["seq"] + 9
    assert records[-1]["health"]["heap_free_b"] >= 0
    for ev in app.events.drain():
        protocol.validate(protocol.EVENT, dict(ev, v=protocol.SCHEMA_VERSION))
    assert len(app.events) == 0
    protocol.validate(protocol.STATE, dict(app.summary(), v=protocol.SCHEMA_VERSION))


def test_a_position_read_past_the_end_stop_is_reported_at_the_stop():
    # Simulated hardware: the angle sensor's noise puts a fully open valve at 100.04 %; the
    # record must stay valid (it was refused as record_invalid and lost before).
    sb, _, app = _started()
    sb.run(app, 60000)
    app.positioners[0].position_pct = 100.0434
    rec = app.telemetry()
    protocol.validate(protocol.TELE, dict(rec, v=protocol.SCHEMA_VERSION))
    assert rec["valves"][0]["opening_meas_pct"] == 100.0


def test_refused_config_or_targets_change_nothing():
    sb, _, app = _started()
    before = dict(app.config)
    ok, reason = app.apply_config({"opening_min_pct": 80, "opening_max_pct": 20})
    assert not ok and "inconsistent" in reason
    ok, reason = app.apply_config({"control_period_s": 5})
    assert not ok and "range" in reason
    assert app.config == before
    ok, reason = app.apply_targets({"nosuch": {"t_return_c": 40.0}})
    assert not ok and "nosuch" in reason
    ok, reason = app.apply_targets({"hh1": {"t_return_c": 200.0}})
    assert not ok
    assert app.targets["hh1"]["t_return_c"] == 38.0
    assert "config_refused" in app.events.names() and "targets_refused" in app.events.names()


def test_safe_mode_drives_failsafe_and_runs_no_control():
    sb, board = sim_entrance(4, start_pct=80.0)
    app = App(board, sb.hw, safe_mode=True)
    sb.run(app, 300000)
    names = [t.name for t in app.scheduler.tasks]
    assert "control" not in names and "sample" not in names
    for v in sb.valves:
        assert abs(v.pos_pct - board["failsafe_opening_pct"]) <= 1.0
    assert all(v["mode"] == "failsafe" for v in app.telemetry()["valves"])
    assert not sb.watchdog.check()


def test_watchdog_is_not_fed_when_a_task_keeps_failing():
    sb, _, app = _started()
    sb.run(app, 60000)
    assert not sb.watchdog.check()

    def broken():
        raise RuntimeError("sensor bus hung")

    app.scheduler.get("sample").fn = broken
    sb.run(app, 60000)
    assert sb.watchdog.check()  # the board would have been reset
    assert app.supervisor.starving == "sample"
    assert "task_error" in app.events.names() and "watchdog_starved" in app.events.names()


def test_stroke_test_from_the_app_and_commissioning_report():
    sb, board, app = _started(n_valves=2)
    app.stroke_test()
    sb.run(app, 400000)
    rep = app.commissioning()
    for vid in ("entrance", "hh1"):
        assert rep["valves"][vid]["stroke_test"]["ok"], rep
    assert rep["sensors"]["t_ret_entrance"]["ok"]
    app2 = new_app(sb, board)  # learned end stops are stored
    assert abs(app2.positioners[0].angle_closed_deg - 20.0) < 0.5


def test_a_manual_opening_holds_the_valve_across_a_reboot_and_is_released_bumplessly():
    sb, board, app = _started()
    sb.run(app, HOUR_MS)
    hh1 = app.valve_ids.index("hh1")
    ok, reason = app.apply_targets({"hh1": {"t_return_c": 38.0, "manual_opening_pct": 12.0}}, 4)
    assert ok, reason
    sb.run(app, HOUR_MS)
    assert abs(sb.valves[hh1].pos_pct - 12.0) <= 1.0
    rec = app.telemetry()
    protocol.validate(protocol.TELE, dict(rec, v=protocol.SCHEMA_VERSION))
    modes = {v["id"]: v["mode"] for v in rec["valves"]}
    assert modes["hh1"] == "manual" and modes["hh2"] != "manual"
    app2 = new_app(sb, board)  # the board resets: the manual opening is in its targets file
    assert app2.targets["hh1"]["manual_opening_pct"] == 12.0
    sb.run(app2, HOUR_MS)
    assert abs(sb.valves[hh1].pos_pct - 12.0) <= 1.0
    before = float(app2.balancer.output[hh1])
    ok, reason = app2.apply_targets({"hh1": {"t_return_c": 38.0}}, 5)  # released
    assert ok, reason
    sb.run(app2, 130000)  # one control cycle
    assert abs(float(app2.balancer.output[hh1]) - before) <= app2.config["rate_limit_pct"]
    assert app2.telemetry()["valves"][hh1]["mode"] != "manual"
    sb.run(app2, 3 * HOUR_MS)  # the loop has it back and reaches its target
    assert abs(_errors(sb, app2)[hh1]) <= app2.config["precision_c"]


def test_safe_mode_holds_a_manual_opening_instead_of_the_failsafe():
    sb, board = sim_entrance(4, start_pct=80.0)
    app = new_app(sb, board)
    ok, reason = app.apply_targets({"hh2": {"t_return_c": 40.0, "manual_opening_pct": 15.0}}, 2)
    assert ok, reason
    app = App(board, sb.hw, safe_mode=True)
    sb.run(app, 300000)
    hh2 = app.valve_ids.index("hh2")
    assert abs(sb.valves[hh2].pos_pct - 15.0) <= 1.0
    modes = [v["mode"] for v in app.telemetry()["valves"]]
    assert modes[hh2] == "manual" and modes.count("failsafe") == 3


def test_default_targets_throttle_once_over_household_valves():
    sb, board = sim_entrance(4)
    t = new_app(sb, board).targets
    assert t["entrance"]["t_return_c"] == t["hh1"]["t_return_c"] + 5.0
    assert t["hh1"]["t_return_c"] == t["hh3"]["t_return_c"] == 40.0
    sb1, board1 = sim_entrance(1)
    assert new_app(sb1, board1).targets["entrance"]["t_return_c"] == 40.0
