"""Simulated hardware behind edge.hal, driven by a small plant. For tests, and later sim/.

- `SimValve`: a valve with a motor: travel time, gear backlash between motor and stem, hard
  stops at 0 and 100 %, and injectable faults (`jammed`: the stem cannot move; `motor_dead`:
  the motor does not turn; `limit_hi_pct` / `limit_lo_pct`: an obstruction stops the stem).
- `SimActuator`, `SimAngle`: its motor and an AS5600-like angle sensor (12-bit steps, noise).
- `SimProbe`: a sensor reading a plant value with noise, bias and quantisation, and faults
  (`fault` forced to a code, `freeze` the reading, `offset` a step).
- `SimEntrance`: one building entrance as a first-order-plus-delay thermal plant per valve:
  the return temperature settles towards a value set by the valve's flow (more opening, warmer
  return), after a transport delay and with a time constant; closing any valve raises the
  differential pressure, hence the flow, at the others.
- `SimStation`: the heat exchanger of a board at the station (`station.io`), as small as it
  can be: the secondary supply temperature rises with the primary valve's opening, first
  order; the pump's differential pressure follows its speed output.
- `SimAnalogOut`: an analogue output (the pump drive's speed input); `broken` fails writes.
- `SimWatchdog`: records whether it was fed in time.
- `SimBoard`: the plant, the clock and the Hardware together; `run(app, ms)` advances them.

Noise comes from a small deterministic generator (no `random` needed), so runs repeat.
"""

import math

from edge import hal
from edge.boarddef import io_roles
from edge.clock import ManualClock


class Noise:
    """A tiny linear congruential generator: uniform values in [-1, 1)."""

    def __init__(self, seed=12345):
        self._s = seed & 0x7FFFFFFF

    def next(self):
        self._s = (self._s * 1103515245 + 12345) & 0x7FFFFFFF
        return self._s / 1073741824.0 - 1.0


class SimValve:
    def __init__(self, stroke_s=60.0, backlash_pct=0.0, start_pct=50.0, slow_factor=0.5):
        self.stroke_s = stroke_s
        self.backlash_pct = backlash_pct
        self.pos_pct = start_pct  # stem
        self.motor_pct = start_pct  # motor side of the gear play
        self.slow_factor = slow_factor
        self.direction = hal.STOP
        self.slow = False
        self.jammed = False
        self.motor_dead = False
        self.limit_lo_pct = 0.0
        self.limit_hi_pct = 100.0
        self.run_ms = 0

    def advance(self, dt_ms):
        if self.direction == hal.STOP or self.motor_dead:
            return
        self.run_ms += dt_ms
        speed = 100.0 / self.stroke_s * (self.slow_factor if self.slow else 1.0)
        half = self.backlash_pct / 2.0
        motor = self.motor_pct + self.direction * speed * dt_ms / 1000.0
        stem = self.pos_pct
        if not self.jammed:
            if motor - stem > half:
                stem = motor - half
            elif stem - motor > half:
                stem = motor + half
            stem = min(max(stem, self.limit_lo_pct, 0.0), self.limit_hi_pct, 100.0)
        self.pos_pct = stem
        self.motor_pct = min(max(motor, stem - half), stem + half)


class _Injectable:
    """Fault injection shared by the simulated sensors: `force_fault` overrides the reading."""

    def _setup(self, seed):
        self._noise = Noise(seed)
        self.force_fault = hal.OK
        self.fault = hal.F_STALE
        self.value = 0.0


class SimActuator(hal.Actuator):
    def __init__(self, valve):
        self.valve = valve
        self.direction = hal.STOP

    def drive(self, direction, slow=False):
        self.direction = direction
        self.valve.direction = direction
        self.valve.slow = slow


class SimAngle(hal.AngleSensor, _Injectable):
    def __init__(self, valve, angle_closed_deg=20.0, angle_open_deg=110.0, noise_deg=0.05, seed=7):
        self.valve = valve
        self.closed_deg = angle_closed_deg
        self.open_deg = angle_open_deg
        self.noise_deg = noise_deg
        self._setup(seed)

    def read(self):
        if self.force_fault != hal.OK:
            self.fault = self.force_fault
            return self.value
        span = (self.open_deg - self.closed_deg + 180.0) % 360.0 - 180.0  # the short way
        deg = self.closed_deg + self.valve.pos_pct * span / 100.0
        deg += self.noise_deg * self._noise.next()
        steps = int(deg % 360.0 * 4096.0 / 360.0)
        self.value = steps * 360.0 / 4096.0
        self.fault = hal.OK
        return self.value


class SimProbe(hal.TempProbe, _Injectable):
    """Reads `source[index]` with noise, bias and quantisation (DS18B20: 1/16 degC)."""

    def __init__(self, source, index, noise=0.03, bias=0.0, step=0.0625, seed=11):
        self.source = source
        self.index = index
        self.noise = noise
        self.bias = bias
        self.step = step
        self._setup(seed)
        self.freeze = False
        self.offset = 0.0
        self.reads = 0

    def read(self):
        self.reads += 1
        if self.force_fault != hal.OK:
            self.fault = self.force_fault
            return 85.0 if self.force_fault == hal.F_POWER_ON else self.value
        self.fault = hal.OK
        if self.freeze and self.reads > 1:
            return self.value
        x = self.source[self.index] + self.bias + self.offset + self.noise * self._noise.next()
        if self.step > 0:
            x = math.floor(x / self.step + 0.5) * self.step
        self.value = x
        return x


class SimAnalogOut(hal.AnalogOut):
    """What the drive sees is `value`; `broken` makes every write fail (fault F_DEVICE)."""

    def __init__(self, safe_pct=0.0):
        self.safe_pct = safe_pct
        self.value = safe_pct  # the driver starts at its safe value, as PWMOut does
        self.fault = hal.OK
        self.broken = False
        self.writes = 0

    def write(self, pct):
        if self.broken:
            self.fault = hal.F_DEVICE
            return
        self.value = min(100.0, max(0.0, pct))
        self.fault = hal.OK
        self.writes += 1


class _Plant:
    """Valves move every step; the thermal state every `dt_ms` (`_thermal_step`)."""

    valves = []  # type: list
    dt_ms = 5000
    _acc_ms = 0

    def _thermal_step(self):
        raise NotImplementedError

    def advance(self, dt_ms):
        for v in self.valves:
            v.advance(dt_ms)
        self._acc_ms += dt_ms
        while self._acc_ms >= self.dt_ms:
            self._acc_ms -= self.dt_ms
            self._thermal_step()


class SimStation(_Plant):
    """A station's heat exchanger seen from the board at the station, deliberately small.

    The secondary supply settles, first order with `tau_s`, towards
    t_return_c + (t_primary_c - t_return_c) * u / 100 (u: the primary valve's opening, %):
    more primary opening, warmer supply. The supply-minus-return pressure is
    dp_max_kpa * (s / 100)^2 at the pump output's speed s (affinity law), none without a pump.
    The constants are class attributes (set one on an instance to change it).
    `readings` (what the probes look at): [the supply per valve (the primary valve's
    controlled probe)..., t_supply, p_supply, p_return, t_room, t_outdoor, t_return].
    """

    t_primary_c = 85.0  # the supply with the primary valve fully open
    t_return_c = 35.0  # the secondary return, held (and the supply with it closed)
    tau_s = 180.0
    dp_max_kpa = 200.0  # supply minus return at full pump speed
    p_return_kpa = 250.0
    t_outdoor_c = 0.0
    dt_ms = 5000

    def __init__(self, valves, primary):
        self.valves = valves
        self.primary = primary
        self.pump = None  # type: SimAnalogOut | None  # the pump speed output
        self._acc_ms = 0
        self.t_supply_c = self.steady_c()
        extra = [0.0, 0.0, self.p_return_kpa, 20.0, self.t_outdoor_c, self.t_return_c]
        self.readings = [0.0] * len(valves) + extra
        self._publish()

    def steady_c(self):
        u = self.valves[self.primary].pos_pct
        return self.t_return_c + (self.t_primary_c - self.t_return_c) * u / 100.0

    def _publish(self):
        n = len(self.valves)
        for i in range(n + 1):
            self.readings[i] = self.t_supply_c
        speed = self.pump.value if self.pump is not None else 0.0
        self.readings[n + 1] = self.p_return_kpa + self.dp_max_kpa * (speed / 100.0) ** 2

    def _thermal_step(self):
        a = self.dt_ms / 1000.0 / self.tau_s
        self.t_supply_c += (self.steady_c() - self.t_supply_c) * a
        self._publish()


class SimWatchdog(hal.Watchdog):
    def __init__(self, clock, timeout_ms):
        self.clock = clock
        self.timeout_ms = timeout_ms
        self.last_ms = clock.ticks_ms()
        self.fed = 0
        self.bitten = False

    def feed(self):
        self.check()
        self.last_ms = self.clock.ticks_ms()
        self.fed += 1

    def check(self):
        """True (and remembered) once the board would have been reset."""
        if self.clock.ticks_diff(self.clock.ticks_ms(), self.last_ms) > self.timeout_ms:
            self.bitten = True
        return self.bitten


class SimEntrance(_Plant):
    """Thermal plant: return temperature per valve, first order plus transport delay.

    Steady state for valve i at opening u (0-100 %): flow f = g_i * max(u, 2) / 100 times a
    differential-pressure factor that grows as the other valves close; the branch cools the
    water towards t_room: t_ss = t_room + (t_supply - t_room) * exp(-ua_i / f).
    """

    def __init__(
        self,
        valves,
        ua,
        g=None,
        t_supply_c=60.0,
        t_room_c=20.0,
        tau_s=600.0,
        delay_s=120.0,
        coupling=0.3,
        dt_s=5.0,
        t_outdoor_c=0.0,
    ):
        self.valves = valves
        self.n = len(valves)
        self.ua = ua
        self.g = g or [1.0] * self.n
        self.t_supply_c = t_supply_c
        self.t_room_c = t_room_c
        self.tau_s = tau_s
        self.coupling = coupling
        self.dt_ms = int(dt_s * 1000)
        self._slots = max(1, int(delay_s / dt_s))
        self.t_return_c = [self.steady_c(i) for i in range(self.n)]
        self._delay = [list(self.t_return_c) for _ in range(self._slots)]
        self._k = 0
        self._acc_ms = 0
        # readings the probes look at:
        # [t_return per valve..., t_supply, p_supply, p_return, t_room, t_outdoor]
        self.readings = self.t_return_c + [t_supply_c, 400.0, 250.0, t_room_c, t_outdoor_c]

    def steady_c(self, i):
        mean_u = 0.0
        for v in self.valves:
            mean_u += v.pos_pct
        mean_u /= self.n
        dp_factor = 1.0 + self.coupling * (1.0 - mean_u / 100.0)
        flow = self.g[i] * max(self.valves[i].pos_pct, 2.0) / 100.0 * dp_factor
        return self.t_room_c + (self.t_supply_c - self.t_room_c) * math.exp(-self.ua[i] / flow)

    def _thermal_step(self):
        old = self._delay[self._k]
        new = [self.steady_c(i) for i in range(self.n)]
        self._delay[self._k] = new
        self._k = (self._k + 1) % self._slots
        a = self.dt_ms / 1000.0 / self.tau_s
        for i in range(self.n):
            self.t_return_c[i] += (old[i] - self.t_return_c[i]) * a
            self.readings[i] = self.t_return_c[i]


def sim_board_def(
    n_valves=4, stroke_s=60.0, backlash_pct=0.0, failsafe_opening_pct=40.0, n_rooms=0
):
    """A board definition (port "unix") with an entrance valve and n_valves - 1 households,
    and n_rooms room probes wired to the board (`rooms`: ids "room1"..., sensors
    "t_room_room1"... of type "sim")."""
    valves = []
    sensors = {}
    for i in range(n_valves):
        vid = "entrance" if i == 0 else "hh{}".format(i)
        probe = "t_ret_" + vid
        sensors[probe] = {"type": "sim"}
        valves.append(
            {
                "id": vid,
                "actuator": {"type": "sim"},
                "feedback": {"type": "sim"},
                "return_probe": probe,
                "stroke_s": stroke_s,
                "angle_closed_deg": 20.0,
                "angle_open_deg": 110.0,
                "backlash_pct": backlash_pct,
            }
        )
    sensors["t_supply"] = {"type": "sim"}
    sensors["p_supply"] = {"type": "sim"}
    sensors["p_return"] = {"type": "sim"}
    rooms = []
    for i in range(n_rooms):
        rid = "room{}".format(i + 1)
        sensors["t_room_" + rid] = {"type": "sim"}
        rooms.append({"id": rid, "sensor": "t_room_" + rid})
    board = {
        "format": 1,
        "board": "sim-entrance",
        "port": "unix",
        "watchdog_ms": 8000,
        "failsafe_opening_pct": failsafe_opening_pct,
        "valves": valves,
        "sensors": sensors,
        "entrance": {"t_supply": "t_supply", "p_supply": "p_supply", "p_return": "p_return"},
    }
    if rooms:
        board["rooms"] = rooms
    return board


class SimBoard:
    """Simulated hardware for a validated board definition, plus its plant and clock.

    `ua` per valve sets where each branch's return temperature sits; `valve_kw` goes to every
    SimValve (stroke_s, backlash_pct, start_pct). Room probes (`board["rooms"]`) read the
    plant's room temperature, each with its own bias; the `t_outdoor` probe the outdoor one.
    """

    def __init__(
        self, board, ua=None, fs_root="", tau_s=600.0, delay_s=120.0, noise=0.03, start_pct=50.0
    ):
        self.clock = ManualClock()
        self.board = board
        n = len(board["valves"])
        self.valves = [
            SimValve(v["stroke_s"], v.get("backlash_pct", 0.0), start_pct) for v in board["valves"]
        ]
        station = board.get("station")
        io = station.get("io") if station is not None else None
        self.outputs = {}
        for name, spec in board.get("outputs", {}).items():
            self.outputs[name] = SimAnalogOut(spec["safe_pct"])
        if io is not None:  # a board at the station: its heat exchanger
            ids = [v["id"] for v in board["valves"]]
            hx = SimStation(self.valves, ids.index(io["primary_valve"]))
            hx.pump = self.outputs[io["pump_speed"]]
            self.plant = hx  # type: SimStation | SimEntrance
        else:
            self.plant = SimEntrance(self.valves, ua or [0.5] * n, tau_s=tau_s, delay_s=delay_s)
        self.watchdog = SimWatchdog(self.clock, board["watchdog_ms"])
        actuators = {}
        angles = {}
        sensors = {}
        self.probes = {}
        for i, v in enumerate(board["valves"]):
            actuators[v["id"]] = SimActuator(self.valves[i])
            angles[v["id"]] = SimAngle(
                self.valves[i], v["angle_closed_deg"], v["angle_open_deg"], seed=7 + i
            )
            sensors[v["return_probe"]] = SimProbe(self.plant.readings, i, noise, seed=11 + i)
        extra = {"t_supply": n, "p_supply": n + 1, "p_return": n + 2}
        for role, name in board.get("entrance", {}).items():
            if role == "t_outdoor":
                extra[name] = n + 4
        at = {"t_supply": n, "p_supply": n + 1, "p_return": n + 2, "t_outdoor": n + 4}
        at["t_return"] = n + 5
        for role, name in io_roles(station):  # the station's probes (SimStation.readings)
            extra[name] = at[role]
        for i, room in enumerate(board.get("rooms", [])):
            sensors[room["sensor"]] = SimProbe(
                self.plant.readings, n + 3, noise, bias=0.3 * (i % 7 - 3), step=0.1, seed=70 + i
            )
        for name in board["sensors"]:
            if name not in sensors:
                sensors[name] = SimProbe(
                    self.plant.readings,
                    extra.get(name, n),
                    noise,
                    step=0.0,
                    seed=40 + len(sensors),
                )
        self.probes = sensors
        self.angles = angles
        self.actuators = actuators
        self.hw = hal.Hardware(
            self.clock, actuators, angles, sensors, (), self.watchdog, fs_root, self.outputs
        )

    def run(self, app, duration_ms, max_step_ms=1000):
        """Advance app and plant together for duration_ms of simulated time."""
        end = self.clock.now_ms + duration_ms
        while self.clock.now_ms < end:
            wait = app.poll()
            dt = max(1, min(wait, max_step_ms, end - self.clock.now_ms))
            self.plant.advance(dt)
            self.clock.advance(dt)
