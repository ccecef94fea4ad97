"""Room temperatures: the readings of room sensors and the estimates of every household.

`room_readings` holds one row per reading of a room sensor, under the household the sensor is
linked to (a registry device of kind `room_sensor` at (site, unit, point = sensor id)), with
the reading's own time (`ts_s`: the room entry's, else its record's) and its plausibility
`flag` (NULL: plausible; else "range", "stuck", "swing" or "fault", judged by
host/control/room_sensors.py). Readings arrive inside `tele` records, so the records' (unit,
seq) dedup covers them; a reading relayed in two records (same sensor, same time) is stored
once. `room_estimates` holds what the estimator says of every household per run: the value,
its standard error `se_c` (K), whether it is a measurement and the method.

A station's households are those under its buildings' entrances; their sensors may report
through an entrance board or through a station unit (a gateway relaying battery sensors).

Histories follow `TelemetryTables.query`: with `max_points`, a range holding more rows comes
back as means over equal time buckets (the bucket's start time); a reading bucket's mean is
over its plausible readings (flag NULL), and only a bucket with none of those takes the mean
of its flagged ones and one of their flags.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from host.storage.telemetry import ENTRANCE_POINT, TelemetryTables

ROOM_FLAGS = ("range", "stuck", "swing", "fault")
ROOM_SENSOR_KIND = "room_sensor"  # the registry's device kind of a room sensor
_LATEST_FIELDS = ("ts_s", "t_room_c", "flag", "sensor", "site", "unit", "battery_pct", "rssi_dbm")
_ESTIMATE_FIELDS = ("ts_s", "t_room_c", "se_c", "measured", "method")
_STATION_HOUSEHOLDS = (
    "SELECT h.id, h.entrance_id, e.building_id, e.site, e.unit, h.point, h.floor,"
    " h.household_type, h.heated_area_m2, h.has_room_sensor, b.floors FROM households h"
    " JOIN entrances e ON e.id = h.entrance_id JOIN buildings b ON b.id = e.building_id"
    " WHERE b.station_id = ?"
)
_OF_STATION = (
    "household_id IN (SELECT h.id FROM households h JOIN entrances e ON e.id = h.entrance_id"
    " JOIN buildings b ON b.id = e.building_id WHERE b.station_id = ?)"
)


@dataclass(frozen=True)
class RoomReading:
    """One reading of a room sensor, judged, ready to store."""

    household_id: str
    site: str
    unit: str
    sensor: str
    ts_s: int
    t_room_c: float | None
    sensor_ok: bool | None = None
    battery_pct: float | None = None
    rssi_dbm: float | None = None
    flag: str | None = None


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _bucket_s(start_s: int, end_s: int, max_points: int | None, n: int) -> int:
    if not max_points or n <= max_points:
        return 0
    return max(1, -(-(end_s - start_s + 1) // max_points))


class RoomTables(TelemetryTables):
    """The `room_readings` and `room_estimates` tables."""

    # ------------------------------------------------------------ links ----
    def room_sensor_links(self, site: str, unit: str) -> dict[str, str]:
        """{sensor id: household id} of the room sensors registered at a unit."""
        rows = self.fetch_all(
            "SELECT point, household_id FROM devices WHERE site = ? AND unit = ? AND kind = ?"
            " AND household_id IS NOT NULL",
            (site, unit, ROOM_SENSOR_KIND),
        )
        return {str(point): str(hh) for point, hh in rows}

    def station_units(self, station_id: str) -> list[tuple[str, str]]:
        """(site, unit) of the station's entrance boards and of its station units (units of
        the station's site that serve no entrance), sorted."""
        rows = self.fetch_all(
            "SELECT e.site, e.unit FROM entrances e JOIN buildings b ON b.id = e.building_id"
            " WHERE b.station_id = ? UNION SELECT u.site, u.unit FROM units u JOIN stations s"
            " ON s.site = u.site WHERE s.id = ? AND u.entrance_id IS NULL",
            (station_id, station_id),
        )
        return sorted((str(a), str(b)) for a, b in rows)

    def station_outdoor_c(
        self, station_id: str, start_s: int = 0, end_s: int = 1 << 40
    ) -> tuple[int, float] | None:
        """(ts_s, t_outdoor_c) of the newest outdoor temperature any unit of the station
        reported within [start_s, end_s], or None."""
        best: tuple[int, float] | None = None
        for site, unit in self.station_units(station_id):
            found = self.latest_value(site, unit, ENTRANCE_POINT, "t_outdoor_c", start_s, end_s)
            if found is not None and (best is None or found[0] > best[0]):
                best = found
        return best

    # ------------------------------------------------------------ readings ----
    def insert_room_readings(self, readings: Iterable[RoomReading], received_s: float) -> int:
        """Store readings (a reading already stored is skipped); return how many were new."""
        n = 0
        with self.transaction():
            for r in readings:
                cur = self.execute(
                    "INSERT INTO room_readings (site, unit, sensor, ts_s, household_id,"
                    " t_room_c, sensor_ok, battery_pct, rssi_dbm, flag, received_s)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (site, unit, sensor, ts_s) DO NOTHING",
                    (
                        r.site,
                        r.unit,
                        r.sensor,
                        r.ts_s,
                        r.household_id,
                        r.t_room_c,
                        None if r.sensor_ok is None else int(r.sensor_ok),
                        r.battery_pct,
                        r.rssi_dbm,
                        r.flag,
                        received_s,
                    ),
                )
                n += int(cur.rowcount == 1)
        return n

    def room_sensor_readings(
        self, site: str, unit: str, sensor: str, start_s: int, end_s: int
    ) -> list[tuple[int, float | None, bool | None, str | None]]:
        """(ts_s, t_room_c, sensor_ok, flag) of one sensor's readings in [start_s, end_s], in
        time order (what the plausibility check restarts from)."""
        rows = self.fetch_all(
            "SELECT ts_s, t_room_c, sensor_ok, flag FROM room_readings WHERE site = ?"
            " AND unit = ? AND sensor = ? AND ts_s BETWEEN ? AND ? ORDER BY ts_s",
            (site, unit, sensor, start_s, end_s),
        )
        return [(int(t), _float(v), _bool(ok), flag) for t, v, ok, flag in rows]

    def _latest_readings(
        self, where: str, args: Sequence[Any], plausible_only: bool
    ) -> dict[str, dict[str, Any]]:
        plausible = " AND flag IS NULL" if plausible_only else ""
        rows = self.fetch_all(
            f"SELECT household_id, {', '.join(_LATEST_FIELDS)} FROM room_readings r"
            f" WHERE {where}{plausible} AND ts_s = (SELECT MAX(r2.ts_s) FROM room_readings r2"
            f" WHERE r2.household_id = r.household_id{plausible.replace('flag', 'r2.flag')})"
            " ORDER BY household_id, sensor",
            tuple(args),
        )
        out: dict[str, dict[str, Any]] = {}
        for row in rows:
            rec = dict(zip(_LATEST_FIELDS, row[1:], strict=True))
            rec["ts_s"] = int(rec["ts_s"])
            for key in ("t_room_c", "battery_pct", "rssi_dbm"):
                rec[key] = _float(rec[key])
            out.setdefault(str(row[0]), rec)
        return out

    def latest_room_readings(
        self, station_id: str, plausible_only: bool = False
    ) -> dict[str, dict[str, Any]]:
        """{household id: {ts_s, t_room_c, flag, sensor, site, unit, battery_pct, rssi_dbm}}:
        the newest reading (with `plausible_only`, the newest plausible one) of each household
        of the station that has any."""
        return self._latest_readings(_OF_STATION, (station_id,), plausible_only)

    def latest_room_reading(
        self, household_id: str, plausible_only: bool = False
    ) -> dict[str, Any] | None:
        """The newest reading of one household (as `latest_room_readings`), or None."""
        found = self._latest_readings("household_id = ?", (household_id,), plausible_only)
        return found.get(household_id)

    def room_reading_history(
        self, household_id: str, start_s: int, end_s: int, max_points: int | None = None
    ) -> list[tuple[int, float | None, str | None]]:
        """(ts_s, t_room_c, flag) of a household's readings in [start_s, end_s], in time
        order; bucketed means with `max_points` (module docstring)."""
        where = "WHERE household_id = ? AND ts_s BETWEEN ? AND ?"
        args = (household_id, start_s, end_s)
        with self.transaction():
            row = self.execute(f"SELECT COUNT(*) FROM room_readings {where}", args).fetchone()
            bucket = _bucket_s(start_s, end_s, max_points, int(row[0]) if row else 0)
            if not bucket:
                rows = self.execute(
                    f"SELECT ts_s, t_room_c, flag FROM room_readings {where}"
                    " ORDER BY ts_s, sensor",
                    args,
                ).fetchall()
                return [(int(t), _float(v), f) for t, v, f in rows]
            rows = self.execute(
                f"SELECT (ts_s / {bucket}) * {bucket} AS b,"
                " AVG(CASE WHEN flag IS NULL THEN t_room_c END), AVG(t_room_c),"
                " COUNT(CASE WHEN flag IS NULL THEN 1 END), MIN(flag)"
                f" FROM room_readings {where} GROUP BY b ORDER BY b",
                args,
            ).fetchall()
        return [
            (int(b), _float(good), None) if n else (int(b), _float(mean), flag)
            for b, good, mean, n, flag in rows
        ]

    def room_readings_between(
        self, site: str, start_s: int, end_s: int, units: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Every reading of a site's sensors (of `units`, when given) in [start_s, end_s], as
        dicts of the table's columns, in time order (for exports)."""
        cols = (
            *("ts_s", "household_id", "site", "unit", "sensor", "t_room_c", "sensor_ok"),
            *("battery_pct", "rssi_dbm", "flag"),
        )
        rows = self.fetch_all(
            f"SELECT {', '.join(cols)} FROM room_readings WHERE site = ?"
            " AND ts_s BETWEEN ? AND ? ORDER BY ts_s, household_id, sensor",
            (site, start_s, end_s),
        )
        out = [dict(zip(cols, r, strict=True)) for r in rows]
        for rec in out:
            rec["sensor_ok"] = _bool(rec["sensor_ok"])
        return [r for r in out if not units or r["unit"] in units]

    # ------------------------------------------------------------ estimates ----
    def save_room_estimates(
        self, station_id: str, ts_s: int, rows: Iterable[dict[str, Any]]
    ) -> int:
        """Store one estimator run: rows of {household_id, t_room_c, se_c, measured, method}
        (a second run at the same ts_s replaces a household's row). Returns the rows."""
        n = 0
        with self.transaction():
            for r in rows:
                self.execute(
                    "INSERT INTO room_estimates (household_id, ts_s, station_id, t_room_c, se_c,"
                    " measured, method) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (household_id, ts_s) DO UPDATE SET"
                    " station_id = excluded.station_id, t_room_c = excluded.t_room_c,"
                    " se_c = excluded.se_c, measured = excluded.measured,"
                    " method = excluded.method",
                    (
                        r["household_id"],
                        int(ts_s),
                        station_id,
                        _float(r.get("t_room_c")),
                        _float(r.get("se_c")),
                        int(bool(r.get("measured"))),
                        str(r.get("method") or ""),
                    ),
                )
                n += 1
        return n

    def _latest_estimates(self, where: str, args: Sequence[Any]) -> dict[str, dict[str, Any]]:
        rows = self.fetch_all(
            f"SELECT household_id, {', '.join(_ESTIMATE_FIELDS)} FROM room_estimates r"
            f" WHERE {where} AND ts_s = (SELECT MAX(r2.ts_s) FROM room_estimates r2"
            " WHERE r2.household_id = r.household_id) ORDER BY household_id",
            tuple(args),
        )
        return {
            str(hh): {
                "ts_s": int(ts),
                "t_room_c": _float(t),
                "se_c": _float(se),
                "measured": bool(measured),
                "method": method,
            }
            for hh, ts, t, se, measured, method in rows
        }

    def latest_room_estimates(self, station_id: str) -> dict[str, dict[str, Any]]:
        """{household id: {ts_s, t_room_c, se_c, measured, method}}: the newest estimate of
        each household of the station that has one."""
        return self._latest_estimates("station_id = ?", (station_id,))

    def latest_room_estimate(self, household_id: str) -> dict[str, Any] | None:
        """The newest estimate of one household (as `latest_room_estimates`), or None."""
        return self._latest_estimates("household_id = ?", (household_id,)).get(household_id)

    def room_estimate_history(
        self, household_id: str, start_s: int, end_s: int, max_points: int | None = None
    ) -> list[tuple[int, float | None, float | None, bool]]:
        """(ts_s, t_room_c, se_c, measured) of a household's estimates in [start_s, end_s],
        in time order; with `max_points`, bucketed means (measured: every row of the bucket
        was)."""
        where = "WHERE household_id = ? AND ts_s BETWEEN ? AND ?"
        args = (household_id, start_s, end_s)
        with self.transaction():
            row = self.execute(f"SELECT COUNT(*) FROM room_estimates {where}", args).fetchone()
            bucket = _bucket_s(start_s, end_s, max_points, int(row[0]) if row else 0)
            if bucket:
                sql = (
                    f"SELECT (ts_s / {bucket}) * {bucket} AS b, AVG(t_room_c), AVG(se_c),"
                    f" MIN(measured) FROM room_estimates {where} GROUP BY b ORDER BY b"
                )
            else:
                sql = (
                    "SELECT ts_s, t_room_c, se_c, measured FROM room_estimates"
                    f" {where} ORDER BY ts_s"
                )
            rows = self.execute(sql, args).fetchall()
        return [(int(t), _float(v), _float(se), bool(m)) for t, v, se, m in rows]

    def room_estimates_between(
        self, station_ids: Sequence[str], start_s: int, end_s: int
    ) -> list[dict[str, Any]]:
        """Every estimate of the stations in [start_s, end_s] as dicts (station_id,
        household_id, ts_s, t_room_c, se_c, measured, method), in time order (for exports)."""
        out: list[dict[str, Any]] = []
        cols = ("station_id", "household_id", "ts_s", "t_room_c", "se_c", "measured", "method")
        for station_id in station_ids:
            rows = self.fetch_all(
                f"SELECT {', '.join(cols)} FROM room_estimates WHERE station_id = ?"
                " AND ts_s BETWEEN ? AND ? ORDER BY ts_s, household_id",
                (station_id, start_s, end_s),
            )
            out.extend(dict(zip(cols, r, strict=True)) for r in rows)
        for rec in out:
            rec["measured"] = bool(rec["measured"])
        out.sort(key=lambda r: (r["ts_s"], r["household_id"]))
        return out

    # ------------------------------------------------------------ households ----
    def station_households(self, station_id: str) -> list[dict[str, Any]]:
        """Every household under the station's entrances: household_id, entrance_id,
        building_id, site, unit, point, floor, household_type, heated_area_m2,
        has_room_sensor, top_floor (the building's floors, else its highest household
        floor), ordered by building, entrance, floor (unknown last) and id."""
        cols = (
            "household_id",
            "entrance_id",
            "building_id",
            "site",
            "unit",
            "point",
            "floor",
            "household_type",
            "heated_area_m2",
            "has_room_sensor",
        )
        rows = self.fetch_all(_STATION_HOUSEHOLDS, (station_id,))
        out = []
        top: dict[str, int] = {}
        for r in rows:
            if r[6] is not None:
                top[r[2]] = max(top.get(r[2], r[6]), r[6])
        for r in rows:
            rec = dict(zip(cols, r[:10], strict=True))
            rec["has_room_sensor"] = bool(rec["has_room_sensor"])
            rec["heated_area_m2"] = _float(rec["heated_area_m2"])
            rec["top_floor"] = r[10] if r[10] is not None else top.get(r[2])
            out.append(rec)
        out.sort(
            key=lambda h: (
                h["building_id"],
                h["entrance_id"],
                h["floor"] is None,
                h["floor"] or 0,
                h["household_id"],
            )
        )
        return out
