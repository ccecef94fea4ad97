"""In-process run: plant and virtual boards on one simulated clock, faster than real time.

Every plant step of ``dt_s``: the plant takes the valves' stem positions, solves and shows its
state at the step's start (sim.plant); each board's probes read that state (zero-order hold)
while the real edge program runs through the step on its own clock (sim.virtual_board); a
host strategy, if any, decides new targets every ``period_s`` from the boards' telemetry and
the heat meters; probe faults are switched on and off by the seeded schedule (sim.devices).

Control modes: ``none`` (no boards: valves stay at their initial openings, the unbalanced
estate as the operator runs it), ``local`` (boards hold their fixed targets), ``equalise``
(boards plus sim.host_strategy.EqualiseStrategy).

The result holds time series (every ``record_every_s``), the metrics (sim.metrics) over the
window after ``warmup_s``, the energy ledger and timings. It is ground truth: tests and
benchmarks read it, the strategy never does.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from host.control.strategy.equalise import TYPE_OFFSET_C
from sim.devices import FaultSchedule, HeatMeter
from sim.host_strategy import EqualiseStrategy, HostStrategy
from sim.metrics import MetricsAccumulator, energy_balance
from sim.plant import EnergyLedger, Plant, PlantOutputs
from sim.room_sensors import RoomSensorField
from sim.scenario import Scenario
from sim.station import StationCommand
from sim.virtual_board import EPOCH_S, ProbeParams, VirtualBoard

_MAX_BOARD_VALVES = 33


@dataclass
class Series:
    """Time series every ``record_every_s``; 2-D arrays are (n_records, n_elements)."""

    time_s: np.ndarray
    t_out_c: np.ndarray
    t_supply_station_c: np.ndarray
    t_return_station_c: np.ndarray
    pump_flow_m3h: np.ndarray
    pump_head_m: np.ndarray
    pump_speed: np.ndarray
    t_room_c: np.ndarray
    t_return_household_c: np.ndarray
    household_flow_m3h: np.ndarray
    household_opening: np.ndarray
    t_return_entrance_c: np.ndarray
    entrance_flow_m3h: np.ndarray
    entrance_opening: np.ndarray
    # what each room sensor reported at the end of the step (NaN: a fault, or no boards),
    # columns in the order of RunResult.room_households
    t_room_sensor_c: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    @classmethod
    def empty(cls, n: int, n_e: int, n_h: int, n_rooms: int = 0) -> Series:
        one = {
            k: np.zeros(n)
            for k in (
                "time_s",
                "t_out_c",
                "t_supply_station_c",
                "t_return_station_c",
                "pump_flow_m3h",
                "pump_head_m",
                "pump_speed",
            )
        }
        hh = {
            k: np.zeros((n, n_h), dtype=np.float32)
            for k in (
                "t_room_c",
                "t_return_household_c",
                "household_flow_m3h",
                "household_opening",
            )
        }
        ent = {
            k: np.zeros((n, n_e), dtype=np.float32)
            for k in ("t_return_entrance_c", "entrance_flow_m3h", "entrance_opening")
        }
        rooms = np.full((n, n_rooms), np.nan, dtype=np.float32)
        return cls(**one, **hh, **ent, t_room_sensor_c=rooms)

    def put(self, i: int, out: PlantOutputs, ent_open: np.ndarray, hh_open: np.ndarray) -> None:
        fl = out.flows
        self.time_s[i] = out.time_s
        self.t_out_c[i] = out.t_out_c
        self.t_supply_station_c[i] = out.t_supply_station_c
        self.t_return_station_c[i] = out.t_return_station_c
        self.pump_flow_m3h[i] = fl.pump_flow_m3h
        self.pump_head_m[i] = fl.pump_head_m
        self.pump_speed[i] = out.pump_speed
        self.t_room_c[i] = out.t_room_c
        self.t_return_household_c[i] = out.t_return_household_c
        self.household_flow_m3h[i] = fl.household_flow_m3h
        self.household_opening[i] = hh_open
        self.t_return_entrance_c[i] = out.t_return_entrance_c
        self.entrance_flow_m3h[i] = fl.entrance_flow_m3h
        self.entrance_opening[i] = ent_open

    def save(self, path: Path) -> None:
        np.savez_compressed(path, **vars(self))


@dataclass
class RunResult:
    """What a run produced (ground truth included)."""

    scenario: str
    seed: int
    days: float
    control: str
    series: Series
    metrics: dict[str, Any]
    ledger: EnergyLedger
    balance: dict[str, float]
    wall_s: float
    steps: int
    hydraulic_solves: int
    hydraulic_iterations: int
    board_events: dict[str, int] = field(default_factory=dict)
    #: household indices with a room sensor (ascending; the columns of t_room_sensor_c)
    room_households: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: household index -> (unit, sensor id)
    room_sensors: dict[int, tuple[str, str]] = field(default_factory=dict)

    def unsensed(self) -> np.ndarray:
        """Household indices without a room sensor (where estimates are judged)."""
        mask = np.ones(self.series.t_room_c.shape[1], dtype=bool)
        mask[self.room_households] = False
        return np.flatnonzero(mask)

    def summary(self) -> dict[str, Any]:
        """Metrics, balance and run figures as one flat dict (JSON-ready)."""
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "days": self.days,
            "control": self.control,
            **self.metrics,
            **self.balance,
            "wall_s": self.wall_s,
            "steps": self.steps,
            "steps_per_s": self.steps / max(self.wall_s, 1e-9),
            "hydraulic_solves": self.hydraulic_solves,
            "hydraulic_iterations": self.hydraulic_iterations,
            "board_events": self.board_events,
        }


def keep_record(records: dict[str, dict[str, Any]], unit: str, rec: dict[str, Any]) -> None:
    """Keep ``rec`` as ``unit``'s latest record; a rooms-only record (edge.app.App.records
    splits one that would not fit in a payload) updates the rooms of the latest one instead."""
    if not rec.get("valves") and unit in records:
        records[unit] = {**records[unit], "rooms": rec.get("rooms", [])}
    else:
        records[unit] = rec


def make_boards(scn: Scenario, root: str) -> tuple[list[VirtualBoard], list[np.ndarray]]:
    """One board per entrance; the household indices of each board's household valves.

    The entrance board of each household with a room sensor reports it (``rooms``, in the
    order of ``scn.rooms``; ``board.room_index`` holds their sensor indices); the outdoor
    probe goes on the first entrance's board, on every board or none
    (``BoardSettings.outdoor_probe``). Their draws come from streams of their own
    (sim.room_sensors; ``[seed, 14]`` for the outdoor probes): fitting them changes nothing
    else of a run."""
    net = scn.estate.network
    bs = scn.boards
    rng = np.random.default_rng([scn.seed, 7])
    out_rng = np.random.default_rng([scn.seed, 14])
    hh_of = {e.id: [] for e in net.entrances}  # type: dict[str, list[int]]
    for i, h in enumerate(net.households):
        hh_of[h.entrance].append(i)
    rs = scn.rooms
    rooms_of: dict[str, list[int]] = {e.id: [] for e in net.entrances}
    for k, unit in enumerate(rs.units):
        rooms_of[unit].append(k)
    dev = scn.devices
    boards, idx = [], []
    period_ms = int(bs.config.get("control_period_s", 300)) * 1000
    for n_board, e in enumerate(net.entrances):
        rooms = [
            (
                rs.ids[k],
                ProbeParams(
                    rs.spec.noise_c, float(rs.bias_c[k]), rs.spec.step_c, int(rs.seeds[k])
                ),
            )
            for k in rooms_of[e.id]
        ]
        outdoor = None
        if bs.outdoor_probe == "every" or (bs.outdoor_probe == "first" and n_board == 0):
            outdoor = ProbeParams(
                dev.probe_noise_c,
                float(out_rng.normal(0.0, dev.probe_bias_sd_c)),
                dev.probe_step_c,
                int(out_rng.integers(1, 2**30)),
            )
        mine = hh_of[e.id] if bs.household_valves else []
        mine = mine[: _MAX_BOARD_VALVES - 1]
        ids = ["entrance"] + [net.households[i].id.removeprefix(e.id) for i in mine]
        targets = {"entrance": bs.entrance_target()}
        targets.update({vid: bs.household_target_c for vid in ids[1:]})
        folder = Path(root) / e.id
        folder.mkdir(parents=True, exist_ok=True)
        boards.append(
            VirtualBoard(
                e.id,
                ids,
                scn.devices,
                rng,
                str(folder) + "/",
                bs.initial_opening_pct,
                targets,
                bs.sample_period_ms,
                bs.failsafe_opening_pct,
                bs.config or None,
                phase_ms=int(rng.integers(0, period_ms)),
                rooms=rooms,
                outdoor=outdoor,
            )
        )
        boards[-1].room_index = np.array(rooms_of[e.id], dtype=np.int64)
        idx.append(np.array(mine, dtype=np.int64))
    return boards, idx


def step_boards(
    boards: list[VirtualBoard],
    hh_idx: list[np.ndarray],
    out: PlantOutputs,
    end_ms: int,
    ent_open: np.ndarray,
    hh_open: np.ndarray,
    faults: list[FaultSchedule] | None = None,
    rooms: RoomSensorField | None = None,
) -> None:
    """Show every board the plant's state, run it to ``end_ms``, read its valves back into
    ``ent_open`` / ``hh_open`` (in place). ``rooms``: the room sensors' placement model and
    fault schedule (sim.room_sensors)."""
    fl = out.flows
    t_rooms = None
    room_faults: dict[int, Any] = {}
    if rooms is not None and rooms.sensors.count:
        t_rooms = rooms.source_c(out.time_s, out.t_room_c, out.t_out_c, out.window_open)
        room_faults = rooms.active(out.time_s)
    for i, b in enumerate(boards):
        hi = hh_idx[i]
        t_ret = np.concatenate(([out.t_return_entrance_c[i]], out.t_return_household_c[hi]))
        ri = b.room_index
        b.set_readings(
            t_ret,
            out.t_supply_entrance_c[i],
            fl.entrance_p_supply_kpa[i],
            fl.entrance_p_return_kpa[i],
            t_rooms[ri] if t_rooms is not None and len(ri) else None,
            out.t_out_c,
        )
        if faults is not None:
            b.apply_faults(faults[i].active(out.time_s))
        if len(ri):
            b.apply_room_faults(
                {j: room_faults[int(k)] for j, k in enumerate(ri) if int(k) in room_faults}
            )
        b.run_until(end_ms)
        x = b.openings()
        ent_open[i] = x[0]
        hh_open[hi] = x[1:]


def run(
    scn: Scenario,
    strategy: HostStrategy | None = None,
    record_every_s: float = 600.0,
    warmup_s: float | None = None,
    cold_hydraulics: bool = False,
) -> RunResult:
    """Run ``scn`` for its days in process. ``strategy`` overrides the scenario's control."""
    t0 = time.perf_counter()
    net = scn.estate.network
    dt = scn.dt_s
    n_steps = int(round(scn.days * 86400.0 / dt))
    warm = (
        (86400.0 if scn.days > 1.5 else 0.25 * scn.days * 86400.0)
        if warmup_s is None
        else (warmup_s)
    )
    plant = Plant(scn.estate, scn.weather, scn.station, dt, cold_hydraulics)
    n_e, n_h = plant.n_e, plant.n_h
    ent_open = np.array([e.valve.opening for e in net.entrances])
    hh_open = np.array([h.valve.opening if h.valve else 1.0 for h in net.households])
    rec_every = max(1, int(round(record_every_s / dt)))
    rs = scn.rooms
    series = Series.empty(-(-n_steps // rec_every), n_e, n_h, rs.count)
    room_field = RoomSensorField(rs, n_steps * dt)
    acc = MetricsAccumulator(n_e, n_h)
    control = scn.control if strategy is None else "strategy"
    if strategy is None and control == "equalise":
        offsets = {
            f"{h.entrance}/{h.id.removeprefix(h.entrance)}": TYPE_OFFSET_C.get(t, 0.0)
            for h, t in zip(net.households, scn.estate.household_type, strict=True)
        }
        types = {
            f"{h.entrance}/{h.id.removeprefix(h.entrance)}": t
            for h, t in zip(net.households, scn.estate.household_type, strict=True)
        }
        strategy = EqualiseStrategy(offsets, household_types=types)
    rng = np.random.default_rng([scn.seed, 11])
    meters = HeatMeter(n_e, scn.devices, rng)
    tmp = tempfile.TemporaryDirectory(prefix="evenheat-sim-")
    boards: list[VirtualBoard] = []
    hh_idx: list[np.ndarray] = []
    faults: list[FaultSchedule] = []
    records: dict[str, dict[str, Any]] = {}
    if control != "none":
        boards, hh_idx = make_boards(scn, tmp.name)
        faults = [FaultSchedule(len(b.valve_ids), n_steps * dt, scn.devices, rng) for b in boards]
        for b in boards:
            b.on_record = lambda unit, rec: keep_record(records, unit, rec)
    next_host_s = strategy.period_s if strategy is not None else float("inf")
    try:
        for k in range(n_steps):
            out = plant.step(ent_open, hh_open)
            if k % rec_every == 0:
                series.put(k // rec_every, out, ent_open, hh_open)
            if out.time_s >= warm:
                if acc.ledger_start is None:
                    acc.ledger_start = EnergyLedger(**vars(plant.ledger))
                acc.add(out, dt)
            end_ms = int(round((k + 1) * dt * 1000.0))
            fl = out.flows
            step_boards(boards, hh_idx, out, end_ms, ent_open, hh_open, faults, room_field)
            if k % rec_every == 0 and rs.count and boards:
                reported = series.t_room_sensor_c[k // rec_every]
                for b in boards:
                    if len(b.room_index):
                        reported[b.room_index] = b.room_readings()
            now_s = (k + 1) * dt
            if strategy is not None and now_s >= next_host_s:
                next_host_s += strategy.period_s
                flows = meters.flow_m3h(fl.entrance_flow_m3h)
                meter = {e.id: float(g) for e, g in zip(net.entrances, flows, strict=True)}
                decision = strategy.decide(EPOCH_S + now_s, records, meter)
                by_unit = {b.unit: b for b in boards}
                for unit, targets in decision.targets.items():
                    board = by_unit[unit]
                    board.app.apply_targets(targets, board.app.targets_version + 1)
                if decision.pump_speed is not None or decision.t_supply_c is not None:
                    plant.command = StationCommand(
                        plant.time_s, decision.pump_speed, decision.t_supply_c
                    )
    finally:
        tmp.cleanup()
    events: dict[str, int] = {}
    for b in boards:
        for name, n in b.event_counts.items():
            events[name] = events.get(name, 0) + n
    return run_result(
        scn,
        control,
        series,
        acc,
        plant,
        t0,
        board_events=events,
        room_households=rs.households.copy(),
        room_sensors=rs.mapping(),
    )


def run_result(
    scn: Scenario,
    control: str,
    series: Series,
    acc: MetricsAccumulator,
    plant: Plant,
    t0: float,
    **extra: Any,  # noqa: ANN401
) -> RunResult:
    """The RunResult of a finished run of ``scn`` on ``plant`` (started at ``t0``)."""
    return RunResult(
        scenario=scn.name,
        seed=scn.seed,
        days=scn.days,
        control=control,
        series=series,
        metrics=acc.summary(plant.ledger),
        ledger=plant.ledger,
        balance=energy_balance(plant.ledger),
        wall_s=time.perf_counter() - t0,
        steps=int(round(scn.days * 86400.0 / scn.dt_s)),
        hydraulic_solves=plant.flows.solves,
        hydraulic_iterations=plant.flows.iterations,
        **extra,
    )
