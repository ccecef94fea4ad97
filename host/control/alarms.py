"""Alarms: temperature (low, high, very high), offline, sensor fault, valve stuck, board events,
implausible room sensors.

Lifecycle of one alarm, keyed by (site, unit, point, kind):

- **raise**: the condition has held for the minimum duration. At most one alarm per key is
  open (not cleared) at any time; the database's unique index enforces it too.
- **acknowledge**: an operator takes note (who, when). It does not clear the alarm; a second
  acknowledgement is refused. Cleared alarms can still be acknowledged.
- **clear**: the condition is gone (with hysteresis for temperatures): the alarm closes with
  the time and value. The next occurrence raises a new alarm. Board-event alarms with no
  "ok" counterpart clear when acknowledged.

Temperature rules on a point's return temperature t, thresholds low < high < very high and
hysteresis h: `t_low` raises when t < low has held for `min_duration_s` of consecutive
samples and clears when t > low + h; `t_high` (t > high, clears below high − h) and
`t_very_high` (t > very high, clears below very high − h) likewise. Durations are measured in
board time (the samples' `ts_s`); samples older than the newest one already evaluated for the
point (backfill arriving late) are stored but not evaluated, so late data never re-raises an
alarm that has already cleared. A null reading (bad probe) holds the temperature alarms and,
once null readings have lasted `min_duration_s`, raises `sensor_fault` (a board that has just
booted reports its probes null until their first verdict: that is not a fault); the board's own
`sensor_fault` event, sent when its debounced probe turns bad, raises it at once. A good
reading clears it. `valve_ok` false raises `valve_stuck`, true
clears it. `offline` follows the board state (raised at the transition, cleared when the board
is back). Thresholds: per point (a household or the entrance), then per unit for all its
households (point `*`), then the configured defaults.

Room sensors (point = the sensor id): `room_sensor_range`, `room_sensor_stuck`,
`room_sensor_swing`, `room_sensor_fault`, raised and cleared by host/control/room_sensors.py
(its docstring has the rules) through `room_sensor`; `room_sensor_suspect`, a plausible
sensor the room estimator cannot explain (host/control/room_estimates.py), the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from host.errors import EvenheatError
from host.service.config import AlarmConfig
from host.storage import Storage
from host.storage.base import ENTRANCE_POINT

log = logging.getLogger(__name__)

Key = tuple[str, str, str, str]  # (site, unit, point, kind)
BOARD_POINT = "-"  # point of alarms about the whole board
SEVERITY = {
    "t_low": "warning",
    "t_high": "warning",
    "t_very_high": "critical",
    "offline": "major",
    "sensor_fault": "major",
    "valve_stuck": "major",
    "room_sensor_range": "warning",
    "room_sensor_stuck": "warning",
    "room_sensor_swing": "warning",
    "room_sensor_fault": "major",
    "room_sensor_suspect": "warning",
}
ROOM_SENSOR_KINDS = (
    "room_sensor_range",
    "room_sensor_stuck",
    "room_sensor_swing",
    "room_sensor_fault",
    "room_sensor_suspect",
)
# Board events that raise or clear a host alarm of the same meaning.
EVENT_RAISES = {
    "sensor_fault": "sensor_fault",
    "valve_stuck": "valve_stuck",
    "valve_stall": "valve_stuck",
}
EVENT_CLEARS = {"sensor_ok": "sensor_fault", "valve_ok": "valve_stuck"}
POINT_KINDS = ("sensor_fault", "valve_stuck", "t_low", "t_high", "t_very_high")


class AlarmError(EvenheatError, ValueError):
    """An alarm operation that cannot be done (unknown id, already acknowledged, bad limits);
    the subclasses below name which."""

    reason = "alarm"


class UnknownAlarmError(AlarmError):
    """No alarm has this id."""

    reason = "unknown-alarm"

    def __init__(self, alarm_id: int) -> None:
        super().__init__(f"no alarm {alarm_id}")
        self.alarm_id = alarm_id


class AlreadyAcknowledgedError(AlarmError):
    """The alarm was acknowledged before (by `acked_by`, when known)."""

    reason = "already-acknowledged"

    def __init__(self, alarm_id: int, acked_by: str | None = None) -> None:
        super().__init__(f"alarm {alarm_id} was already acknowledged")
        self.alarm_id = alarm_id
        self.acked_by = acked_by


class BadThresholdsError(AlarmError):
    """Thresholds that cannot be used; `fields` names the ones at fault."""

    reason = "bad-thresholds"

    def __init__(self, detail: str, fields: tuple[str, ...] = ()) -> None:
        super().__init__(detail)
        self.fields = fields


@dataclass(frozen=True)
class Thresholds:
    """Return-temperature limits of one point, with hysteresis and minimum duration."""

    t_low_c: float
    t_high_c: float
    t_very_high_c: float
    hysteresis_c: float
    min_duration_s: int

    def check(self) -> None:
        if not self.t_low_c < self.t_high_c < self.t_very_high_c:
            raise BadThresholdsError(
                "thresholds must satisfy t_low_c < t_high_c < t_very_high_c",
                ("t_low_c", "t_high_c", "t_very_high_c"),
            )
        if self.hysteresis_c < 0 or self.min_duration_s < 0:
            raise BadThresholdsError(
                "hysteresis_c and min_duration_s must not be negative",
                ("hysteresis_c", "min_duration_s"),
            )


class Alarms:
    """The alarm engine. Call its observers from the ingest thread inside a transaction."""

    def __init__(
        self, storage: Storage, cfg: AlarmConfig, clock: Callable[[], float] = time.time
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.household = Thresholds(
            cfg.household_t_low_c,
            cfg.household_t_high_c,
            cfg.household_t_very_high_c,
            cfg.hysteresis_c,
            cfg.min_duration_s,
        )
        self.entrance = replace(
            self.household,
            t_low_c=cfg.entrance_t_low_c,
            t_high_c=cfg.entrance_t_high_c,
            t_very_high_c=cfg.entrance_t_very_high_c,
        )
        self.household.check()
        self.entrance.check()
        self.overrides: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.open: dict[Key, int] = {}
        self._pending: dict[Key, int] = {}  # key -> ts_s the condition started
        self._hot: set[tuple[str, str, str]] = set()
        self.reload()
        self._last_ts: dict[tuple[str, str, str], int] = {}
        self._limits: dict[tuple[str, str, str], Thresholds] = {}  # resolved, per point
        self.raised = 0
        self.cleared = 0

    def reload(self) -> None:
        """Re-read open alarms and overrides (at start, and after a rolled-back batch)."""
        self.overrides = self.storage.thresholds()
        self._limits = {}
        self.open = {
            (a["site"], a["unit"], a["point"], a["kind"]): a["id"]
            for a in self.storage.alarms(open_only=True)
        }
        # Points with an open or pending alarm: the only ones a normal reading must visit.
        self._hot = {key[:3] for key in (*self.open, *self._pending)}

    # ------------------------------------------------------------ thresholds ----
    def thresholds_for(self, site: str, unit: str, point: str) -> Thresholds:
        base = self.entrance if point == ENTRANCE_POINT else self.household
        over = self.overrides.get((site, unit, point))
        if over is None and point != ENTRANCE_POINT:
            over = self.overrides.get((site, unit, "*"))
        return replace(base, **over) if over else base

    def set_thresholds(
        self, site: str, unit: str, point: str, values: dict[str, Any], who: str
    ) -> Thresholds:
        """Override thresholds for a point (`*`: every household of the unit); audited."""
        unknown = set(values) - set(Storage.THRESHOLD_FIELDS)
        if unknown:
            raise BadThresholdsError(
                f"unknown threshold fields {sorted(unknown)}", tuple(sorted(unknown))
            )
        merged = replace(self.thresholds_for(site, unit, point), **values)
        target = f"{site}/{unit}/{point}"
        try:
            merged.check()
        except AlarmError as exc:
            with self.storage.transaction():
                self.storage.audit(who, "set_thresholds", target, values, f"refused: {exc}")
            raise
        with self.storage.transaction():
            self.storage.set_thresholds(site, unit, point, asdict(merged))
            self.storage.audit(who, "set_thresholds", target, values, "applied")
        self.overrides[(site, unit, point)] = asdict(merged)
        self._limits.clear()
        return merged

    # ------------------------------------------------------------ lifecycle ----
    def _raise(self, key: Key, ts_s: float, value: float | None, message: str) -> None:
        if key in self.open:
            return
        self._hot.add(key[:3])
        self.open[key] = self.storage.raise_alarm(
            key, SEVERITY.get(key[3], "warning"), ts_s, value, message
        )
        self.raised += 1
        log.warning("alarm raised %s: %s", "/".join(key), message)

    def _clear(self, key: Key, ts_s: float, value: float | None, reason: str) -> None:
        alarm_id = self.open.pop(key, None)
        if alarm_id is None:
            return
        self.storage.clear_alarm(alarm_id, ts_s, value, reason)
        self.cleared += 1
        log.info("alarm cleared %s (%s)", "/".join(key), reason)

    def acknowledge(self, alarm_id: int, who: str) -> dict[str, Any]:
        """Acknowledge an alarm (audited); event alarms clear with their acknowledgement."""
        with self.storage.transaction():
            alarm = self.storage.alarm(alarm_id)
            if alarm is None:
                raise UnknownAlarmError(alarm_id)
            if not self.storage.ack_alarm(alarm_id, who, self.clock()):
                raise AlreadyAcknowledgedError(alarm_id, alarm["acked_by"])
            key = (alarm["site"], alarm["unit"], alarm["point"], alarm["kind"])
            if alarm["kind"].startswith("event:"):
                self._clear(key, self.clock(), None, "acknowledged")
            self.storage.audit(who, "acknowledge_alarm", str(alarm_id), "/".join(key), "done")
            return self.storage.alarm(alarm_id) or alarm

    # ------------------------------------------------------------ observers ----
    def observe(
        self,
        site: str,
        unit: str,
        point: str,
        ts_s: int,
        t_c: float | None,
        sensor_ok: int | None,
        valve_ok: int | None,
    ) -> None:
        """One telemetry record of one point (call in ts_s order per point)."""
        pkey = (site, unit, point)
        if ts_s <= self._last_ts.get(pkey, -1):
            return  # late backfill: stored, not evaluated
        self._last_ts[pkey] = ts_s
        th = self._limits.get(pkey)
        if th is None:
            th = self._limits[pkey] = self.thresholds_for(site, unit, point)
        if (
            t_c is not None
            and th.t_low_c <= t_c <= th.t_high_c
            and sensor_ok != 0
            and valve_ok != 0
            and pkey not in self._hot
        ):
            return  # the common case: nothing open, nothing pending, nothing to start
        self._hot.add(pkey)
        self._evaluate(pkey, ts_s, t_c, (sensor_ok, valve_ok), th)
        if not any(
            (*pkey, kind) in self.open or (*pkey, kind) in self._pending for kind in POINT_KINDS
        ):
            self._hot.discard(pkey)

    def _evaluate(
        self,
        pkey: tuple[str, str, str],
        ts_s: int,
        t_c: float | None,
        flags: tuple[int | None, int | None],
        th: Thresholds,
    ) -> None:
        """The full rules for one record of a point (sensor_ok, valve_ok in `flags`)."""
        site, unit, point = pkey
        sensor_ok, valve_ok = flags
        fault = (site, unit, point, "sensor_fault")
        if t_c is None or sensor_ok == 0:
            since = self._pending.setdefault(fault, ts_s)
            if ts_s - since >= th.min_duration_s:
                self._pending.pop(fault, None)
                self._raise(fault, ts_s, t_c, f"return probe bad since {since}")
        else:
            self._pending.pop(fault, None)
            self._clear(fault, ts_s, t_c, "reading good")
        stuck = (site, unit, point, "valve_stuck")
        if valve_ok == 0:
            self._raise(stuck, ts_s, None, "valve does not follow its command")
        elif valve_ok == 1:
            self._clear(stuck, ts_s, None, "valve follows its command")
        h = th.hysteresis_c
        for kind, on, off in (
            ("t_low", t_c is not None and t_c < th.t_low_c, lambda t: t > th.t_low_c + h),
            ("t_high", t_c is not None and t_c > th.t_high_c, lambda t: t < th.t_high_c - h),
            (
                "t_very_high",
                t_c is not None and t_c > th.t_very_high_c,
                lambda t: t < th.t_very_high_c - h,
            ),
        ):
            key = (site, unit, point, kind)
            if t_c is None:
                self._pending.pop(key, None)
                continue
            if key in self.open:
                if off(t_c):
                    self._clear(key, ts_s, t_c, "back within limits")
                continue
            if not on:
                self._pending.pop(key, None)
                continue
            since = self._pending.setdefault(key, ts_s)
            if ts_s - since >= th.min_duration_s:
                self._pending.pop(key, None)
                self._raise(key, ts_s, t_c, f"return {t_c:.1f} degC since {since} ({kind})")

    def is_open(self, key: Key) -> bool:
        """True when an alarm of this (site, unit, point, kind) is open."""
        return key in self.open

    def room_sensor(
        self,
        site: str,
        unit: str,
        sensor: str,
        kind: str,
        ts_s: float,
        value: float | None,
        on: bool,
        text: str,
    ) -> None:
        """Raise (`on`) or clear a room sensor's alarm of `kind` (ROOM_SENSOR_KINDS); `text`
        is the alarm's message, or the reason it clears."""
        if kind not in ROOM_SENSOR_KINDS:
            raise AlarmError(f"no room sensor alarm {kind!r}; one of {ROOM_SENSOR_KINDS}")
        key = (site, unit, sensor, kind)
        if on:
            self._raise(key, ts_s, value, text)
        else:
            self._clear(key, ts_s, value, text)

    def board_transition(self, site: str, unit: str, online: bool, reason: str, now_s: float):
        key = (site, unit, BOARD_POINT, "offline")
        if online:
            self._clear(key, now_s, None, f"online ({reason})")
        else:
            self._raise(key, now_s, None, f"board offline ({reason})")

    def board_event(self, site: str, unit: str, msg: dict[str, Any]) -> None:
        """A new (not replayed) board event."""
        name, point = msg["event"], msg.get("valve", BOARD_POINT)
        if name in EVENT_RAISES:
            key = (site, unit, point, EVENT_RAISES[name])
            self._raise(key, msg["ts_s"], msg.get("value"), msg.get("detail") or name)
        elif name in EVENT_CLEARS:
            self._clear(
                (site, unit, point, EVENT_CLEARS[name]), msg["ts_s"], msg.get("value"), name
            )
        elif msg["severity"] in ("warning", "alarm"):
            key = (site, unit, point, "event:" + name)
            self._raise(key, msg["ts_s"], msg.get("value"), msg.get("detail") or name)
