"""Valve positioner against the simulated valve (travel time, backlash, faults).

Dual-runtime: pytest on CPython, and the real MicroPython unix port via
tests/test_micropython_suite.py."""

from edge import hal, positioner
from edge.clock import ManualClock
from edge.events import EventLog
from edge.simhw import SimActuator, SimAngle, SimValve


def _rig(stroke_s=60.0, backlash_pct=1.0, start_pct=50.0, closed=20.0, opened=110.0):
    clock = ManualClock()
    valve = SimValve(stroke_s, backlash_pct=backlash_pct, start_pct=start_pct)
    events = EventLog(clock)
    pos = positioner.Positioner(
        "v1",
        SimActuator(valve),
        SimAngle(valve, closed, opened),
        clock,
        stroke_s,
        closed,
        opened,
        backlash_pct=backlash_pct,
        events=events,
    )
    return clock, valve, pos, events


def _run(clock, valve, pos, ms, until=None):
    """Step the positioner every tick for up to ms; stop early when until() is true."""
    end = clock.now_ms + ms
    while clock.now_ms < end:
        pos.step()
        valve.advance(positioner.TICK_MS)
        clock.advance(positioner.TICK_MS)
        if until is not None and until():
            return True
    return False


def test_reaches_commanded_openings_within_one_percent_in_plausible_time():
    clock, valve, pos, _ = _rig()
    prev = valve.pos_pct
    for cmd in (73.0, 72.0, 10.0, 10.5, 99.0, 0.0, 37.3, 38.0, 100.0):
        pos.command(cmd)
        t0 = clock.now_ms
        _run(
            clock,
            valve,
            pos,
            150000,
            until=lambda: (
                not pos.busy()
                and pos.position_pct >= 0
                and abs(pos.command_pct - pos.position_pct) <= pos.deadband_pct
            ),
        )
        took_s = (clock.now_ms - t0) / 1000.0
        # plausible: the travel at 60 s per stroke, plus backlash approach and settling
        assert took_s <= abs(cmd - prev) * 0.6 + 6.0, (cmd, took_s)
        _run(clock, valve, pos, 2000)
        assert abs(valve.pos_pct - cmd) <= 1.0, (cmd, valve.pos_pct)
        assert pos.diag == positioner.DIAG_OK
        prev = valve.pos_pct


def test_final_approach_is_from_below_to_take_up_backlash():
    clock, valve, pos, _ = _rig(backlash_pct=2.0, start_pct=60.0)
    pos.command(40.0)
    lowest = [100.0]

    def watch():
        lowest[0] = min(lowest[0], valve.pos_pct)
        return False

    _run(clock, valve, pos, 60000, until=watch)
    assert lowest[0] < 39.0  # went below the command first
    assert abs(valve.pos_pct - 40.0) <= 1.0


def test_stalled_motor_is_detected_and_motor_switched_off():
    clock, valve, pos, events = _rig()
    _run(clock, valve, pos, 1000)
    valve.motor_dead = True
    pos.command(80.0)
    _run(clock, valve, pos, 20000)
    assert pos.diag == positioner.DIAG_STALL
    assert pos.diag_name == "stall" and not pos.ok()
    assert valve.direction == hal.STOP
    assert "valve_stall" in events.names()
    assert pos.stall_ms <= 10000


def test_stuck_valve_is_detected_when_it_stops_short():
    clock, valve, pos, events = _rig()
    valve.limit_hi_pct = 65.0  # an obstruction
    pos.command(90.0)
    _run(clock, valve, pos, 120000)
    assert pos.diag == positioner.DIAG_STUCK
    assert abs(valve.pos_pct - 65.0) < 0.5
    assert "valve_stuck" in events.names()
    assert "valve_stall" not in events.names()


def test_recovers_after_fault_on_new_command_and_clears_diag():
    clock, valve, pos, events = _rig()
    valve.jammed = True
    pos.command(80.0)
    _run(clock, valve, pos, 20000)
    assert not pos.ok()
    valve.jammed = False
    pos.command(30.0)
    _run(clock, valve, pos, 60000)
    assert pos.ok()
    assert abs(valve.pos_pct - 30.0) <= 1.0
    assert "valve_stall_cleared" in events.names()


def test_angle_sensor_fault_stops_the_motor():
    clock, valve, pos, events = _rig()
    pos.command(90.0)
    _run(clock, valve, pos, 2000)
    assert valve.direction == hal.OPEN
    pos._angle.force_fault = hal.F_MAGNET
    _run(clock, valve, pos, 500)
    assert valve.direction == hal.STOP
    assert pos.diag_name == "feedback"
    assert "valve_feedback" in events.names()


def test_run_time_limit_stops_a_slow_valve():
    clock, valve, pos, _ = _rig(stroke_s=20.0, start_pct=0.0)
    valve.stroke_s = 200.0  # ten times slower than the board definition says
    pos.command(100.0)
    _run(clock, valve, pos, pos.max_run_ms + 2000)
    assert pos.diag == positioner.DIAG_STUCK
    assert valve.direction == hal.STOP


def test_angle_wraps_through_zero():
    clock, valve, pos, _ = _rig(closed=330.0, opened=60.0)  # span crosses 0 deg
    assert abs(pos.to_pct(330.0)) < 1e-9
    assert abs(pos.to_pct(15.0) - 50.0) < 1e-9
    assert abs(pos.to_pct(60.0) - 100.0) < 1e-9
    pos.command(80.0)
    _run(clock, valve, pos, 60000)
    assert abs(valve.pos_pct - 80.0) <= 1.0


def test_stroke_self_test_learns_end_stops_and_measures_the_valve():
    clock, valve, pos, events = _rig(backlash_pct=1.5, start_pct=40.0)
    learned = []
    pos._on_calibrated = lambda vid, c, o: learned.append((vid, c, o))
    pos.set_end_stops(25.0, 100.0)  # wrong defaults: the test must learn 20 / 110
    pos.command(40.0)
    pos.stroke_test()
    assert _run(clock, valve, pos, 400000, until=lambda: pos.test_report is not None)
    rep = pos.test_report
    assert rep["ok"], rep
    assert abs(rep["angle_closed_deg"] - 20.0) < 0.5 and abs(rep["angle_open_deg"] - 110.0) < 0.5
    assert abs(rep["stroke_open_s"] - 60.0) < 3.0
    assert 0.5 < rep["backlash_pct"] < 2.5
    assert rep["monotonic"]
    assert learned and learned[0][0] == "v1"
    assert "stroke_test_passed" in events.names()
    _run(clock, valve, pos, 60000)
    assert abs(valve.pos_pct - 40.0) <= 1.0  # back to its command


def test_stroke_self_test_fails_on_a_dead_motor():
    clock, valve, pos, events = _rig()
    valve.motor_dead = True
    pos.stroke_test()
    assert _run(clock, valve, pos, 400000, until=lambda: pos.test_report is not None)
    assert not pos.test_report["ok"]
    assert "did not move" in pos.test_report["reason"]
    assert "stroke_test_failed" in events.names()


def test_stroke_self_test_fails_on_reversed_motor_wiring():
    clock, valve, pos, events = _rig()
    sim_act = pos._act

    class Reversed:
        def drive(self, direction, slow=False):
            sim_act.drive(-direction, slow)

        def stop(self):
            sim_act.drive(hal.STOP)

    pos._act = Reversed()
    pos.stroke_test()
    assert _run(clock, valve, pos, 400000, until=lambda: pos.test_report is not None)
    assert not pos.test_report["ok"]
    assert "reversed" in pos.test_report["reason"]


def test_stroke_self_test_interrupted_by_sensor_fault_reports_failure():
    clock, valve, pos, _ = _rig()
    pos.command(50.0)
    pos.stroke_test()
    _run(clock, valve, pos, 5000)
    pos._angle.force_fault = hal.F_MAGNET
    _run(clock, valve, pos, 500)
    assert pos.test_report is not None and not pos.test_report["ok"]
    assert valve.direction == hal.STOP and pos.diag_name == "feedback"
    pos._angle.force_fault = hal.OK
    _run(clock, valve, pos, 200000)  # retried after the back-off, back to its command
    assert pos.ok() and abs(valve.pos_pct - 50.0) <= 1.0
