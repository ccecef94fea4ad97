"""A virtual board: the real edge/ program (edge.app.App) on a hardware layer backed by the
plant.

Per entrance: a board definition in the simulated-hardware form of edge.simhw (port "unix",
actuator/feedback/sensor type "sim", validated by edge.boarddef) with the entrance valve and,
when the scenario fits them, one valve per household; edge.simhw's `SimValve`, `SimActuator`,
`SimAngle` and `SimProbe` with seeded imperfections (sim.devices). The probes read a list
the runner refreshes from the plant every plant step: return temperature per valve, then the
entrance's supply temperature and supply and return pressures, then (when fitted) each room
sensor's reading (sim.room_sensors: the room air, or the window-sill mix) and the outdoor
temperature. Room sensors are the board definition's ``rooms`` (``{"id": sensor id,
"sensor": probe name}``), an outdoor probe its ``entrance.t_outdoor`` role. Ground truth never
reaches the board: only probe readings do.

Simulation speed without changing the program: the tasks that only supervise (the watchdog
feeder, housekeeping) run every ``SUPERVISE_MS`` instead of every second, and an idle
positioner is polled every ``IDLE_POSITION_MS`` instead of every second, but right after
every control cycle (so a new command is acted on at once) and every 100 ms while a valve
moves, as on the board. Control, sampling and telemetry keep the board's own periods. Each
board's tasks start with a seeded phase offset, as boards that booted at different times.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge import boarddef, hal, positioner
from edge.app import App
from edge.clock import ManualClock
from edge.simhw import SimActuator, SimAngle, SimProbe, SimValve, sim_board_def
from sim.devices import DeviceSpec, FaultEpisode

#: Period of the supervising tasks in simulation (ms); on a board 1 s and 10 s.
SUPERVISE_MS = 60_000
#: Poll period of an idle positioner in simulation (ms); on a board 1 s.
IDLE_POSITION_MS = 60_000
#: Epoch of the simulated wall clock (s): 2026-11-22 00:00 UTC.
EPOCH_S = 1_795_305_600


#: Board sensor name of the outdoor probe.
OUTDOOR_SENSOR = "t_outdoor"


@dataclass(frozen=True)
class ProbeParams:
    """One simulated probe's own imperfections (SimProbe: uniform noise within ±noise_c, a
    bias, quantisation steps) and the seed of its noise."""

    noise_c: float
    bias_c: float
    step_c: float
    seed: int


def room_sensor_name(sensor: str) -> str:
    """The board sensor name of room sensor ``sensor``."""
    return "t_" + sensor


def board_definition(
    valve_ids: list[str],
    spec: DeviceSpec,
    sample_period_ms: int,
    targets_c: dict[str, float],
    failsafe_opening_pct: float,
    room_ids: Sequence[str] = (),
    outdoor: bool = False,
) -> dict[str, Any]:
    """A validated simulated board definition for these valves (first: the entrance):
    edge.simhw's `sim_board_def` with our valve ids, probe names, sample period and targets,
    room sensors ``room_ids`` (type "sim") and, with ``outdoor``, an outdoor probe."""
    board = sim_board_def(len(valve_ids), spec.stroke_s, spec.backlash_pct, failsafe_opening_pct)
    for valve, vid in zip(board["valves"], valve_ids, strict=True):
        board["sensors"]["t_" + vid] = board["sensors"].pop(valve["return_probe"])
        valve["id"] = vid
        valve["return_probe"] = "t_" + vid
    if room_ids:
        board["rooms"] = []
        for rid in room_ids:
            board["sensors"][room_sensor_name(rid)] = {"type": "sim"}
            board["rooms"].append({"id": rid, "sensor": room_sensor_name(rid)})
    if outdoor:
        board["sensors"][OUTDOOR_SENSOR] = {"type": "sim"}
        board["entrance"]["t_outdoor"] = OUTDOOR_SENSOR
    board["sample_period_ms"] = sample_period_ms
    board["targets"] = {vid: {"t_return_c": t} for vid, t in targets_c.items()}
    return boarddef.validate(board)


class VirtualBoard:
    """One entrance's board running edge.app.App against the plant."""

    def __init__(
        self,
        unit: str,
        valve_ids: list[str],
        spec: DeviceSpec,
        rng: np.random.Generator,
        fs_root: str,
        start_pct: float,
        targets_c: dict[str, float],
        sample_period_ms: int = 60_000,
        failsafe_opening_pct: float = 40.0,
        config: dict[str, Any] | None = None,
        phase_ms: int = 0,
        rooms: Sequence[tuple[str, ProbeParams]] = (),
        outdoor: ProbeParams | None = None,
    ):
        """``rooms``: (sensor id, probe) of each room sensor wired to the board; ``outdoor``:
        the outdoor probe, if fitted. Their parameters come from the caller (their own seeded
        streams), so fitting them changes none of the draws from ``rng``."""
        self.unit = unit
        self.valve_ids = valve_ids
        self.room_ids = [rid for rid, _ in rooms]
        #: each room sensor's index among the estate's sensors (the runner sets it)
        self.room_index = np.arange(len(rooms), dtype=np.int64)
        n = len(valve_ids)
        m = len(rooms)
        self.clock = ManualClock(0, EPOCH_S)
        self.board = board_definition(
            valve_ids,
            spec,
            sample_period_ms,
            targets_c,
            failsafe_opening_pct,
            self.room_ids,
            outdoor is not None,
        )
        self.readings = [40.0] * n + [60.0, 400.0, 300.0] + [20.0] * m
        if outdoor is not None:
            self.readings.append(0.0)
        self.valves = [SimValve(spec.stroke_s, spec.backlash_pct, start_pct) for _ in valve_ids]
        seeds = rng.integers(1, 2**30, 2 * n + 3)
        bias = rng.normal(0.0, spec.probe_bias_sd_c, n + 1)
        p_bias = rng.normal(0.0, spec.pressure_abs_error_kpa, 2)
        actuators: dict[str, hal.Actuator] = {}
        angles: dict[str, hal.AngleSensor] = {}
        self.probes: list[SimProbe] = []
        for i, vid in enumerate(valve_ids):
            actuators[vid] = SimActuator(self.valves[i])
            angles[vid] = SimAngle(
                self.valves[i], 20.0, 110.0, spec.angle_noise_deg, int(seeds[i])
            )
            self.probes.append(
                SimProbe(
                    self.readings,
                    i,
                    spec.probe_noise_c,
                    float(bias[i]),
                    spec.probe_step_c,
                    int(seeds[n + i]),
                )
            )
        sensors: dict[str, hal.Sensor] = {
            "t_" + vid: p for vid, p in zip(valve_ids, self.probes, strict=True)
        }
        sensors["t_supply"] = SimProbe(
            self.readings,
            n,
            spec.probe_noise_c,
            float(bias[n]),
            spec.probe_step_c,
            int(seeds[2 * n]),
        )
        for k, name in enumerate(("p_supply", "p_return")):
            sensors[name] = SimProbe(
                self.readings,
                n + 1 + k,
                spec.pressure_noise_kpa,
                float(p_bias[k]),
                0.0,
                int(seeds[2 * n + 1 + k]),
            )
        self.room_probes: list[SimProbe] = []
        for k, (rid, pp) in enumerate(rooms):
            probe = SimProbe(self.readings, n + 3 + k, pp.noise_c, pp.bias_c, pp.step_c, pp.seed)
            self.room_probes.append(probe)
            sensors[room_sensor_name(rid)] = probe
        self.outdoor_probe: SimProbe | None = None
        if outdoor is not None:
            self.outdoor_probe = SimProbe(
                self.readings,
                n + 3 + m,
                outdoor.noise_c,
                outdoor.bias_c,
                outdoor.step_c,
                outdoor.seed,
            )
            sensors[OUTDOOR_SENSOR] = self.outdoor_probe
        hw = hal.Hardware(self.clock, actuators, angles, sensors, (), None, fs_root)
        self.app = App(self.board, hw)
        self.app.state_every = 12  # PI state to "flash" hourly: the simulator's files are scratch
        self.event_counts = self._count_events()
        if config:
            ok, reason = self.app.apply_config(config)
            if not ok:
                raise ValueError(f"board {unit}: configuration refused: {reason}")
        self.records: list[dict[str, Any]] = []
        self.on_record: Callable[[str, dict[str, Any]], None] | None = None
        self.app.on_record = self._record
        self._kick = False
        self._tune_tasks(phase_ms)

    def _count_events(self) -> dict[str, int]:
        """Every event the board emits, by name (its ring keeps only the last 32)."""
        log = self.app.events
        counts: dict[str, int] = {}
        for name in log.names():  # emitted while the program started
            counts[name] = counts.get(name, 0) + 1
        emit = log.emit

        def counting(event: str, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
            counts[event] = counts.get(event, 0) + 1
            return emit(event, *args, **kwargs)

        log.emit = counting  # type: ignore[method-assign]
        return counts

    def _tune_tasks(self, phase_ms: int) -> None:
        sched = self.app.scheduler
        for task in sched.tasks:
            task.due_ms += phase_ms
            task.ok_ms += phase_ms
        for name in ("supervisor", "housekeeping"):
            task = sched.get(name)
            if task is not None:
                task.period_ms = max(task.period_ms, SUPERVISE_MS)
        pos = sched.get("position")
        ctl = sched.get("control")
        assert pos is not None and ctl is not None
        pos.period_ms = IDLE_POSITION_MS
        step_position = pos.fn
        run_control = ctl.fn

        def position() -> int:
            asked = step_position()
            return IDLE_POSITION_MS if asked == positioner.IDLE_TICK_MS else asked

        def control() -> None:
            run_control()
            pos.due_ms = self.clock.ticks_ms()
            self._kick = True

        pos.fn = position
        ctl.fn = control

    def _record(self, rec: dict[str, Any]) -> None:
        if self.on_record is not None:
            self.on_record(self.unit, rec)

    def set_readings(
        self,
        t_return_c: np.ndarray,
        t_supply_c: float,
        p_supply_kpa: float,
        p_return_kpa: float,
        t_room_c: Sequence[float] | np.ndarray | None = None,
        t_outdoor_c: float | None = None,
    ) -> None:
        """What the board's probes and transducers see until the next call: true values, and
        for the room sensors what each one's placement shows it (sim.room_sensors)."""
        r = self.readings
        n = len(self.valve_ids)
        r[:n] = [float(x) for x in t_return_c]
        r[n] = float(t_supply_c)
        r[n + 1] = float(p_supply_kpa)
        r[n + 2] = float(p_return_kpa)
        m = len(self.room_probes)
        if t_room_c is not None and m:
            r[n + 3 : n + 3 + m] = [float(x) for x in t_room_c]
        if t_outdoor_c is not None and self.outdoor_probe is not None:
            r[n + 3 + m] = float(t_outdoor_c)

    def apply_faults(self, active: dict[int, FaultEpisode]) -> None:
        """Force the probe faults in force now; clear the others."""
        for i, probe in enumerate(self.probes):
            ep = active.get(i)
            probe.force_fault = ep.code if ep is not None and not ep.freeze else hal.OK
            probe.freeze = ep is not None and ep.freeze

    def apply_room_faults(self, active: dict[int, FaultEpisode]) -> None:
        """Force the room-sensor faults in force now (by the board's room index)."""
        for i, probe in enumerate(self.room_probes):
            ep = active.get(i)
            probe.force_fault = ep.code if ep is not None and not ep.freeze else hal.OK
            probe.freeze = ep is not None and ep.freeze

    def room_readings(self) -> np.ndarray:
        """What each room sensor last reported (NaN while it flags a fault)."""
        return np.array(
            [p.value if p.fault == hal.OK else np.nan for p in self.room_probes], dtype=float
        )

    def run_until(self, end_ms: int) -> None:
        """Run the program and move the valves until the board clock reads ``end_ms``."""
        clock = self.clock
        app = self.app
        valves = self.valves
        while clock.now_ms < end_ms:
            wait = app.poll()
            if self._kick:  # a control cycle just commanded the positioners: step them now
                self._kick = False
                continue
            now = clock.now_ms
            dt = max(1, min(wait, end_ms - now))
            for v in valves:
                if v.direction != hal.STOP:
                    v.advance(dt)
            clock.advance(dt)

    def openings(self) -> np.ndarray:
        """Stem positions of the board's valves as fractions (entrance first)."""
        return np.array([v.pos_pct for v in self.valves]) / 100.0
