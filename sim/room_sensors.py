"""Room temperature sensors in some households: which flats carry one, and what they read.

A scenario's ``"rooms"`` section (`RoomSensorSpec`) says how many households carry a room
sensor and how good the sensors are; everything else is drawn from the scenario's seed on
streams of its own (``np.random.default_rng([seed, 13])`` for the choice and the per-sensor
draws, ``[seed, 13, 1]`` for the fault schedule, ``[seed, 13, 2]`` for the window-sill
swings), so adding sensors changes no other random draw of a run.

**Which households** (`choose`), as an installer would: about ``share`` of the households,
allotted to buildings in proportion to their size (largest remainder, ties broken by the seed);
in each building one household of each type present first (the representative types:
top_gable, top, gable, middle, ground, unheated_neighbours; when a building's share is smaller
than its number of types, the types with the fewest sensors in the estate so far go first, so
that every type is covered across the estate), then the rest spread over the floors and
entrances (each next sensor goes to the floor, then the entrance, with the fewest sensors of
the building so far; the seed breaks ties). Within a type the same rule picks the flat. At
most 32 per entrance (`shared.protocol.MAX_ROOMS`).

**What a sensor reads.** The board's probe (edge.simhw's `SimProbe`, sensor type "sim") reads a
value the runner refreshes every plant step (`RoomSensorField.source_c`) and adds the sensor's
own errors: uniform noise within ±``noise_c``, a bias drawn per sensor (normal, sd
``bias_sd_c``) and quantisation to ``step_c``. Faults come from a seeded schedule: open and
short (the probe reports SimProbe's fault codes, the board says ``sensor_ok`` false and no
value) and stuck (the value freezes with no fault flagged).

A sensor on a **window sill** (a share ``window_sill_share`` of them, as installed by tenants
who put it "out of the way") reads a mix of the room and outdoor temperatures with fast
swings::

    T_read = lag[(1 - w) · T_room + w · T_out] + s(t)

``w`` is drawn per sensor in ``window_sill_mix`` (the cold pane and the draught below it), and
is ``window_open_mix`` while the flat's window is open; ``lag`` is the sensor's first-order
response (time constant ``window_sill_lag_s``: an opened window pulls it down over minutes,
not in one sample); ``s`` is an Ornstein-Uhlenbeck process (standard deviation
``window_sill_swing_c``, time constant ``window_sill_tau_s``: draughts, sun on the pane, the
radiator's plume behind a drawn curtain). Both are updated exactly every step.
Every other sensor reads the room's air temperature (the plant's truth), which never reaches a
board or the host otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge import hal
from sim.devices import FaultEpisode
from sim.estate import Estate

#: Representative household types, in the order an installer covers them in a building.
TYPE_ORDER = ("top_gable", "top", "gable", "middle", "ground", "unheated_neighbours")
#: Room sensors one board reports (shared.protocol.MAX_ROOMS).
MAX_PER_ENTRANCE = 32


def sensor_id(household_id: str, entrance_id: str) -> str:
    """The protocol identifier of a household's room sensor on its entrance board: ``r-`` and
    the household's id within the entrance (B0E1F3H1 on B0E1 → ``r-F3H1``)."""
    return "r-" + household_id.removeprefix(entrance_id)


@dataclass(frozen=True)
class RoomFaults:
    """Fault rates per sensor and day, and how long an open or short lasts (s)."""

    open_per_day: float = 0.002
    short_per_day: float = 0.001
    duration_s: tuple[float, float] = (3600.0, 2 * 86400.0)

    def __post_init__(self) -> None:
        if self.open_per_day < 0 or self.short_per_day < 0:
            raise ValueError("fault rates must not be negative")
        lo, hi = self.duration_s
        if not 0 < lo <= hi:
            raise ValueError("duration_s must be [low, high] with 0 < low <= high")


@dataclass(frozen=True)
class RoomSensorSpec:
    """A scenario's ``"rooms"`` section (units in the names)."""

    share: float = 0.1  # of the households
    noise_c: float = 0.1  # uniform within ±noise_c (SimProbe's noise)
    bias_sd_c: float = 0.3  # each sensor's own offset, normal
    step_c: float = 0.1  # resolution
    faults: RoomFaults = field(default_factory=RoomFaults)
    stuck_per_day: float = 0.002  # the value freezes, no fault flagged
    stuck_duration_s: tuple[float, float] = (6 * 3600.0, 3 * 86400.0)
    window_sill_share: float = 0.02  # of the sensors
    window_sill_mix: tuple[float, float] = (0.1, 0.3)  # weight of the outdoor temperature
    window_open_mix: float = 0.6  # ... while the flat's window is open
    window_sill_swing_c: float = 1.0
    window_sill_tau_s: float = 900.0
    window_sill_lag_s: float = 300.0  # the sensor's own time constant there

    def __post_init__(self) -> None:
        if isinstance(self.faults, dict):  # a scenario file's nested section
            raise ValueError("faults must be a RoomFaults")
        for name in ("share", "window_sill_share", "window_open_mix"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1")
        for name in ("noise_c", "bias_sd_c", "step_c", "stuck_per_day", "window_sill_swing_c"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        lo, hi = self.window_sill_mix
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError("window_sill_mix must be [low, high] within 0..1")
        lo, hi = self.stuck_duration_s
        if not 0 < lo <= hi:
            raise ValueError("stuck_duration_s must be [low, high] with 0 < low <= high")
        if self.window_sill_tau_s <= 0 or self.window_sill_lag_s <= 0:
            raise ValueError("window_sill_tau_s and window_sill_lag_s must be positive")


#: No room sensors (a scenario without a "rooms" section).
NO_ROOMS = RoomSensorSpec(share=0.0)


@dataclass(frozen=True)
class RoomSensors:
    """The room sensors of an estate, in household order; arrays are one entry per sensor."""

    spec: RoomSensorSpec
    households: np.ndarray  # household index (into network.households), ascending
    units: tuple[str, ...]  # the entrance board that reports it
    ids: tuple[str, ...]  # its sensor id on that board
    bias_c: np.ndarray
    seeds: np.ndarray  # of each probe's noise generator
    window_sill: np.ndarray  # bool
    sill_mix: np.ndarray  # w of the window-sill model (0 for the others)
    seed: int = 0

    @property
    def count(self) -> int:
        return len(self.households)

    def mapping(self) -> dict[int, tuple[str, str]]:
        """Household index → (unit, sensor id): what the host's registry links."""
        return {
            int(h): (u, s) for h, u, s in zip(self.households, self.units, self.ids, strict=True)
        }

    def sensed(self) -> frozenset[int]:
        """Indices of the households with a room sensor."""
        return frozenset(int(h) for h in self.households)


def _allot(sizes: list[int], share: float, rng: np.random.Generator) -> list[int]:
    """Sensors per building: ``share`` of each, whole numbers by largest remainder."""
    quota = np.array(sizes, dtype=float) * share
    total = int(round(float(quota.sum())))
    base = np.floor(quota).astype(int)
    left = total - int(base.sum())
    if left > 0:
        frac = quota - base
        order = np.lexsort((rng.random(len(sizes)), -frac))
        base[order[:left]] += 1
    return [min(int(k), n) for k, n in zip(base, sizes, strict=True)]


def _in_building(
    estate: Estate,
    members: list[int],
    k: int,
    per_entrance: dict[str, int],
    per_type: dict[str, int],
    rng: np.random.Generator,
) -> list[int]:
    """``k`` households of one building: a representative of each type present first (the
    types with the fewest sensors in the estate so far first, then in TYPE_ORDER), then the
    floor and the entrance with the fewest sensors so far, ties broken by the seed."""
    hhs = estate.network.households
    tiebreak = dict(zip(members, rng.random(len(members)), strict=True))
    on_floor: dict[int, int] = {}
    on_entrance: dict[str, int] = {}
    mine: list[int] = []

    def score(i: int) -> tuple[int, int, float]:
        return (
            on_floor.get(int(estate.floor[i]), 0),
            on_entrance.get(hhs[i].entrance, 0),
            float(tiebreak[i]),
        )

    def free(i: int) -> bool:
        return i not in mine and per_entrance.get(hhs[i].entrance, 0) < MAX_PER_ENTRANCE

    def take(cands: list[int]) -> None:
        i = min(cands, key=score)
        mine.append(i)
        e = hhs[i].entrance
        f = int(estate.floor[i])
        on_floor[f] = on_floor.get(f, 0) + 1
        on_entrance[e] = on_entrance.get(e, 0) + 1
        per_entrance[e] = per_entrance.get(e, 0) + 1
        t = estate.household_type[i]
        per_type[t] = per_type.get(t, 0) + 1

    for t in sorted(TYPE_ORDER, key=lambda t: (per_type.get(t, 0), TYPE_ORDER.index(t))):
        if len(mine) >= k:
            break
        cands = [i for i in members if estate.household_type[i] == t and free(i)]
        if cands:
            take(cands)
    while len(mine) < k:
        cands = [i for i in members if free(i)]
        if not cands:
            break
        take(cands)
    return mine


def choose(estate: Estate, spec: RoomSensorSpec, seed: int) -> RoomSensors:
    """The households that carry a room sensor and each sensor's own draws (module doc)."""
    rng = np.random.default_rng([seed, 13])
    net = estate.network
    building_of = {e.id: e.building for e in net.entrances}
    by_building: dict[str, list[int]] = {}
    for i, h in enumerate(net.households):
        by_building.setdefault(building_of[h.entrance], []).append(i)
    buildings = list(by_building)
    budget = _allot([len(by_building[b]) for b in buildings], spec.share, rng)
    chosen: list[int] = []
    per_entrance: dict[str, int] = {}
    per_type: dict[str, int] = {}
    for b, k in zip(buildings, budget, strict=True):
        chosen += _in_building(estate, by_building[b], k, per_entrance, per_type, rng)
    idx = np.array(sorted(chosen), dtype=np.int64)
    n = len(idx)
    bias = rng.normal(0.0, spec.bias_sd_c, n) if spec.bias_sd_c > 0 else np.zeros(n)
    seeds = rng.integers(1, 2**30, n)
    sill = rng.random(n) < spec.window_sill_share
    mix = np.where(sill, rng.uniform(*spec.window_sill_mix, n), 0.0)
    hs = [net.households[int(i)] for i in idx]
    return RoomSensors(
        spec,
        idx,
        tuple(h.entrance for h in hs),
        tuple(sensor_id(h.id, h.entrance) for h in hs),
        bias,
        seeds,
        sill,
        mix,
        seed,
    )


def no_sensors(seed: int = 0) -> RoomSensors:
    """An estate without room sensors."""
    empty = np.zeros(0)
    return RoomSensors(
        NO_ROOMS,
        np.zeros(0, dtype=np.int64),
        (),
        (),
        empty,
        np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=bool),
        empty,
        seed,
    )


class RoomSensorField:
    """The room sensors during a run: what each probe's source reads every plant step (the
    window-sill model) and the faults in force (a seeded schedule over ``duration_s``)."""

    def __init__(self, sensors: RoomSensors, duration_s: float):
        self.sensors = sensors
        spec = sensors.spec
        n = sensors.count
        rng = np.random.default_rng([sensors.seed, 13, 1])
        self.episodes: list[FaultEpisode] = []
        kinds = (
            (spec.faults.open_per_day, hal.F_OPEN, False, spec.faults.duration_s),
            (spec.faults.short_per_day, hal.F_SHORT, False, spec.faults.duration_s),
            (spec.stuck_per_day, hal.OK, True, spec.stuck_duration_s),
        )
        for rate, code, freeze, (lo, hi) in kinds:
            k = int(rng.poisson(rate * n * duration_s / 86400.0)) if n else 0
            for _ in range(k):
                self.episodes.append(
                    FaultEpisode(
                        int(rng.integers(0, n)),
                        float(rng.uniform(0.0, duration_s)),
                        float(rng.uniform(lo, hi)),
                        code,
                        freeze,
                    )
                )
        self._swing_rng = np.random.default_rng([sensors.seed, 13, 2])
        self._sill = np.flatnonzero(sensors.window_sill)
        self._swing = self._swing_rng.normal(0.0, spec.window_sill_swing_c, len(self._sill))
        self._time_s: float | None = None
        self._lagged: np.ndarray | None = None

    def source_c(
        self, time_s: float, t_room_c: np.ndarray, t_out_c: float, window_open: np.ndarray
    ) -> np.ndarray:
        """What each sensor's probe reads at ``time_s`` (before its own noise, bias and
        steps), one entry per sensor; the window-sill swings advance to ``time_s``."""
        s = self.sensors
        x = np.asarray(t_room_c, dtype=float)[s.households]
        if len(self._sill) == 0:
            return x
        spec = s.spec
        hi = s.households[self._sill]
        w = np.where(np.asarray(window_open, dtype=bool)[hi], spec.window_open_mix, 0.0)
        w = np.maximum(w, s.sill_mix[self._sill])
        mixed = (1.0 - w) * x[self._sill] + w * t_out_c
        if self._lagged is None or self._time_s is None:
            self._lagged = mixed
        elif time_s > self._time_s:
            dt = time_s - self._time_s
            a = float(np.exp(-dt / spec.window_sill_tau_s))
            self._swing = self._swing * a + spec.window_sill_swing_c * np.sqrt(
                1.0 - a * a
            ) * self._swing_rng.standard_normal(len(self._sill))
            b = float(np.exp(-dt / spec.window_sill_lag_s))
            self._lagged = mixed + (self._lagged - mixed) * b
        self._time_s = time_s
        x = x.copy()
        x[self._sill] = self._lagged + self._swing
        return x

    def active(self, time_s: float) -> dict[int, FaultEpisode]:
        """Episodes in force at ``time_s``, by sensor index."""
        return {
            e.probe: e for e in self.episodes if e.start_s <= time_s < e.start_s + e.duration_s
        }
