"""Room estimates of a station from what the host has stored: the estimator's inputs
gathered, the estimator run, the results stored.

For every household of the station (`Storage.station_households`): its own return probe
(its valve's `t_return_c`, where it has a valve), its entrance's supply and mixed return, the
station's outdoor temperature (the mean of its units' `t_outdoor_c`), each over the last
`history_h` hours resampled onto `step_s` bins (a bin without a sample carries the last
one forward; a series with no sample in its last `max_gap_h` hours is missing), and its
plausible measured room if fresher than `fresh_s`. host.models.rooms.estimate does the rest.

Used by the balancer (room mode reads the result; estimates are refreshed at most hourly);
the API reads the stored estimates. Each run also gives its verdict on every sensor it used:
a plausible sensor that its type-mates' physics cannot explain (`suspect-sensor`: in the
wrong flat, over a radiator, behind a curtain) should raise `room_sensor_suspect`, and one
that is believed again should clear it. The run may happen on any thread (an operator's
"balance now"), alarms only on the ingest thread: verdicts wait in `take_sensor_verdicts`
for the service's tick.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from host.models.rooms.estimate import (
    EstimatorSettings,
    RoomEstimateError,
    RoomEstimates,
    StationHistory,
    estimate_station,
    fill_gaps,
)
from host.storage import Storage

log = logging.getLogger(__name__)
ENTRANCE_POINT = "entrance"


@dataclass(frozen=True)
class StationRooms:
    """The households of a station (registry rows, in order) and their estimates, or why
    there are none."""

    households: list[dict[str, Any]]
    estimates: RoomEstimates | None
    problem: str | None = None
    # household id -> (site, unit, sensor, t_room_c) of the fresh plausible reading used
    sensors: dict[str, tuple[str, str, str, float]] = field(default_factory=dict)

    def by_household(self) -> dict[str, tuple[float, float, bool, float]]:
        """household id -> (t_room_c, se_c, measured, se_type_c), households with a value
        only (room_led.Room's fields)."""
        e = self.estimates
        if e is None:
            return {}
        out = {}
        for i, h in enumerate(self.households):
            t, se = float(e.t_room_c[i]), float(e.se_c[i])
            if t == t and se == se:
                out[str(h["household_id"])] = (t, se, bool(e.measured[i]), float(e.se_type_c[i]))
        return out


@dataclass(frozen=True)
class SensorVerdict:
    """What one estimator run made of a room sensor it used (its reading `t_room_c`):
    `suspect` (its type-mates' physics cannot explain it) or believed."""

    site: str
    unit: str
    sensor: str
    t_room_c: float
    ts_s: int
    suspect: bool


class RoomEstimator:
    """Gathers a station's inputs from storage and estimates its rooms."""

    def __init__(
        self,
        storage: Storage,
        clock: Callable[[], float],
        settings: EstimatorSettings | None = None,
        history_h: float = 48.0,
        step_s: float = 1800.0,
        fresh_s: float = 3600.0,
        max_gap_h: float = 2.0,
        every_s: float = 3600.0,
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.settings = settings or EstimatorSettings()
        self.history_h = history_h
        self.step_s = step_s
        self.fresh_s = fresh_s
        self.max_gap_h = max_gap_h
        self.every_s = every_s
        self._last: dict[str, tuple[float, StationRooms]] = {}
        self._verdicts: list[SensorVerdict] = []
        self._verdicts_lock = threading.Lock()

    def _series(self, site: str, unit: str, point: str, field: str, end_s: int) -> np.ndarray:
        """One stored series on the estimator's grid (NaN where unknown)."""
        steps = int(round(self.history_h * 3600.0 / self.step_s))
        start_s = end_s - int(steps * self.step_s)
        rows = self.storage.query(site, unit, point, field, start_s, end_s)
        out = np.full(steps, np.nan)
        if not rows:
            return out
        t = np.array([r[0] for r in rows], dtype=float)
        v = np.array([np.nan if r[1] is None else r[1] for r in rows], dtype=float)
        ok = np.isfinite(v)
        t, v = t[ok], v[ok]
        if not len(t):
            return out
        if end_s - t[-1] > self.max_gap_h * 3600.0:
            return out
        b = np.clip(((t - start_s) // self.step_s).astype(int), 0, steps - 1)
        sums = np.bincount(b, v, minlength=steps)
        counts = np.bincount(b, minlength=steps)
        with np.errstate(invalid="ignore"):
            out = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        return fill_gaps(out)

    def station(self, station_id: str) -> StationRooms:
        """Estimate every household of a station now (nothing stored)."""
        households = self.storage.station_households(station_id)
        if not households:
            return StationRooms([], None, "the station has no households")
        now_s = self.clock()
        end_s = int(now_s)
        units = sorted({(h["site"], h["unit"]) for h in households})
        supply = {u: self._series(*u, ENTRANCE_POINT, "t_supply_c", end_s) for u in units}
        ent_return = {u: self._series(*u, ENTRANCE_POINT, "t_return_c", end_s) for u in units}
        outdoor = [self._series(*u, ENTRANCE_POINT, "t_outdoor_c", end_s) for u in units]
        known = [s for s in outdoor if np.all(np.isfinite(s))]
        if not known:
            return StationRooms(households, None, "no outdoor temperature reported")
        t_out = np.mean(known, axis=0)
        own = [
            self._series(h["site"], h["unit"], h["point"], "t_return_c", end_s)
            if h.get("point")
            else np.full(len(t_out), np.nan)
            for h in households
        ]
        measured = self.storage.latest_room_readings(station_id)
        room = np.full(len(households), np.nan)
        sensors: dict[str, tuple[str, str, str, float]] = {}
        for i, h in enumerate(households):
            m = measured.get(str(h["household_id"]))
            if (
                m is not None
                and m.get("flag") is None
                and m.get("t_room_c") is not None
                and 0 <= now_s - float(m["ts_s"]) <= self.fresh_s
            ):
                room[i] = float(m["t_room_c"])
                used = (str(m["site"]), str(m["unit"]), str(m["sensor"]), float(room[i]))
                sensors[str(h["household_id"])] = used
        key = [(h["site"], h["unit"]) for h in households]
        history = StationHistory(
            t_supply_c=np.stack([supply[k] for k in key], axis=1),
            t_return_c=np.stack(own, axis=1),
            t_entrance_return_c=np.stack([ent_return[k] for k in key], axis=1),
            t_out_c=t_out,
            t_room_c=room,
            household_type=tuple(str(h.get("household_type") or "") for h in households),
            step_s=self.step_s,
        )
        try:
            return StationRooms(
                households, estimate_station(history, self.settings), None, sensors
            )
        except RoomEstimateError as exc:
            return StationRooms(households, None, str(exc))

    def run(self, station_id: str) -> StationRooms:
        """Estimate a station's rooms and store the estimates (with the measured ones); at
        most every `every_s` (rooms change over hours: a newer run returns the last)."""
        now_s = self.clock()
        last = self._last.get(station_id)
        if last is not None and 0 <= now_s - last[0] < self.every_s:
            return last[1]
        result = self.station(station_id)
        self._last[station_id] = (now_s, result)
        e = result.estimates
        if e is None:
            log.info("no room estimates for %s: %s", station_id, result.problem)
            return result
        rows = [
            {
                "household_id": str(h["household_id"]),
                "t_room_c": round(float(e.t_room_c[i]), 2),
                "se_c": round(float(e.se_c[i]), 2),
                "measured": bool(e.measured[i]),
                "method": e.method[i],
            }
            for i, h in enumerate(result.households)
            if np.isfinite(e.t_room_c[i])
        ]
        with self.storage.transaction():
            self.storage.save_room_estimates(station_id, int(self.clock()), rows)
        verdicts = [
            SensorVerdict(*result.sensors[hh], int(now_s), e.method[i] == "suspect-sensor")
            for i, h in enumerate(result.households)
            if (hh := str(h["household_id"])) in result.sensors
        ]
        with self._verdicts_lock:
            self._verdicts += verdicts
        return result

    def take_sensor_verdicts(self) -> list[SensorVerdict]:
        """The verdicts of the runs since the last call (oldest first), and forget them."""
        with self._verdicts_lock:
            out, self._verdicts = self._verdicts, []
        return out
