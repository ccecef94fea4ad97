"""The balancing loops: one PI controller per valve on return temperature, all valves at once.

Every quantity is an array over the board's valves (the entrance valve and up to 32 household
valves), computed with ulab (`edge.xnp.np`), so a control cycle costs a handful of array
operations whatever the number of valves.

Per valve, with e = target - t_return (degC; too cold a return means too little flow, so
open more) and the positional law  u = ff + kp * e + I  (opening in %):

- deadband: |e| <= precision_c holds the output ("hold"); I tracks u - ff - kp * e so leaving
  the band causes no step;
- output limits opening_min_pct..opening_max_pct, and a rate limit of rate_limit_pct per
  control period on the output;
- anti-windup: I is clamped to [min - ff - kp*e, max - ff - kp*e] (min, max: the output
  limits), so a saturated valve leaves its limit as soon as the error turns;
- integral frozen while the valve's return probe is bad ("failsafe": the output goes to the
  fail-safe opening at once) or the valve is stalled or stuck ("frozen": output held);
- optional feed-forward opening per valve (opening_ff_pct, NaN for none): the host's
  modelled opening. A new value moves the valve there (its integral restarts at 0: the
  model replaces what the loop had learnt), at rate_limit_pct per period and through the
  deadband, and the loop trims from there; an unchanged value changes nothing; a value
  withdrawn (NaN) is folded into the integral, so the opening does not move;
- manual opening per valve (manual_opening_pct, NaN for none; "manual"): an operator's
  opening, which wins over the loop and over the fail-safe opening of a bad probe. The output
  goes there at rate_limit_pct per period (not bound by opening_min_pct..opening_max_pct: the
  operator chose it; the positioner keeps it within 0..100) and stays exactly there. I tracks
  u - ff - kp * e as in the deadband, and the first cycle after the release sets I from the
  held output, so the loop resumes from the held opening without a step. A valve that cannot
  move (stalled, stuck, silent on RS-485) is "frozen" all the same;
- bumpless restart: `restore()` takes the persisted integral and output; without them the
  first cycle starts from the measured opening and I is set so that u does not jump.

Modes per valve are codes into MODE_NAMES, the same words as the telemetry's `mode`.
"""

from edge.xnp import FLOAT, np

MODE_NAMES = ("auto", "hold", "frozen", "failsafe", "manual")
AUTO = 0
HOLD = 1
FROZEN = 2
FAILSAFE = 3
MANUAL = 4


class Balancer:
    def __init__(self, n, failsafe_pct):
        self.n = n
        self.integral = np.zeros(n, dtype=FLOAT)
        self.output = np.array(failsafe_pct, dtype=FLOAT)
        self.target = np.full(n, 40.0, dtype=FLOAT)
        self.ff = np.zeros(n, dtype=FLOAT)
        self.manual = np.zeros(n, dtype=FLOAT)  # manual opening (%) where is_manual
        self.is_manual = np.zeros(n, dtype=FLOAT)  # 1.0: held at a manual opening
        self.failsafe = np.array(failsafe_pct, dtype=FLOAT)
        self.mode = np.full(n, float(FAILSAFE), dtype=FLOAT)
        self.error = np.zeros(n, dtype=FLOAT)
        self._track = np.ones(n, dtype=FLOAT)  # 1: set I from the output on the next cycle
        self._ff_step = np.zeros(n, dtype=FLOAT)  # 1: moving to a new feed-forward opening
        self.kp = 4.0
        self.ki_s = 4.0 / 1800.0
        self.precision = 0.5
        self.lo = 5.0
        self.hi = 100.0
        self.rate = 5.0
        self.cycles = 0

    def configure(self, cfg):
        """Take the control fields of a configuration dict (edge.config names)."""
        self.kp = float(cfg["kp_pct_per_c"])
        self.ki_s = self.kp / float(cfg["ti_s"])
        self.precision = float(cfg["precision_c"])
        self.lo = float(cfg["opening_min_pct"])
        self.hi = float(cfg["opening_max_pct"])
        self.rate = float(cfg["rate_limit_pct"])

    def set_failsafe(self, values_pct):
        self.failsafe = np.array(values_pct, dtype=FLOAT)

    def set_targets(self, t_return_c, opening_ff_pct, manual_opening_pct=None):
        """Per-valve targets (degC), feed-forward and manual openings (%, NaN for none).

        The mode of a valve that enters or leaves manual changes at once ("manual", or "auto":
        the loop has it back and moves it from the next cycle)."""
        self.target = np.array(t_return_c, dtype=FLOAT)
        given = np.array(opening_ff_pct, dtype=FLOAT)
        has = np.where(np.isfinite(given), 1.0, 0.0)
        ff = np.where(has > 0.5, given, 0.0)
        d = ff - self.ff
        new = has * np.where(d * d > 0.0025, 1.0, 0.0)  # a feed-forward that moved: step to it
        gone = (1.0 - has) * np.where(self.ff * self.ff > 0.0, 1.0, 0.0)
        self.integral = np.where(
            new > 0.5, 0.0, np.where(gone > 0.5, self.integral + self.ff, self.integral)
        )
        self._track = np.where(new > 0.5, 0.0, self._track)
        self._ff_step = np.where(new > 0.5, 1.0, self._ff_step)
        self.ff = ff
        if manual_opening_pct is None:
            man = np.full(self.n, float("nan"), dtype=FLOAT)
        else:
            man = np.array(manual_opening_pct, dtype=FLOAT)
        was = self.is_manual
        now = np.where(np.isfinite(man), 1.0, 0.0)
        self.manual = np.where(now > 0.5, man, 0.0)
        self.is_manual = now
        self.mode = np.where(now > 0.5, float(MANUAL), np.where(was > 0.5, float(AUTO), self.mode))

    def restore(self, integral_pct, output_pct):
        """Bumpless restart from persisted state: the next cycle continues from it."""
        self.integral = np.array(integral_pct, dtype=FLOAT)
        self.output = np.array(output_pct, dtype=FLOAT)
        self._track = np.zeros(self.n, dtype=FLOAT)
        self._ff_step = np.zeros(self.n, dtype=FLOAT)  # the persisted state already has it

    def start_from(self, opening_pct):
        """Cold start: continue from the valves' present openings."""
        self.output = np.array(opening_pct, dtype=FLOAT)
        self._track = np.ones(self.n, dtype=FLOAT)
        self._ff_step = np.zeros(self.n, dtype=FLOAT)

    def update(self, t_return_c, sensor_ok, valve_ok, dt_s):
        """One control cycle. t_return_c: array (degC; anything where the sensor is bad);
        sensor_ok, valve_ok: arrays of 0.0 / 1.0. Returns the new openings (%)."""
        s = sensor_ok
        t = np.where(s > 0.5, t_return_c, self.target)
        e = self.target - t
        p = self.kp * e
        prev = self.output
        ff = self.ff
        lo = np.clip(prev - self.rate, self.lo, self.hi)
        hi = np.clip(prev + self.rate, self.lo, self.hi)
        # a cold-started valve takes its present opening as the integral's starting point
        i_old = np.where(self._track > 0.5, prev - ff - p, self.integral)
        i_auto = np.clip(i_old + (self.ki_s * dt_s) * e, self.lo - ff - p, self.hi - ff - p)
        u_auto = np.clip(ff + p + i_auto, lo, hi)
        inband = np.where(e * e <= self.precision * self.precision, 1.0, 0.0)
        man = self.is_manual
        m = man * valve_ok  # held at a manual opening, probe good or bad
        mf = man - m  # manual, but the valve cannot move: frozen
        run = s * valve_ok * (1.0 - man)
        inband = inband * (1.0 - self._ff_step)  # a feed-forward step goes through the band
        auto = run * (1.0 - inband)
        hold = run * inband
        # manual: towards the operator's opening at the rate limit, within 0..100 only
        u_man = np.clip(
            self.manual,
            np.clip(prev - self.rate, 0.0, 100.0),
            np.clip(prev + self.rate, 0.0, 100.0),
        )
        self.integral = np.where(
            auto > 0.5, i_auto, np.where(hold + m > 0.5, prev - ff - p, self.integral)
        )
        self.output = np.where(
            m > 0.5,
            u_man,
            np.where(
                mf + auto < 0.5,
                np.where(s > 0.5, prev, self.failsafe),
                np.where(auto > 0.5, u_auto, prev),
            ),
        )
        self.mode = (
            (1.0 - man) * ((1.0 - s) * FAILSAFE + s * (1.0 - valve_ok) * FROZEN + hold * HOLD)
            + m * MANUAL
            + mf * FROZEN
        )
        self.error = e
        # the step is done once the rate limit no longer holds the output back
        moved = u_auto - prev
        limited = np.where(moved * moved >= self.rate * self.rate * 0.999, 1.0, 0.0)
        self._ff_step = self._ff_step * np.where(auto > 0.5, limited, 1.0)
        # a manual valve takes its held opening as the integral's starting point on release
        self._track = np.where(man > 0.5, 1.0, self._track * (1.0 - s * valve_ok))
        self.cycles += 1
        return self.output
