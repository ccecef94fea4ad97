"""Valve positioner: drives one valve to a commanded opening (0-100 %) from angle feedback.

Call `step()` every `TICK_MS` while `busy()` and about once a second otherwise. Behaviour:

- deadband: a move starts only when the valve is more than `deadband_pct` from the command;
  it stops at the command (within `STOP_PCT`), slowing down in the last `SLOW_ZONE_PCT`;
- backlash: the final approach is always in the opening direction; a closing move first goes
  `backlash_pct` below the command, so the gear play is taken up the same way every time;
- maximum run time per move: 1.5 strokes plus the backlash allowance;
- stall: motor driven but the angle does not move `STALL_MIN_PCT` within the stall window,
  from the very start of the move -> diagnostic "stall";
- stuck: the valve moved but stopped short, ran out of time, or kept missing the command
  after `MAX_ATTEMPTS` moves -> diagnostic "stuck" (the valve is not where commanded);
- feedback: an angle sensor fault stops the motor -> diagnostic "feedback";
- after a fault the motor stays off; the positioner tries again after a back-off (1, 2, 4 ...
  up to 32 min) or at once on a new command;
- end-stop calibration and stroke self-test: `stroke_test()` runs to the closed stop, to the
  open stop and back, learns the 0 % and 100 % angles and measures stroke times, monotonic
  feedback and backlash; `on_calibrated(valve_id, closed_deg, open_deg)` stores the angles.

Diagnostics go to `events.emit()` on every change and are readable as `diag` / `diag_name`.
"""

try:
    from micropython import const
except ImportError:

    def const(x):  # type: ignore[no-redef, misc]
        return x


from edge import hal

TICK_MS = const(100)
IDLE_TICK_MS = const(1000)
STOP_PCT = 0.15
SLOW_ZONE_PCT = 2.0
STALL_MIN_PCT = 0.5
MAX_ATTEMPTS = const(5)
SETTLE_MS = const(300)
RETRY_BASE_MS = const(60000)
RETRY_MAX_MS = const(1920000)
MIN_SPAN_DEG = 15.0

DIAG_OK = const(0)
DIAG_STALL = const(1)
DIAG_STUCK = const(2)
DIAG_FEEDBACK = const(3)
DIAG_NAMES = ("ok", "stall", "stuck", "feedback")

_IDLE = const(0)
_MOVING = const(1)
_SETTLE = const(2)
_FAULT = const(3)
_TEST = const(4)
STATE_NAMES = ("idle", "moving", "settle", "fault", "test")

# Stroke self-test phases.
_T_CLOSE = const(0)
_T_OPEN = const(1)
_T_CLOSE2 = const(2)


class Positioner:
    # Shared defaults (class attributes cost no RAM per valve); the stroke test sets its own.
    deadband_pct = 0.5
    test_report = None  # type: dict | None
    _test = None  # type: dict | None
    _test_resume = -1.0

    def __init__(
        self,
        valve_id,
        actuator,
        angle,
        clock,
        stroke_s,
        angle_closed_deg,
        angle_open_deg,
        backlash_pct=0.0,
        deadband_pct=0.5,
        circular=True,
        events=None,
        on_calibrated=None,
    ):
        self.id = valve_id
        self._act = actuator
        self._angle = angle
        self._clock = clock
        self.stroke_ms = int(stroke_s * 1000)
        self.backlash_pct = backlash_pct
        if deadband_pct != Positioner.deadband_pct:
            self.deadband_pct = deadband_pct
        self._circular = circular
        self._events = events
        self._on_calibrated = on_calibrated
        self.set_end_stops(angle_closed_deg, angle_open_deg)
        backlash_ms = int(self.stroke_ms * backlash_pct / 100)
        self.max_run_ms = self.stroke_ms * 3 // 2 + 2 * backlash_ms + 2000
        self.stall_ms = max(3000, 4 * self.stroke_ms * STALL_MIN_PCT // 100 + 2 * backlash_ms)
        self.command_pct = -1.0  # no command yet: hold still
        self.position_pct = -1.0  # last good measurement, -1 before the first
        self.deg = 0.0
        self.diag = DIAG_OK
        self.state = _IDLE
        self.moves = 0
        self._dir = hal.STOP
        self._aim = 0.0
        self._final = 0.0
        self._attempts = 0
        self._t_start = 0
        self._t_progress = 0
        self._p_progress = 0.0
        self._moved = False
        self._t_stop = 0
        self._retry_ms = RETRY_BASE_MS

    # ---- commands --------------------------------------------------------------------------
    def set_end_stops(self, angle_closed_deg, angle_open_deg):
        self.angle_closed_deg = angle_closed_deg
        self.angle_open_deg = angle_open_deg
        span = angle_open_deg - angle_closed_deg
        if self._circular:
            span = (span + 360.0) % 360.0
            if span > 180.0:
                span -= 360.0
        self._sign = 1.0 if span > 0 else -1.0
        self._span = span * self._sign

    def command(self, opening_pct):
        """Ask for an opening; a new command also clears a fault back-off."""
        opening_pct = min(100.0, max(0.0, opening_pct))
        if self.state == _TEST:
            self._test_resume = opening_pct
            return
        if self.state == _FAULT and abs(opening_pct - self.command_pct) > self.deadband_pct:
            self._stop(_IDLE)
            self._retry_ms = RETRY_BASE_MS
        if abs(opening_pct - self.command_pct) > 0.05:
            self._attempts = 0
        self.command_pct = opening_pct

    def stroke_test(self):
        """Start the commissioning stroke test; `test_report` holds the result when done."""
        self._act.drive(hal.STOP)
        self._test_resume = self.command_pct
        self._test = {
            "phase": _T_CLOSE,
            "reversals": 0,
            "closed_deg": 0.0,
            "open_deg": 0.0,
            "open_ms": 0,
            "close_ms": 0,
            "backlash_ms": -1,
            "dir_deg": 0.0,
        }
        self.test_report = None
        self.state = _TEST
        self._start_test_phase(_T_CLOSE, self._clock.ticks_ms())

    # ---- state ----------------------------------------------------------------------------
    def busy(self):
        return self.state in (_MOVING, _SETTLE, _TEST)

    def ok(self):
        """True when the valve follows its command (no stall, stuck or feedback fault)."""
        return self.diag == DIAG_OK

    @property
    def diag_name(self):
        return DIAG_NAMES[self.diag]

    @property
    def state_name(self):
        return STATE_NAMES[self.state]

    def to_pct(self, deg):
        d = (deg - self.angle_closed_deg) * self._sign
        if self._circular:
            gap_mid = self._span + (360.0 - self._span) / 2.0
            d = d % 360.0
            if d >= gap_mid:
                d -= 360.0
        return d * 100.0 / self._span

    # ---- the loop -------------------------------------------------------------------------
    def step(self):
        now = self._clock.ticks_ms()
        deg = self._angle.read()
        if self._angle.fault != hal.OK:
            if self.state == _TEST:
                self._test = None
                self.test_report = {
                    "valve": self.id,
                    "ok": False,
                    "reason": "angle sensor fault during the test",
                }
                self.command_pct = self._test_resume
            if self.state != _FAULT or self.diag != DIAG_FEEDBACK:
                self._fail(DIAG_FEEDBACK, now)
            return
        self.deg = deg
        if self.state == _TEST:
            self._step_test(deg, now)
            return
        pos = self.to_pct(deg)
        self.position_pct = pos
        if self.state == _IDLE:
            self._idle(pos, now)
        elif self.state == _MOVING:
            self._moving(pos, now)
        elif self.state == _SETTLE:
            if self._clock.ticks_diff(now, self._t_stop) >= SETTLE_MS:
                self.state = _IDLE
                self._idle(pos, now)
        elif self._clock.ticks_diff(now, self._t_stop) >= self._retry_ms:
            self._retry_ms = min(self._retry_ms * 2, RETRY_MAX_MS)
            self._attempts = 0
            self.state = _IDLE
            self._idle(pos, now)

    def _idle(self, pos, now):
        if self.command_pct < 0:
            return
        err = self.command_pct - pos
        if -self.deadband_pct <= err <= self.deadband_pct:
            self._attempts = 0
            if self.diag != DIAG_OK:
                self._set_diag(DIAG_OK)
            return
        if self._attempts >= MAX_ATTEMPTS:
            self._fail(DIAG_STUCK, now)
            return
        self._attempts += 1
        self._final = self.command_pct
        if err < 0 and self.backlash_pct > 0 and self.command_pct > 0:
            self._aim = max(0.0, self.command_pct - self.backlash_pct)
        else:
            self._aim = self.command_pct
        self._start_move(pos, now)

    def _start_move(self, pos, now):
        self._dir = hal.OPEN if self._aim > pos else hal.CLOSE
        self._t_start = now
        self._t_progress = now
        self._p_progress = pos
        self._moved = False
        self.moves += 1
        self.state = _MOVING
        self._act.drive(self._dir, abs(self._aim - pos) < SLOW_ZONE_PCT)

    def _moving(self, pos, now):
        togo = (self._aim - pos) * self._dir
        if togo <= STOP_PCT:
            if self._aim != self._final:
                self._aim = self._final  # take up the backlash: approach opening
                self._start_move(pos, now)
                return
            self._stop(_SETTLE)
            self._t_stop = now
            return
        if abs(pos - self._p_progress) >= STALL_MIN_PCT:
            self._p_progress = pos
            self._t_progress = now
            self._moved = True
        elif self._clock.ticks_diff(now, self._t_progress) > self.stall_ms:
            # A valve already known to be stuck that does not move on a retry stays "stuck".
            stalled = not self._moved and self.diag != DIAG_STUCK
            self._fail(DIAG_STALL if stalled else DIAG_STUCK, now)
            return
        if self._clock.ticks_diff(now, self._t_start) > self.max_run_ms:
            self._fail(DIAG_STUCK, now)
            return
        self._act.drive(self._dir, togo < SLOW_ZONE_PCT)

    def _stop(self, state):
        self._act.drive(hal.STOP)
        self.state = state

    def _fail(self, diag, now):
        self._stop(_FAULT)
        self._t_stop = now
        if diag != self.diag:
            self._set_diag(diag)

    def _set_diag(self, diag):
        old = self.diag
        self.diag = diag
        if self._events is not None:
            if diag == DIAG_OK:
                self._events.emit(
                    "valve_" + DIAG_NAMES[old] + "_cleared", "info", self.id, self.position_pct
                )
            else:
                self._events.emit(
                    "valve_" + DIAG_NAMES[diag],
                    "alarm",
                    self.id,
                    self.position_pct,
                    "command {:.1f} %".format(self.command_pct),
                )

    # ---- stroke test ----------------------------------------------------------------------
    def _start_test_phase(self, phase, now):
        t = self._test
        assert t is not None
        t["phase"] = phase
        t["t0"] = now
        t["t_last_move"] = now
        t["first_move_ms"] = -1
        t["last_deg"] = self.deg
        t["travel_deg"] = 0.0
        t["progress_deg"] = 0.0
        self._act.drive(hal.OPEN if phase == _T_OPEN else hal.CLOSE)

    def _step_test(self, deg, now):
        t = self._test
        assert t is not None
        d = deg - t["last_deg"]
        if self._circular:
            d = (d + 540.0) % 360.0 - 180.0
        t["last_deg"] = deg
        t["travel_deg"] += d
        noise_deg = 0.5
        if abs(t["travel_deg"] - t["progress_deg"]) >= 1.0:
            if t["first_move_ms"] < 0:
                t["first_move_ms"] = self._clock.ticks_diff(now, t["t0"])
            if t["phase"] != _T_CLOSE:
                if t["dir_deg"] == 0.0:
                    t["dir_deg"] = 1.0 if t["travel_deg"] > t["progress_deg"] else -1.0
            t["progress_deg"] = t["travel_deg"]
            t["t_last_move"] = now
        if t["phase"] == _T_OPEN and t["dir_deg"] != 0.0 and d * t["dir_deg"] < -noise_deg:
            t["reversals"] += 1
        elapsed = self._clock.ticks_diff(now, t["t0"])
        quiet = self._clock.ticks_diff(now, t["t_last_move"]) > self.stall_ms
        if not quiet and elapsed <= self.max_run_ms:
            return
        self._act.drive(hal.STOP)
        run_ms = self._clock.ticks_diff(t["t_last_move"], t["t0"])
        if t["phase"] == _T_CLOSE:
            t["closed_deg"] = deg
            self._start_test_phase(_T_OPEN, now)
        elif t["phase"] == _T_OPEN:
            t["open_deg"] = deg
            t["open_ms"] = run_ms
            t["open_travel_deg"] = t["travel_deg"]
            self._start_test_phase(_T_CLOSE2, now)
        else:
            t["close_ms"] = run_ms
            # Time before the angle moved, less the time the 1 degree threshold itself takes.
            t["backlash_ms"] = t["first_move_ms"] - t["open_ms"] / max(
                1.0, abs(t["open_travel_deg"])
            )
            self._finish_test(t, deg, elapsed > self.max_run_ms and not quiet)

    def _finish_test(self, t, deg, timed_out):
        span_deg = abs(t["open_travel_deg"])
        report = {
            "valve": self.id,
            "angle_closed_deg": t["closed_deg"],
            "angle_open_deg": t["open_deg"],
            "span_deg": span_deg,
            "stroke_open_s": t["open_ms"] / 1000.0,
            "stroke_close_s": t["close_ms"] / 1000.0,
            "backlash_pct": max(0, t["backlash_ms"]) * 100.0 / max(1, t["open_ms"]),
            "monotonic": t["reversals"] == 0,
            "returned_to_closed": abs(self._to_pct_test(deg, t)) < 2.0,
            "ok": False,
            "reason": "",
        }
        if span_deg < MIN_SPAN_DEG:
            report["reason"] = "valve did not move (span {:.1f} deg)".format(span_deg)
        elif t["open_travel_deg"] * self._sign < 0:
            # opening turned the shaft the way the board file calls closing
            report["reason"] = "direction reversed: check motor wiring or sensor mounting"
        elif timed_out:
            report["reason"] = "no end stop within the maximum run time"
        elif not report["monotonic"]:
            report["reason"] = "angle feedback not monotonic"
        elif not report["returned_to_closed"]:
            report["reason"] = "closed stop not repeatable"
        else:
            report["ok"] = True
            self.set_end_stops(t["closed_deg"], t["open_deg"])
            if self._on_calibrated is not None:
                self._on_calibrated(self.id, t["closed_deg"], t["open_deg"])
        self.test_report = report
        self._test = None
        self.state = _IDLE
        self._attempts = 0
        if self._events is not None:
            self._events.emit(
                "stroke_test_" + ("passed" if report["ok"] else "failed"),
                "info" if report["ok"] else "alarm",
                self.id,
                span_deg,
                report["reason"] or None,
            )
        self.command_pct = self._test_resume

    def _to_pct_test(self, deg, t):
        d = deg - t["closed_deg"]
        if self._circular:
            d = (d + 540.0) % 360.0 - 180.0
        return d * 100.0 / max(1.0, abs(t["open_travel_deg"]))
