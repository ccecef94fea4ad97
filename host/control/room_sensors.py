"""Room sensors: is a reading plausible for a heated flat, and the alarms of implausible ones.

Each reading of a room sensor gets a `flag`: None when plausible, else one short code. The
rules, judged per sensor in the readings' own time (`ts_s`), first match wins:

- `fault`: the sensor says it failed (`sensor_ok` false) or sent no value (`t_room_c` null).
- `range`: the value is outside 5..35 degC (`RANGE_LOW_C`, `RANGE_HIGH_C`): no heated flat
  is that cold or that warm; a sensor on a radiator, outdoors, or broken.
- `stuck`: the readings of the last 6 h (`STUCK_WINDOW_S`; at least `STUCK_MIN_READINGS`
  of them, the oldest at least 6 h old) stay within 0.05 K (`STUCK_BAND_K`): a real room
  drifts more than that; a frozen sensor or a gateway repeating its last value does not.
- `swing`: the readings of the last 30 min (`SWING_WINDOW_S`, this one included) spread over
  more than 2 K (`SWING_K`, max - min): an opened window, a sensor on a sunny sill or over a
  radiator. A single jump of more than 2 K within 30 min and a large short-term scatter are
  both caught by this spread; every reading while the spread lasts is flagged.

Fault and range readings are kept out of the stuck and swing windows (they are not room
temperatures). A reading older than the newest one already judged for its sensor (backfill
arriving late) is judged by the fault and range rules only and raises or clears nothing.

Flagged readings are stored with their flag and kept out of estimation and control (which
read `flag`). Each flag raises an alarm of its own kind on (site, unit, point = sensor id):
`room_sensor_fault` (major), `room_sensor_range`, `room_sensor_stuck`, `room_sensor_swing`
(warnings), at the first flagged reading. The sensor's open alarms clear when its readings
have been plausible for `CLEAR_AFTER_S` (1 h): from its first plausible reading after the last
flagged one to this one, with no flagged reading between.

`RoomSensors` keeps each sensor's windows in memory; after a restart (or a rolled-back batch,
`forget()`) it rebuilds a sensor's state from its stored readings the first time it sees it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from host.control.alarms import Alarms
    from host.storage import Storage

log = logging.getLogger(__name__)

RANGE_LOW_C = 5.0  # degC: below, no heated flat
RANGE_HIGH_C = 35.0  # degC: above, no heated flat
STUCK_WINDOW_S = 6 * 3600  # s: a real room moves more than STUCK_BAND_K within this
STUCK_BAND_K = 0.05  # K
STUCK_MIN_READINGS = 4  # readings in the stuck window before it is judged
SWING_WINDOW_S = 30 * 60  # s
SWING_K = 2.0  # K: spread (max - min) of the readings of the swing window
CLEAR_AFTER_S = 3600  # s of plausible readings after the last flagged one
_EPS_K = 1e-9  # float noise when comparing spreads with the bands

ALARM_KINDS = {
    "range": "room_sensor_range",
    "stuck": "room_sensor_stuck",
    "swing": "room_sensor_swing",
    "fault": "room_sensor_fault",
}
_DESCRIPTION = {
    "range": f"room temperature outside {RANGE_LOW_C:g}..{RANGE_HIGH_C:g} degC",
    "stuck": f"no change beyond {STUCK_BAND_K:g} K for {STUCK_WINDOW_S // 3600} h",
    "swing": f"swings of more than {SWING_K:g} K within {SWING_WINDOW_S // 60} min",
    "fault": "sensor failed or sent no value",
}


def static_flag(t_room_c: float | None, sensor_ok: bool | None) -> str | None:
    """The flag of a reading by the rules that need no history: `fault`, `range`, or None."""
    if sensor_ok is False or t_room_c is None:
        return "fault"
    if not RANGE_LOW_C <= t_room_c <= RANGE_HIGH_C:
        return "range"
    return None


@dataclass
class SensorState:
    """One sensor's recent readings: what the stuck and swing rules look at."""

    last_ts: int = -1
    # (ts_s, t_room_c) of the readings that passed the static rules: the last STUCK_WINDOW_S
    # and the newest one before it (which tells that the window is covered)
    window: deque[tuple[int, float]] = field(default_factory=deque)
    plausible_since: int | None = None  # first plausible reading after the last flagged one

    def _verdict(self, ts_s: int, flag: str | None) -> None:
        self.last_ts = ts_s
        if flag is not None:
            self.plausible_since = None
        elif self.plausible_since is None:
            self.plausible_since = ts_s

    def _push(self, ts_s: int, t_c: float) -> None:
        self.window.append((ts_s, t_c))
        while len(self.window) >= 2 and self.window[1][0] <= ts_s - STUCK_WINDOW_S:
            self.window.popleft()

    def _history_flag(self, ts_s: int) -> str | None:
        values = [t for _, t in self.window]
        if (
            len(values) >= STUCK_MIN_READINGS
            and self.window[0][0] <= ts_s - STUCK_WINDOW_S
            and max(values) - min(values) <= STUCK_BAND_K + _EPS_K
        ):
            return "stuck"
        recent = [t for ts, t in self.window if ts >= ts_s - SWING_WINDOW_S]
        if max(recent) - min(recent) > SWING_K + _EPS_K:
            return "swing"
        return None

    def judge(self, ts_s: int, t_room_c: float | None, sensor_ok: bool | None) -> str | None:
        """The flag of a new reading (newer than every one before), updating the state."""
        flag = static_flag(t_room_c, sensor_ok)
        if flag is None and t_room_c is not None:
            self._push(ts_s, t_room_c)
            flag = self._history_flag(ts_s)
        self._verdict(ts_s, flag)
        return flag

    def replay(self, ts_s: int, t_room_c: float | None, flag: str | None) -> None:
        """Take in a stored reading with the flag it was stored with (restart)."""
        if ts_s <= self.last_ts:
            return
        if t_room_c is not None and flag not in ("fault", "range"):
            self._push(ts_s, t_room_c)
        self._verdict(ts_s, flag)


def judge_series(
    readings: Iterable[tuple[int, float | None, bool | None]],
) -> list[str | None]:
    """The flags of one sensor's readings (ts_s, t_room_c, sensor_ok), given in time order."""
    state = SensorState()
    return [
        state.judge(ts, t, ok) if ts > state.last_ts else static_flag(t, ok)
        for ts, t, ok in readings
    ]


SensorKey = tuple[str, str, str]  # (site, unit, sensor)


class RoomSensors:
    """Judges the readings of every room sensor and raises or clears their alarms.

    Call `judge` from the ingest, inside its transaction, per sensor in time order.
    """

    def __init__(self, storage: Storage, alarms: Alarms | None = None) -> None:
        self.storage = storage
        self.alarms = alarms
        self._states: dict[SensorKey, SensorState] = {}

    def forget(self) -> None:
        """Drop every sensor's state (after a rolled-back batch): rebuilt from storage."""
        self._states.clear()

    def state(self, key: SensorKey, ts_s: int) -> SensorState:
        """The state of a sensor, rebuilt from its stored readings when not in memory."""
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = SensorState()
            start_s = ts_s - STUCK_WINDOW_S - CLEAR_AFTER_S - SWING_WINDOW_S
            for ts, t, _ok, flag in self.storage.room_sensor_readings(*key, start_s, 1 << 40):
                state.replay(ts, t, flag)
        return state

    def judge(
        self,
        site: str,
        unit: str,
        sensor: str,
        ts_s: int,
        t_room_c: float | None,
        sensor_ok: bool | None,
    ) -> str | None:
        """The flag of one reading; raises and clears the sensor's alarms."""
        key = (site, unit, sensor)
        state = self.state(key, ts_s)
        if ts_s <= state.last_ts:
            return static_flag(t_room_c, sensor_ok)  # late backfill: no alarms
        flag = state.judge(ts_s, t_room_c, sensor_ok)
        if self.alarms is not None:
            self._alarms(key, state, ts_s, t_room_c, flag)
        return flag

    def _alarms(
        self,
        key: SensorKey,
        state: SensorState,
        ts_s: int,
        t_room_c: float | None,
        flag: str | None,
    ) -> None:
        assert self.alarms is not None
        site, unit, sensor = key
        if flag is not None:
            kind = ALARM_KINDS[flag]
            value = "null" if t_room_c is None else f"{t_room_c:.2f} degC"
            self.alarms.room_sensor(
                site, unit, sensor, kind, ts_s, t_room_c, True, f"{_DESCRIPTION[flag]} ({value})"
            )
            return
        since = ts_s if state.plausible_since is None else state.plausible_since
        if ts_s - since < CLEAR_AFTER_S:
            return
        for kind in ALARM_KINDS.values():
            if self.alarms.is_open((site, unit, sensor, kind)):
                self.alarms.room_sensor(
                    site,
                    unit,
                    sensor,
                    kind,
                    ts_s,
                    t_room_c,
                    False,
                    f"plausible for {CLEAR_AFTER_S // 60} min",
                )
