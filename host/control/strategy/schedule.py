"""Time-division (分时分控): schedules that shift room targets, with the pre-heat to be warm
on time.

A schedule is a list of periods, each on some weekdays, from a start to an end hour of the
station's local time, with a shift of the room target (negative: a night or weekend set-back;
positive: a public building heated for opening hours) and a scope: the whole station, one
building, or one household type. A set-back ends early by the pre-heat a building needs to
climb back (``preheat_h_per_k`` hours per kelvin of set-back, at most ``max_preheat_h``), so
rooms are at their normal target at the scheduled hour rather than starting to warm then.

The shift of a household is the sum over scopes that include it (station, its building, its
type). Two periods of the same scope may not overlap on any day: which one would hold is
not for the strategy to guess. Pure logic: no clock, the caller passes the time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from host.errors import EvenheatError

SCOPES = ("station", "building", "household_type")
DAY_S = 86400.0
WEEK_S = 7 * DAY_S


class ScheduleError(EvenheatError, ValueError):
    """A schedule that cannot be applied; the message names the period."""

    reason = "bad-value"


@dataclass(frozen=True)
class SchedulePeriod:
    """From ``start_h`` to ``end_h`` (local hours, 0..24, start before end) on ``days``
    (0 = Monday ... 6 = Sunday), the room target of ``scope`` (``which`` names the building
    or household type) shifts by ``shift_c``."""

    days: tuple[int, ...]
    start_h: float
    end_h: float
    shift_c: float
    scope: str = "station"
    which: str | None = None

    def __post_init__(self) -> None:
        where = f"period {self.days} {self.start_h}-{self.end_h} h"
        if not self.days or any(d not in range(7) for d in self.days):
            raise ScheduleError(f"{where}: days must be weekdays 0 (Monday) .. 6 (Sunday)")
        if not 0.0 <= self.start_h < self.end_h <= 24.0:
            raise ScheduleError(
                f"{where}: need 0 <= start_h < end_h <= 24 (split a period over midnight in two)"
            )
        if not -10.0 <= self.shift_c <= 5.0:
            raise ScheduleError(f"{where}: shift_c must be within -10..+5 K")
        if self.scope not in SCOPES:
            raise ScheduleError(f"{where}: scope must be one of {', '.join(SCOPES)}")
        if (self.scope == "station") != (self.which is None):
            raise ScheduleError(
                f"{where}: a {self.scope} period needs `which` exactly when not station-wide"
            )

    def intervals_s(self, preheat_s: float) -> list[tuple[float, float]]:
        """Its intervals in seconds of the week; a set-back ends ``preheat_s`` early."""
        end_h = self.end_h
        out = []
        for d in self.days:
            start = d * DAY_S + self.start_h * 3600.0
            end = d * DAY_S + end_h * 3600.0
            if self.shift_c < 0:
                end = max(start, end - preheat_s)
            out.append((start, end))
        return out


@dataclass(frozen=True)
class Schedule:
    """A station's periods, checked for overlaps, and its pre-heat rule."""

    periods: tuple[SchedulePeriod, ...]
    utc_offset_h: float = 8.0  # the station's local time (China Standard Time by default)
    preheat_h_per_k: float = 1.0
    max_preheat_h: float = 4.0

    def __post_init__(self) -> None:
        if self.preheat_h_per_k < 0 or self.max_preheat_h < 0:
            raise ScheduleError("preheat_h_per_k and max_preheat_h must not be negative")
        by_scope: dict[tuple[str, str | None], list[tuple[float, float, SchedulePeriod]]] = {}
        for p in self.periods:
            for a, b in p.intervals_s(0.0):
                by_scope.setdefault((p.scope, p.which), []).append((a, b, p))
        for (scope, which), spans in by_scope.items():
            spans.sort(key=lambda x: x[0])
            for (_a0, b0, p0), (a1, _b1, p1) in zip(spans, spans[1:], strict=False):
                if a1 < b0:
                    name = scope if which is None else f"{scope} {which}"
                    raise ScheduleError(
                        f"{name}: periods overlap ({p0.start_h}-{p0.end_h} h and "
                        f"{p1.start_h}-{p1.end_h} h on day {int(a1 // DAY_S)})"
                    )

    def preheat_s(self, period: SchedulePeriod) -> float:
        """How early a set-back ends so that rooms are back on time."""
        hours = min(self.preheat_h_per_k * max(0.0, -period.shift_c), self.max_preheat_h)
        return hours * 3600.0

    def shift_c(
        self, epoch_s: float, building: str | None = None, household_type: str | None = None
    ) -> float:
        """The room-target shift at ``epoch_s`` for a household of ``building`` and
        ``household_type`` (station-wide periods only when both are None)."""
        week_s = (epoch_s + self.utc_offset_h * 3600.0 + 3 * DAY_S) % WEEK_S  # 1970-01-01: Thu
        total = 0.0
        for p in self.periods:
            if p.scope == "building" and p.which != building:
                continue
            if p.scope == "household_type" and p.which != household_type:
                continue
            if any(a <= week_s < b for a, b in p.intervals_s(self.preheat_s(p))):
                total += p.shift_c
        return total


def parse(doc: Sequence[dict], **kw: float) -> Schedule:
    """A schedule from its JSON form (a list of period objects); errors name the period."""
    if not isinstance(doc, list):
        raise ScheduleError("a schedule is a list of periods")
    periods = []
    for i, item in enumerate(doc):
        if not isinstance(item, dict):
            raise ScheduleError(f"period {i}: must be an object")
        unknown = sorted(set(item) - {"days", "start_h", "end_h", "shift_c", "scope", "which"})
        if unknown:
            raise ScheduleError(f"period {i}: unknown field(s) {', '.join(unknown)}")
        try:
            periods.append(
                SchedulePeriod(
                    tuple(int(d) for d in item["days"]),
                    float(item["start_h"]),
                    float(item["end_h"]),
                    float(item["shift_c"]),
                    str(item.get("scope", "station")),
                    None if item.get("which") is None else str(item["which"]),
                )
            )
        except KeyError as exc:
            raise ScheduleError(f"period {i}: missing {exc.args[0]}") from None
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ScheduleError):
                raise
            raise ScheduleError(f"period {i}: {exc}") from None
    return Schedule(tuple(periods), **kw)
