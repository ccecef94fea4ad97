"""Return-temperature equalisation: the first balancing strategy.

All entrances of a station see the same supply temperature, so equal return temperatures
mean similar heat delivered per unit of need (the brochure's 智能回水). Each control period:

1. horizontal: every entrance's target is the flow-weighted mean return temperature of the
   station's entrances with fresh, plausible data, plus that entrance's offset;
2. vertical: where households have valves, each household's target is the flow-weighted mean
   of its entrance's households, plus the household's offset (positive for top-floor and gable
   flats: with the same supply and radiators sized by floor area, a flat that loses more heat
   needs a warmer radiator, i.e. more flow and a warmer return; room mode learns it instead,
   strategy/room_led.py).

Equalising to the mean alone has no anchor: a throttled valve lowers its return, the mean
falls, every target follows it down and the valves close a little more each period (the
simulator shows the whole station drifting shut). So the level is trimmed on the valves'
openings, as trim-and-respond does for air handlers: while the most open valve of a group is
below `open_valve_pct`, the group's targets rise (a higher return target opens valves) until
it is nearly fully open. The group then throttles as little as it can, and offsets are centred
on the group so that they shift valves against each other, never the group's level.

Targets move at most `max_step_c` per period and not at all for changes under `hysteresis_c`,
so they do not chase noise. A valve whose data are stale or implausible keeps its target, and
does not count in any mean. Every decision carries its inputs and a reason, for the audit.

Pure logic: no I/O, no clock (the caller passes `now_s`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

#: The default household-type offsets (degC by registry type; type_offsets.json says why).
TYPE_OFFSET_C: dict[str, float] = json.loads(
    Path(__file__).with_name("type_offsets.json").read_text()
)["offsets_c"]


@dataclass(frozen=True)
class StrategySettings:
    """Per-station settings (temperatures in degC, times in s)."""

    stale_after_s: float = 1800.0
    hysteresis_c: float = 0.3
    max_step_c: float = 2.0
    target_min_c: float = 25.0
    target_max_c: float = 60.0
    min_fresh_share: float = 0.5  # fewer fresh entrances than this share: hold everything
    plausible_min_c: float = 5.0  # a return outside this range is a sensor problem, not data
    plausible_max_c: float = 95.0
    open_valve_pct: float = 90.0  # the most open valve of a group is kept at least this open
    trim_c_per_pct: float = 0.1  # level trim per % the most open valve is below that
    saturated_pct: float = 97.0  # a valve this open is starved if its return is below level
    fast_beyond_c: float = 3.0  # a target this far from what it should be moves faster...
    fast_step_c: float = 4.0  # ...by up to this much per period (max_step_c once close)
    room_target_c: float = 20.0  # room mode (strategy/room_led.py): what rooms should be
    starved_max_c: float = 3.0  # how far below the mean a starved valve may pull the level
    room_floor_c: float = 18.0  # room mode: nobody below this (learning doubles below it)
    room_offset_gain_c_per_k_h: float = 0.08  # room mode: offset learned per hour per K
    room_max_se_c: float = 1.5  # room mode: a room less certain than this is not used

    def __post_init__(self) -> None:
        if self.stale_after_s <= 0 or self.hysteresis_c < 0 or self.max_step_c <= 0:
            raise ValueError("stale_after_s and max_step_c must be positive, hysteresis_c >= 0")
        if self.target_min_c >= self.target_max_c:
            raise ValueError("target_min_c must be below target_max_c")
        if not 0 < self.min_fresh_share <= 1:
            raise ValueError("min_fresh_share must be in (0, 1]")
        if self.fast_step_c < self.max_step_c or self.fast_beyond_c < 0:
            raise ValueError("fast_step_c must be >= max_step_c, fast_beyond_c >= 0")
        if self.room_floor_c > self.room_target_c:
            raise ValueError("room_floor_c must not be above room_target_c")
        if self.room_offset_gain_c_per_k_h < 0 or self.room_max_se_c <= 0:
            raise ValueError("room_offset_gain_c_per_k_h >= 0 and room_max_se_c > 0 required")


@dataclass(frozen=True)
class ValveReading:
    """What the host knows about one valve's loop: the latest plausible data and its target."""

    unit: str  # the board (entrance) the valve belongs to
    valve: str  # valve id on that board: "entrance" or a household valve id
    t_return_c: float | None  # None when the probe is bad
    flow_m3h: float | None  # weight in the mean; None means equal weights
    measured_at_s: float  # board timestamp of the reading
    target_c: float | None  # the target in force, None if never set
    offset_c: float = 0.0  # operator or household-type offset from the group mean
    opening_pct: float | None = None  # commanded opening, for the level trim
    household_type: str | None = None  # registry type ("top", "gable", ...), for the record


@dataclass(frozen=True)
class Decision:
    """One valve's new target and why."""

    unit: str
    valve: str
    old_target_c: float | None
    new_target_c: float | None
    reason: str  # "equalise", "hysteresis", "rate_limited", "stale", "no_fresh_group", ...
    group_mean_c: float | None
    inputs: dict = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return self.new_target_c is not None and self.new_target_c != self.old_target_c


def _fresh(reading: ValveReading, now_s: float, settings: StrategySettings) -> bool:
    t = reading.t_return_c
    return (
        t is not None
        and t == t  # not NaN
        and settings.plausible_min_c <= t <= settings.plausible_max_c
        and 0 <= now_s - reading.measured_at_s <= settings.stale_after_s
    )


def weighted_mean_c(readings: list[ValveReading]) -> float:
    """Flow-weighted mean return temperature; equal weights when any flow is unknown."""
    flows = [r.flow_m3h for r in readings]
    known = [f for f in flows if f is not None and f > 0]
    temps = [r.t_return_c for r in readings if r.t_return_c is not None]
    if len(temps) < len(readings):  # callers pass fresh readings only
        raise ValueError("weighted_mean_c: a reading without a return temperature")
    if len(known) == len(flows):
        return sum(t * f for t, f in zip(temps, known, strict=True)) / sum(known)
    return sum(temps) / len(temps)


def level_trim_c(readings: list[ValveReading], settings: StrategySettings) -> float:
    """How far to raise a group's targets so that its most open valve opens up (0 when some
    valve is already open enough, or when no opening is known)."""
    openings = [r.opening_pct for r in readings if r.opening_pct is not None]
    if not openings:
        return 0.0
    shortfall_pct = settings.open_valve_pct - max(openings)
    if shortfall_pct <= 0:
        return 0.0
    return min(settings.max_step_c, settings.trim_c_per_pct * shortfall_pct)


def starved_level_c(
    readings: list[ValveReading],
    offsets_c: list[float],
    level_c: float,
    settings: StrategySettings,
) -> float | None:
    """The level a group must come down to so that its starved valves can reach their
    targets, or None when no valve is starved.

    A valve is starved when it is (nearly) fully open and its return is still below the level
    plus its offset: it cannot take more, so the others must throttle until it can (the
    'respond' half of trim-and-respond). The level comes down to the lowest such return less
    its offset, but never more than ``starved_max_c`` below the group's level, so that one
    odd valve (a flat with its windows open) cannot strangle its neighbours."""
    lows = [
        r.t_return_c - off  # type: ignore[operator]
        for r, off in zip(readings, offsets_c, strict=True)
        if r.opening_pct is not None
        and r.opening_pct >= settings.saturated_pct
        and r.t_return_c - off < level_c  # type: ignore[operator]
    ]
    if not lows:
        return None
    return max(min(lows), level_c - settings.starved_max_c)


def _decide(
    reading: ValveReading,
    mean_c: float | None,
    level_c: float,
    offset_c: float,
    fresh: bool,
    settings: StrategySettings,
) -> Decision:
    inputs = {
        "t_return_c": reading.t_return_c,
        "flow_m3h": reading.flow_m3h,
        "measured_at_s": reading.measured_at_s,
        "offset_c": reading.offset_c,
        "opening_pct": reading.opening_pct,
        "centred_offset_c": offset_c,
        "level_c": level_c,
        "household_type": reading.household_type,
    }
    old = reading.target_c
    if not fresh:
        return Decision(reading.unit, reading.valve, old, old, "stale", mean_c, inputs)
    if mean_c is None:
        return Decision(reading.unit, reading.valve, old, old, "no_fresh_group", None, inputs)
    wanted = level_c + offset_c
    wanted = min(max(wanted, settings.target_min_c), settings.target_max_c)
    gap = abs(wanted - old) if old is not None else 0.0
    limit = settings.fast_step_c if gap > settings.fast_beyond_c else settings.max_step_c
    if old is None:
        new, reason = wanted, "equalise"
    elif gap < settings.hysteresis_c:
        new, reason = old, "hysteresis"
    elif gap > limit:
        new, reason = old + (limit if wanted > old else -limit), "rate_limited"
    else:
        new, reason = wanted, "equalise"
    return Decision(reading.unit, reading.valve, old, round(new, 2), reason, mean_c, inputs)


def equalise_group(
    readings: list[ValveReading], now_s: float, settings: StrategySettings
) -> list[Decision]:
    """Decide the targets of one group of valves that should share a return temperature."""
    fresh = [_fresh(r, now_s, settings) for r in readings]
    fresh_readings = [r for r, ok in zip(readings, fresh, strict=True) if ok]
    enough = readings and len(fresh_readings) >= settings.min_fresh_share * len(readings)
    mean_c = weighted_mean_c(fresh_readings) if fresh_readings and enough else None
    level_c = (mean_c or 0.0) + level_trim_c(fresh_readings, settings)
    mean_offset_c = sum(r.offset_c for r in readings) / len(readings) if readings else 0.0
    centred = [r.offset_c - mean_offset_c for r in readings]
    if mean_c is not None:
        low = starved_level_c(
            fresh_readings,
            [c for c, ok in zip(centred, fresh, strict=True) if ok],
            level_c,
            settings,
        )
        if low is not None:
            level_c = low
    return [
        _decide(r, mean_c, level_c, off, ok, settings)
        for r, off, ok in zip(readings, centred, fresh, strict=True)
    ]


def balance_station(
    entrances: list[ValveReading],
    households: dict[str, list[ValveReading]],
    now_s: float,
    settings: StrategySettings,
) -> list[Decision]:
    """Horizontal first (every entrance valve of the station), then vertical (the household
    valves of each entrance, grouped by unit)."""
    decisions = equalise_group(entrances, now_s, settings)
    for unit in sorted(households):
        decisions += equalise_group(households[unit], now_s, settings)
    return decisions
