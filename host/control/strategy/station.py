"""Station strategies: the pump follows the valves, the supply temperature follows the weather.

Balancing shares the heat out; the station decides how much there is and what it costs to
move it. Quantity first, quality second, one decision per control period:

- **Pump follows the valves.** The balancer keeps the valves of every group nearly open
  (equalise.py's level trim), so surplus head becomes surplus flow and surplus heat. While
  nobody is cold or at risk (the coldest households above the comfort floor with a margin)
  and no saturated valve serves a room that is not warm, the pump comes down a step; as soon
  as valves are saturated with their households below target, it goes back up. After each
  change it holds (``hold_s``) so that returns and rooms can answer.
- **Weather compensation.** The supply set-point is the heating curve at the outdoor
  temperature (blended with the forecast where one is given, because a building answers
  hours late) plus an offset. The offset is trimmed only where the pump cannot help: up when
  many households are short with the pump at its maximum or valves starved; down when the
  station over-heats (the median room above ``warm_c``), or when even the coldest are warm
  with the pump at its minimum. So the pump is never lowered by starving rooms of
  temperature, and the supply is not lowered by forcing the pump up.

"The coldest households" is a robust figure: the ``coldest_rank``-th coldest believed room
(measured and plausible, or estimated with a small enough standard error), so one faulty or
misplaced sensor never drives the station. "At risk" counts an estimate's uncertainty: the
pump holds while a room's estimate less ``risk_se`` standard errors is near the floor. The
supply rises only when a share of the rooms (``short_share``) is short, never for a few
flats whose radiators are too small: their valves and the pump serve them, not everyone's
supply temperature.

Pure logic: no I/O, no clock (the caller passes ``now_s``); every decision carries its inputs
and a reason for the audit.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from host.control.strategy.room_led import Room
from host.errors import EvenheatError

#: Radiator exponent of the classical heating curve (EN 442).
RADIATOR_EXPONENT = 1.3


class StationSettingsError(EvenheatError, ValueError):
    """Settings or a heating curve the station cannot safely run."""

    reason = "bad-value"


@dataclass(frozen=True)
class HeatingCurve:
    """Supply temperature (degC) on outdoor temperature (degC), linear between points.

    ``points`` are (t_out_c, t_supply_c) pairs with t_out strictly ascending and the supply
    never rising with it (a warmer day never asks for hotter water)."""

    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        pts = self.points
        if len(pts) < 2:
            raise StationSettingsError("a heating curve needs at least two points")
        for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
            if not x1 > x0:
                raise StationSettingsError(
                    f"heating curve: outdoor temperatures must ascend ({x0} then {x1})"
                )
            if y1 > y0:
                raise StationSettingsError(
                    f"heating curve is not monotone: {y0} degC at {x0} degC outdoors but "
                    f"{y1} degC at {x1} degC"
                )
        if not all(0.0 < y < 100.0 for _, y in pts):
            raise StationSettingsError("heating curve supply temperatures must be in 0..100 degC")

    @classmethod
    def from_design(
        cls,
        t_out_design_c: float,
        t_supply_design_c: float,
        t_return_design_c: float,
        t_room_c: float = 20.0,
        n_points: int = 8,
    ) -> HeatingCurve:
        """The classical quality-regulation curve of a radiator system, sampled."""
        mean_d = 0.5 * (t_supply_design_c + t_return_design_c)
        half_dt = 0.5 * (t_supply_design_c - t_return_design_c)
        pts = []
        for k in range(n_points):
            t_out = t_out_design_c + (t_room_c - t_out_design_c) * k / (n_points - 1)
            phi = max(0.0, (t_room_c - t_out) / (t_room_c - t_out_design_c))
            ts = t_room_c + (mean_d - t_room_c) * phi ** (1.0 / RADIATOR_EXPONENT) + half_dt * phi
            pts.append((round(t_out, 3), round(max(ts, t_room_c + 0.5), 3)))
        return cls(tuple(pts))

    def supply_c(self, t_out_c: float) -> float:
        """The curve at ``t_out_c`` (held flat beyond its ends)."""
        pts = self.points
        if t_out_c <= pts[0][0]:
            return pts[0][1]
        for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
            if t_out_c <= x1:
                return y0 + (y1 - y0) * (t_out_c - x0) / (x1 - x0)
        return pts[-1][1]


@dataclass(frozen=True)
class StationStrategySettings:
    """Per-station settings (speed as a ratio of rated, temperatures degC, times s)."""

    pump: bool = True
    weather: bool = True
    speed_min: float = 0.4
    speed_max: float = 1.3
    speed_step: float = 0.03
    hold_s: float = 7200.0
    raise_hold_s: float = 1800.0  # comfort first: raising waits less than lowering
    saturated_pct: float = 97.0
    room_target_c: float = 20.0
    room_floor_c: float = 18.0  # below this a household is cold
    room_margin_c: float = 0.5  # within this of the floor it is at risk: the pump holds
    coldest_rank: int = 2  # the robust coldest: never the single coldest room
    risk_se: float = 1.0  # at risk: the room this many standard errors below its estimate
    short_share: float = 0.25  # the supply rises only when this share of rooms is short
    warm_c: float = 22.0  # the median room above this: the station over-heats
    starved_min: int = 2  # starved valves needed to raise the pump (one may be a bad sensor)
    supply_min_c: float = 35.0
    supply_max_c: float = 75.0
    offset_min_c: float = -10.0
    offset_max_c: float = 10.0
    offset_gain_c_per_k_h: float = 1.0
    offset_deadband_c: float = 0.3
    forecast_weight: float = 0.5
    supply_k_per_room_k: float = 2.5  # a scheduled room shift moves the supply this much per K

    def __post_init__(self) -> None:
        if not 0.0 < self.speed_min <= self.speed_max:
            raise StationSettingsError("need 0 < speed_min <= speed_max")
        if self.speed_step <= 0 or self.hold_s < 0 or self.raise_hold_s < 0:
            raise StationSettingsError("speed_step must be positive, holds >= 0")
        if self.supply_min_c >= self.supply_max_c:
            raise StationSettingsError("supply_min_c must be below supply_max_c")
        if not self.offset_min_c <= 0.0 <= self.offset_max_c:
            raise StationSettingsError("the offset range must contain 0")
        if self.room_floor_c > self.room_target_c:
            raise StationSettingsError("room_floor_c must not be above room_target_c")
        if self.coldest_rank < 1 or self.offset_gain_c_per_k_h < 0 or self.starved_min < 1:
            raise StationSettingsError(
                "coldest_rank >= 1, starved_min >= 1 and offset_gain_c_per_k_h >= 0 required"
            )
        if not 0.0 < self.short_share <= 0.5 or self.warm_c <= self.room_target_c:
            raise StationSettingsError("short_share in (0, 0.5], warm_c above room_target_c")
        if not 0.0 <= self.forecast_weight <= 1.0:
            raise StationSettingsError("forecast_weight must be in 0..1")


@dataclass(frozen=True)
class ValveState:
    """One valve as the station strategy sees it: opening (%) and its room, if believed."""

    key: str
    opening_pct: float
    t_room_c: float | None = None


@dataclass(frozen=True)
class StationInputs:
    """What one decision is made from. ``rooms_c``: every believed household room."""

    now_s: float
    t_out_c: float | None
    valves: Sequence[ValveState]
    rooms_c: Sequence[float]
    t_out_forecast_c: float | None = None
    #: standard error of each room in ``rooms_c`` (0 for a measured one; empty: all 0)
    rooms_se_c: Sequence[float] = ()
    #: the schedule's room-target shift now (strategy/schedule.py; negative: a set-back)
    target_shift_c: float = 0.0
    period_s: float = 900.0  # the time this decision stands for (offset trim is per hour)


@dataclass(frozen=True)
class StationState:
    """What the strategy remembers between decisions."""

    pump_speed: float
    offset_c: float = 0.0
    speed_changed_s: float = float("-inf")


@dataclass(frozen=True)
class StationDecision:
    """Pump speed and supply set-point to send (None: leave to the station), with reasons."""

    pump_speed: float | None
    t_supply_c: float | None
    offset_c: float
    pump_reason: str
    supply_reason: str
    inputs: dict[str, Any] = field(default_factory=dict)


def robust_coldest_c(rooms_c: Sequence[float], rank: int, share: float = 0.0) -> float | None:
    """The coldest room but the ``max(rank, share * n)`` - 1 coldest (the coldest when there
    are fewer); None without rooms."""
    rooms = sorted(rooms_c)
    if not rooms:
        return None
    k = max(rank, math.ceil(share * len(rooms)))
    return rooms[min(k, len(rooms)) - 1]


def station_inputs(
    now_s: float,
    t_out_c: float | None,
    openings: Sequence[tuple[str, float]],
    valve_rooms: Mapping[str, Room | None],
    rooms: Sequence[Room | None],
    max_se_c: float,
    period_s: float,
    target_shift_c: float = 0.0,
    t_out_forecast_c: float | None = None,
) -> StationInputs:
    """The inputs of one decision from what the host believes: each valve's opening (%) by
    "unit/valve" key with its room (room mode's `valve_rooms`), and the station's rooms.
    A room is believed when measured or estimated within ``max_se_c``; a measured room's
    standard error counts as 0."""
    valves = []
    for key, opening_pct in openings:
        room = valve_rooms.get(key)
        believed = room is not None and room.t_room_c == room.t_room_c and room.se_c <= max_se_c
        valves.append(ValveState(key, opening_pct, room.t_room_c if believed and room else None))
    rooms_c: list[float] = []
    rooms_se_c: list[float] = []
    for r in rooms:
        if r is None or r.t_room_c != r.t_room_c:
            continue
        if r.measured or r.se_c <= max_se_c:
            rooms_c.append(r.t_room_c)
            rooms_se_c.append(0.0 if r.measured else r.se_c)
    return StationInputs(
        now_s,
        t_out_c,
        valves,
        rooms_c,
        t_out_forecast_c=t_out_forecast_c,
        rooms_se_c=rooms_se_c,
        target_shift_c=target_shift_c,
        period_s=period_s,
    )


def decide_station(
    inputs: StationInputs,
    state: StationState,
    settings: StationStrategySettings,
    curve: HeatingCurve,
) -> tuple[StationDecision, StationState]:
    """One control period of the station: pump first, supply offset where the pump cannot.

    A scheduled shift moves the targets, the floor and the supply with it, and freezes the
    offset: a set-back is not a reason to learn anything."""
    shift = inputs.target_shift_c
    s = settings
    if shift:
        s = replace(
            settings,
            room_target_c=settings.room_target_c + shift,
            room_floor_c=settings.room_floor_c + shift,
            warm_c=settings.warm_c + shift,
        )
    coldest = robust_coldest_c(inputs.rooms_c, s.coldest_rank)
    se = list(inputs.rooms_se_c) or [0.0] * len(inputs.rooms_c)
    if len(se) != len(inputs.rooms_c):
        raise ValueError("rooms_se_c must give one standard error per room")
    at_risk = robust_coldest_c(
        [t - s.risk_se * e for t, e in zip(inputs.rooms_c, se, strict=True)], s.coldest_rank
    )
    short = robust_coldest_c(inputs.rooms_c, s.coldest_rank, s.short_share)
    median = statistics.median(inputs.rooms_c) if inputs.rooms_c else None
    saturated = [v for v in inputs.valves if v.opening_pct >= s.saturated_pct]
    starved = [
        v.key
        for v in saturated
        if v.t_room_c is not None and v.t_room_c < s.room_target_c - s.offset_deadband_c
    ]
    # a saturated valve whose room is warm can lose flow; one whose room is not known cannot
    blocking = [
        v.key
        for v in saturated
        if v.t_room_c is None or v.t_room_c < s.room_target_c + s.room_margin_c
    ]
    most_open = max((v.opening_pct for v in inputs.valves), default=None)
    if len(starved) < s.starved_min:
        starved = []
    speed = min(max(state.pump_speed, s.speed_min), s.speed_max)
    since = inputs.now_s - state.speed_changed_s
    pump_reason = "off"
    new_speed = speed
    if s.pump:
        if coldest is None or most_open is None:
            pump_reason = "hold_no_rooms"
        elif starved and speed < s.speed_max:
            if since >= s.raise_hold_s:
                new_speed, pump_reason = min(speed + s.speed_step, s.speed_max), "raise_starved"
            else:
                pump_reason = "hold_after_change"
        elif starved:
            pump_reason = "at_max_starved"
        elif at_risk is not None and at_risk <= s.room_floor_c + s.room_margin_c:
            pump_reason = "hold_cold_or_at_risk"
        elif blocking:
            pump_reason = "hold_valves_open"
        elif speed > s.speed_min:
            if since >= s.hold_s:
                new_speed, pump_reason = max(speed - s.speed_step, s.speed_min), "lower"
            else:
                pump_reason = "hold_after_change"
        else:
            pump_reason = "at_min"
    offset, supply_reason, ts = state.offset_c, "off", None
    if s.weather and inputs.t_out_c is not None:
        t_out = inputs.t_out_c
        if inputs.t_out_forecast_c is not None:
            t_out += s.forecast_weight * (inputs.t_out_forecast_c - inputs.t_out_c)
        supply_reason = "curve" if not shift else "curve_scheduled"
        if coldest is not None and short is not None and not shift:
            err = s.room_target_c - short
            pump_cannot_raise = not s.pump or speed >= s.speed_max or bool(starved)
            pump_cannot_lower = not s.pump or speed <= s.speed_min
            step = s.offset_gain_c_per_k_h * abs(err) * inputs.period_s / 3600.0
            overheating = median is not None and median > s.warm_c
            if overheating and median is not None:
                step = s.offset_gain_c_per_k_h * (median - s.warm_c) * inputs.period_s / 3600.0
                offset, supply_reason = offset - step, "offset_down_overheating"
            elif err > s.offset_deadband_c and pump_cannot_raise:
                offset, supply_reason = offset + step, "offset_up_cold"
            elif coldest > s.room_target_c + s.room_margin_c + s.offset_deadband_c and (
                pump_cannot_lower
            ):
                step = s.offset_gain_c_per_k_h * (coldest - s.room_target_c) * inputs.period_s
                offset, supply_reason = offset - step / 3600.0, "offset_down_warm"
            offset = min(max(offset, s.offset_min_c), s.offset_max_c)
        ts = curve.supply_c(t_out) + offset + shift * s.supply_k_per_room_k
        ts = min(max(ts, s.supply_min_c), s.supply_max_c)
    changed = new_speed != speed
    decision = StationDecision(
        pump_speed=new_speed if s.pump else None,
        t_supply_c=ts,
        offset_c=offset,
        pump_reason=pump_reason,
        supply_reason=supply_reason,
        inputs={
            "t_out_c": inputs.t_out_c,
            "t_out_forecast_c": inputs.t_out_forecast_c,
            "target_shift_c": shift,
            "coldest_c": coldest,
            "short_c": short,
            "at_risk_c": at_risk,
            "median_c": median,
            "blocking": blocking[:10],
            "rooms": len(inputs.rooms_c),
            "most_open_pct": most_open,
            "starved": starved[:10],
            "speed_was": speed,
            "offset_was_c": state.offset_c,
        },
    )
    new_state = replace(
        state,
        pump_speed=new_speed,
        offset_c=offset,
        speed_changed_s=inputs.now_s if changed else state.speed_changed_s,
    )
    return decision, new_state
