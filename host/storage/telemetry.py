"""Telemetry: one record per valve per message (and one for the entrance's own meters).

The records and the dedup ledger (one row per message, keyed by (unit, seq)) are partitioned
by calendar month of the record's own board time, so backfilled data lands in the month it
was measured. Each backend partitions its own way: SQLite keeps one pair of tables per month
(`tele_YYYYMM`, `tele_msg_YYYYMM`, see sqlite.py); PostgreSQL declares `tele` and `tele_msg`
partitioned by range of `ts_s` (see postgres.py). This module holds what both share: the
record's columns, the message type, and the queries written over the backends' hooks.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from host.storage.connection import StorageError
from host.storage.units import UnitTables

# One telemetry record per valve (and one for the entrance's own meters): these columns
# follow (unit_id, ts_s, seq) in the partition tables.
TELE_COLUMNS = (
    "point",
    "t_return_c",
    "target_c",
    "opening_cmd_pct",
    "opening_meas_pct",
    "pi_integral_pct",
    "mode",
    "sensor_ok",
    "valve_ok",
    "t_supply_c",
    "ent_t_return_c",
    "p_supply_kpa",
    "p_return_kpa",
    "flow_m3h",
    "heat_kw",
    "t_outdoor_c",  # the entrance's (or station unit's) outdoor probe: migration 3
    "pump_speed_pct",  # a station's pump and supply set-point (point "station"): migration 4
    "pump_power_kw",
    "t_supply_setpoint_c",
)
QUERY_FIELDS = frozenset(TELE_COLUMNS) - {"point", "mode"}
LATEST_COLUMNS = ("ts_s", "seq", *TELE_COLUMNS)  # what a backend's latest-record rows hold
_VALVE_FIELDS = TELE_COLUMNS[1:6]
_ENTRANCE_FIELDS = (  # the protocol's names of TELE_COLUMNS[9:16]
    "t_supply_c",
    "t_return_c",
    "p_supply_kpa",
    "p_return_kpa",
    "flow_m3h",
    "heat_kw",
    "t_outdoor_c",
)
_PUMP_FIELDS = TELE_COLUMNS[16:]
ENTRANCE_POINT = "entrance"
STATION_POINT = "station"  # the record of a station unit's `station` object


@dataclass(frozen=True)
class TeleMessage:
    """One validated telemetry message, ready to store: rows follow TELE_COLUMNS."""

    unit_id: int
    seq: int
    ts_s: int
    received_s: float
    rows: tuple[tuple[Any, ...], ...]


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def tele_rows(msg: dict[str, Any]) -> tuple[tuple[Any, ...], ...]:
    """The records of a decoded `tele` message: one per valve, the entrance meters merged
    into the `entrance` valve's record (or a record of their own when it has no valve), and
    a station unit's `station` under point "station" (its mode in `mode`)."""
    ent = msg.get("entrance") or {}
    no_pump = (None,) * len(_PUMP_FIELDS)
    meters = tuple(ent.get(name) for name in _ENTRANCE_FIELDS) + no_pump
    none_meters = (None,) * len(meters)
    rows = []
    seen_entrance = False
    for v in msg["valves"]:
        is_entrance = v["id"] == ENTRANCE_POINT
        seen_entrance = seen_entrance or is_entrance
        rows.append(
            (v["id"], *(v.get(name) for name in _VALVE_FIELDS), v.get("mode"))
            + (_flag(v.get("sensor_ok")), _flag(v.get("valve_ok")))
            + (meters if is_entrance else none_meters)
        )
    if ent and not seen_entrance:
        rows.append((ENTRANCE_POINT, *(None,) * 8, *meters))
    st = msg.get("station")
    if st:
        station = tuple(st.get(name) for name in _ENTRANCE_FIELDS + _PUMP_FIELDS)
        rows.append((STATION_POINT, *(None,) * 5, st["mode"], None, None, *station))
    return tuple(rows)


def month_bounds(ts_s: int) -> tuple[str, int, int]:
    """(YYYYMM, first second, first second of the next month) of the month holding ts_s."""
    d = datetime.fromtimestamp(ts_s, UTC)
    start = calendar.timegm((d.year, d.month, 1, 0, 0, 0))
    nxt = (d.year + d.month // 12, d.month % 12 + 1)
    end = calendar.timegm((nxt[0], nxt[1], 1, 0, 0, 0))
    return f"{d.year:04d}{d.month:02d}", start, end


def merge_buckets(
    parts: Sequence[Sequence[tuple[int, float | None, int]]],
) -> list[tuple[int, float | None]]:
    """Merge (bucket, mean, count) lists from several partitions into (bucket, mean)."""
    acc: dict[int, list[float]] = {}
    for part in parts:
        for bucket, mean, count in part:
            a = acc.setdefault(bucket, [0.0, 0])
            if mean is not None and count:
                a[0] += mean * count
                a[1] += count
    return [(b, (s / n if n else None)) for b, (s, n) in sorted(acc.items())]


class TelemetryTables(UnitTables):
    """The telemetry partitions: writes and partition reads are the backend's hooks."""

    # ------------------------------------------------------------ backend hooks ----
    def insert_telemetry(self, msgs: Sequence[TeleMessage]) -> list[bool]:
        """Store messages not stored before; True per message that was new (dedup on
        (unit, seq) within the record's month)."""
        raise NotImplementedError

    def _query_partitions(
        self, unit_id: int, point: str, field: str, start_s: int, end_s: int, bucket_s: int
    ) -> list[tuple[int, float | None]]:
        raise NotImplementedError

    def _latest_parts(self, unit_id: int) -> Iterable[Sequence[tuple[Any, ...]]]:
        """Per partition, newest first: the newest record of each point of a unit, as
        LATEST_COLUMNS. Called inside a transaction."""
        raise NotImplementedError

    def count_samples(self, unit_id: int, point: str, start_s: int, end_s: int) -> int:
        """Records of one point of a unit in [start_s, end_s]."""
        raise NotImplementedError

    def record_count(self) -> int:
        """Telemetry records stored in every partition."""
        raise NotImplementedError

    def message_seqs(self, site: str, unit: str) -> list[tuple[int, int]]:
        """(seq, ts_s) of every stored telemetry message of a unit, in seq order."""
        raise NotImplementedError

    def _latest_value(
        self, unit_id: int, point: str, field: str, start_s: int, end_s: int
    ) -> tuple[int, float] | None:
        """(ts_s, value) of the newest non-null `field` of a point in [start_s, end_s]."""
        raise NotImplementedError

    # ------------------------------------------------------------ queries ----
    def query(
        self,
        site: str,
        unit: str,
        point: str,
        field: str,
        start_s: int,
        end_s: int,
        max_points: int | None = None,
    ) -> list[tuple[int, float | None]]:
        """(ts_s, value) of one point's field in [start_s, end_s], in time order.

        With `max_points`, ranges holding more samples come back averaged into equal time
        buckets (bucket start, mean), at most about `max_points` of them.
        """
        if field not in QUERY_FIELDS:
            raise StorageError(f"no telemetry field {field!r}; one of {sorted(QUERY_FIELDS)}")
        uid = self.unit_id(site, unit)
        if uid is None:
            return []
        bucket_s = 0
        if max_points:
            bucket_s = max(1, -(-(end_s - start_s + 1) // max_points))
            if self.count_samples(uid, point, start_s, end_s) <= max_points:
                bucket_s = 0
        with self.transaction():
            return self._query_partitions(uid, point, field, start_s, end_s, bucket_s)

    def latest_value(
        self,
        site: str,
        unit: str,
        point: str,
        field: str,
        start_s: int = 0,
        end_s: int = 1 << 40,
    ) -> tuple[int, float] | None:
        """(ts_s, value) of the newest record of a point whose `field` is not null, within
        [start_s, end_s]; None when there is none (or no such unit)."""
        if field not in QUERY_FIELDS:
            raise StorageError(f"no telemetry field {field!r}; one of {sorted(QUERY_FIELDS)}")
        uid = self.unit_id(site, unit)
        if uid is None:
            return None
        with self.transaction():
            return self._latest_value(uid, point, field, start_s, end_s)

    def latest_records(self, site: str, unit: str) -> dict[str, dict[str, Any]]:
        """The newest stored record of every point of a unit: {point: {ts_s, seq, field:
        value, ...}}, by point. Empty for an unknown unit or one that never sent data."""
        uid = self.unit_id(site, unit)
        if uid is None:
            return {}
        out: dict[str, dict[str, Any]] = {}
        with self.transaction():
            for part in self._latest_parts(uid):
                for row in part:
                    record = dict(zip(LATEST_COLUMNS, row[: len(LATEST_COLUMNS)], strict=True))
                    point = record.pop("point")
                    if point not in out:
                        out[point] = record
        return dict(sorted(out.items()))
