"""One storage interface for the host, written once in SQL both SQLite and PostgreSQL speak.

`Storage` holds everything but telemetry partitioning, which each backend does its own way:
SQLite keeps one pair of tables per calendar month (`tele_YYYYMM` with the records,
`tele_msg_YYYYMM` with one row per message: the dedup ledger); PostgreSQL declares `tele` and
`tele_msg` partitioned by range of `ts_s` with one partition per month. Both partition by the
record's own board time, so backfilled data lands in the month it was measured.

Every public method runs in a transaction; wrap several in `with storage.transaction():` to
make them one (the ingest does so per batch, and acknowledges to the broker only after the
commit). One connection, guarded by a re-entrant lock: the service has one writer thread and
occasional command callers.

SQL is written with `?` placeholders; the PostgreSQL backend rewrites them to `%s`.
"""

from __future__ import annotations

import calendar
import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from host.storage.migrations import MIGRATIONS

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
)
QUERY_FIELDS = frozenset(TELE_COLUMNS) - {"point", "mode"}
_VALVE_FIELDS = TELE_COLUMNS[1:6]
_ENTRANCE_FIELDS = (
    "t_supply_c",
    "t_return_c",
    "p_supply_kpa",
    "p_return_kpa",
    "flow_m3h",
    "heat_kw",
)
ENTRANCE_POINT = "entrance"


class StorageError(RuntimeError):
    """The database refused an operation, or the URL names no backend we have."""


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
    into the `entrance` valve's record (or a record of their own when it has no valve)."""
    ent = msg.get("entrance") or {}
    meters = tuple(ent.get(name) for name in _ENTRANCE_FIELDS)
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
    return tuple(rows)


def month_bounds(ts_s: int) -> tuple[str, int, int]:
    """(YYYYMM, first second, first second of the next month) of the month holding ts_s."""
    d = datetime.fromtimestamp(ts_s, UTC)
    start = calendar.timegm((d.year, d.month, 1, 0, 0, 0))
    nxt = (d.year + d.month // 12, d.month % 12 + 1)
    end = calendar.timegm((nxt[0], nxt[1], 1, 0, 0, 0))
    return f"{d.year:04d}{d.month:02d}", start, end


def _merge_buckets(parts: Sequence[Sequence[tuple[int, float | None, int]]]):
    """Merge (bucket, mean, count) lists from several partitions into (bucket, mean)."""
    acc: dict[int, list[float]] = {}
    for part in parts:
        for bucket, mean, count in part:
            a = acc.setdefault(bucket, [0.0, 0])
            if mean is not None and count:
                a[0] += mean * count
                a[1] += count
    return [(b, (s / n if n else None)) for b, (s, n) in sorted(acc.items())]


class Storage:
    """The host's database. Subclasses provide the connection and telemetry partitions."""

    dialect = ""
    _types: dict[str, str] = {}

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self._units: dict[tuple[str, str], int] = {}

    # ------------------------------------------------------------ backend hooks ----
    def _cursor(self) -> Any:
        raise NotImplementedError

    def _begin(self) -> None:
        raise NotImplementedError

    def _commit(self) -> None:
        raise NotImplementedError

    def _rollback(self) -> None:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql

    def close(self) -> None:
        raise NotImplementedError

    def insert_telemetry(self, msgs: Sequence[TeleMessage]) -> list[bool]:
        """Store messages not stored before; True per message that was new (dedup on
        (unit, seq) within the record's month)."""
        raise NotImplementedError

    def _query_partitions(
        self, unit_id: int, point: str, field: str, start_s: int, end_s: int, bucket_s: int
    ) -> list[tuple[int, float | None]]:
        raise NotImplementedError

    # ------------------------------------------------------------ plumbing ----
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all (nestable)."""
        with self._lock:
            if self._depth == 0:
                self._begin()
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._rollback()
                    self._units.clear()  # ids created in the rolled-back transaction are gone
                raise
            self._depth -= 1
            if self._depth == 0:
                self._commit()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cur = self._cursor()
        cur.execute(self._sql(sql), tuple(params))
        return cur

    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.transaction():
            return list(self.execute(sql, params).fetchall())

    def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        with self.transaction():
            return self.execute(sql, params).fetchone()

    def migrate(self) -> int:
        """Apply pending migrations; return the schema version now in force."""
        with self.transaction():
            self.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                " name TEXT NOT NULL, applied_s {real} NOT NULL)".format(**self._types)
            )
            done = {row[0] for row in self.execute("SELECT version FROM schema_migrations")}
            for version, name, statements in MIGRATIONS:
                if version in done:
                    continue
                for statement in statements:
                    self.execute(statement.format(**self._types))
                self.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)", (version, name, time.time())
                )
        return self.schema_version()

    def schema_version(self) -> int:
        row = self.fetch_one("SELECT MAX(version) FROM schema_migrations")
        return int(row[0]) if row and row[0] is not None else 0

    # ------------------------------------------------------------ units ----
    def unit_id(self, site: str, unit: str) -> int | None:
        """The id of a registered unit (board), or None."""
        key = (site, unit)
        if key not in self._units:
            row = self.fetch_one("SELECT id FROM units WHERE site = ? AND unit = ?", key)
            if row is None:
                return None
            self._units[key] = int(row[0])
        return self._units[key]

    def add_unit(self, site: str, unit: str, entrance_id: str | None = None) -> int:
        """Register a unit (idempotent); return its id."""
        with self.transaction():
            self.execute(
                "INSERT INTO units (site, unit, entrance_id, created_s) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (site, unit) DO NOTHING",
                (site, unit, entrance_id, int(time.time())),
            )
            uid = self.unit_id(site, unit)
        assert uid is not None
        return uid

    def units(self) -> list[tuple[int, str, str]]:
        return [(int(a), b, c) for a, b, c in self.fetch_all("SELECT id, site, unit FROM units")]

    # ------------------------------------------------------------ events, refusals ----
    def insert_event(self, unit_id: int, msg: dict[str, Any], received_s: float) -> bool:
        """Store a board event once per (unit, seq); True when it was new."""
        cur = self.execute(
            "INSERT INTO events (unit_id, seq, ts_s, received_s, event, severity, valve, value,"
            " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (unit_id, seq) DO NOTHING",
            (
                unit_id,
                msg["seq"],
                msg["ts_s"],
                received_s,
                msg["event"],
                msg["severity"],
                msg.get("valve"),
                msg.get("value"),
                msg.get("detail"),
            ),
        )
        return bool(cur.rowcount == 1)

    def events(self, site: str, unit: str) -> list[tuple[int, int, str, str]]:
        """(seq, ts_s, event, severity) of a unit's events in sequence order."""
        return self.fetch_all(
            "SELECT e.seq, e.ts_s, e.event, e.severity FROM events e JOIN units u"
            " ON u.id = e.unit_id WHERE u.site = ? AND u.unit = ? ORDER BY e.seq",
            (site, unit),
        )

    def count_refusals(self, counts: dict[tuple[str, str, str], tuple[int, str]], now_s: float):
        """Add refusal counts {(site, unit, reason): (n, last detail)}."""
        for (site, unit, reason), (n, detail) in counts.items():
            self.execute(
                "INSERT INTO refusals (site, unit, reason, count, last_s, last_detail)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (site, unit, reason) DO UPDATE SET"
                " count = refusals.count + excluded.count, last_s = excluded.last_s,"
                " last_detail = excluded.last_detail",
                (site, unit, reason, n, now_s, detail[:200]),
            )

    def refusals(self) -> dict[tuple[str, str, str], int]:
        rows = self.fetch_all("SELECT site, unit, reason, count FROM refusals")
        return {(s, u, r): int(n) for s, u, r, n in rows}

    # ------------------------------------------------------------ boards ----
    BOARD_FIELDS = (
        "status",
        "status_s",
        "status_reason",
        "last_seen_s",
        "fw",
        "board",
        "boot_reason",
        "safe_mode",
        "targets_version",
        "config_version",
        "outbox_depth",
        "dropped_total",
        "health",
        "last_seq",
    )

    def save_board(self, unit_id: int, board: dict[str, Any]) -> None:
        values = [board.get(name) for name in self.BOARD_FIELDS]
        cols = ", ".join(self.BOARD_FIELDS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in self.BOARD_FIELDS)
        marks = ", ".join("?" * (len(values) + 1))
        self.execute(
            f"INSERT INTO boards (unit_id, {cols}) VALUES ({marks})"
            f" ON CONFLICT (unit_id) DO UPDATE SET {updates}",
            (unit_id, *values),
        )

    def boards(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Every known board's state by (site, unit)."""
        cols = ", ".join(f"b.{c}" for c in self.BOARD_FIELDS)
        rows = self.fetch_all(
            f"SELECT u.site, u.unit, {cols} FROM boards b JOIN units u ON u.id = b.unit_id"
        )
        return {(r[0], r[1]): dict(zip(self.BOARD_FIELDS, r[2:], strict=True)) for r in rows}

    # ------------------------------------------------------------ desired state, audit ----
    def latest_desired(self, unit_id: int, of: str) -> tuple[int, str, str] | None:
        """(version, payload, status) of the newest desired `of` for a unit."""
        row = self.fetch_one(
            "SELECT version, payload, status FROM desired WHERE unit_id = ? AND of = ?"
            " ORDER BY version DESC LIMIT 1",
            (unit_id, of),
        )
        return (int(row[0]), row[1], row[2]) if row else None

    def add_desired(
        self, unit_id: int, of: str, version: int, payload: str, now_s: float, who: str
    ) -> None:
        self.execute(
            "UPDATE desired SET status = 'superseded', status_s = ? WHERE unit_id = ?"
            " AND of = ? AND status = 'pending'",
            (now_s, unit_id, of),
        )
        self.execute(
            "INSERT INTO desired (unit_id, of, version, payload, issued_s, issued_by, status,"
            " status_s) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
            (unit_id, of, version, payload, now_s, who, now_s),
        )

    def set_desired_status(
        self, unit_id: int, of: str, version: int, status: str, reason: str | None, now_s: float
    ) -> bool:
        cur = self.execute(
            "UPDATE desired SET status = ?, reason = ?, status_s = ? WHERE unit_id = ?"
            " AND of = ? AND version = ?",
            (status, reason, now_s, unit_id, of, version),
        )
        return bool(cur.rowcount == 1)

    def desired_rows(self, site: str, unit: str) -> list[tuple[str, int, str, str | None]]:
        """(of, version, status, reason) of a unit's desired states, oldest first."""
        return self.fetch_all(
            "SELECT d.of, d.version, d.status, d.reason FROM desired d JOIN units u"
            " ON u.id = d.unit_id WHERE u.site = ? AND u.unit = ? ORDER BY d.of, d.version",
            (site, unit),
        )

    def latest_desired_all(self) -> list[tuple[str, str, str, int, str]]:
        """(site, unit, of, version, payload) of every unit's newest desired states."""
        return self.fetch_all(
            "SELECT u.site, u.unit, d.of, d.version, d.payload FROM desired d"
            " JOIN units u ON u.id = d.unit_id WHERE d.version = (SELECT MAX(version)"
            " FROM desired x WHERE x.unit_id = d.unit_id AND x.of = d.of)"
        )

    def audit(self, who: str, action: str, target: str, detail: Any, result: str) -> None:
        """Record who did what, to what, when, with which result."""
        text = detail if isinstance(detail, str) else json.dumps(detail, sort_keys=True)
        self.execute(
            "INSERT INTO audit (ts_s, who, action, target, detail, result)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (time.time(), who, action, target, text, result),
        )

    def audit_log(self, limit: int = 100) -> list[tuple[float, str, str, str, str, str]]:
        """Newest first: (ts_s, who, action, target, detail, result)."""
        return self.fetch_all(
            "SELECT ts_s, who, action, target, detail, result FROM audit ORDER BY id DESC LIMIT ?",
            (limit,),
        )

    # ------------------------------------------------------------ alarms ----
    ALARM_FIELDS = (
        "id",
        "site",
        "unit",
        "point",
        "kind",
        "severity",
        "raised_s",
        "raised_value",
        "message",
        "acked_s",
        "acked_by",
        "cleared_s",
        "cleared_value",
        "clear_reason",
    )

    def raise_alarm(
        self,
        key: tuple[str, str, str, str],
        severity: str,
        ts_s: float,
        value: float | None,
        message: str,
    ) -> int:
        """Insert an open alarm; the unique index refuses a second open one for the key."""
        row = self.execute(
            "INSERT INTO alarms (site, unit, point, kind, severity, raised_s, raised_value,"
            " message) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (*key, severity, ts_s, value, message),
        ).fetchone()
        return int(row[0])

    def clear_alarm(self, alarm_id: int, ts_s: float, value: float | None, reason: str) -> None:
        self.execute(
            "UPDATE alarms SET cleared_s = ?, cleared_value = ?, clear_reason = ?"
            " WHERE id = ? AND cleared_s IS NULL",
            (ts_s, value, reason, alarm_id),
        )

    def ack_alarm(self, alarm_id: int, who: str, ts_s: float) -> bool:
        cur = self.execute(
            "UPDATE alarms SET acked_s = ?, acked_by = ? WHERE id = ? AND acked_s IS NULL",
            (ts_s, who, alarm_id),
        )
        return bool(cur.rowcount == 1)

    def alarms(self, open_only: bool = False) -> list[dict[str, Any]]:
        where = " WHERE cleared_s IS NULL" if open_only else ""
        rows = self.fetch_all(
            f"SELECT {', '.join(self.ALARM_FIELDS)} FROM alarms{where} ORDER BY id"
        )
        return [dict(zip(self.ALARM_FIELDS, r, strict=True)) for r in rows]

    def alarm(self, alarm_id: int) -> dict[str, Any] | None:
        row = self.fetch_one(
            f"SELECT {', '.join(self.ALARM_FIELDS)} FROM alarms WHERE id = ?", (alarm_id,)
        )
        return dict(zip(self.ALARM_FIELDS, row, strict=True)) if row else None

    THRESHOLD_FIELDS = (
        "t_low_c",
        "t_high_c",
        "t_very_high_c",
        "hysteresis_c",
        "min_duration_s",
    )

    def set_thresholds(self, site: str, unit: str, point: str, values: dict[str, Any]) -> None:
        cols = ", ".join(self.THRESHOLD_FIELDS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in self.THRESHOLD_FIELDS)
        self.execute(
            f"INSERT INTO thresholds (site, unit, point, {cols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            f" ON CONFLICT (site, unit, point) DO UPDATE SET {updates}",
            (site, unit, point, *(values.get(c) for c in self.THRESHOLD_FIELDS)),
        )

    def thresholds(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        rows = self.fetch_all(
            f"SELECT site, unit, point, {', '.join(self.THRESHOLD_FIELDS)} FROM thresholds"
        )
        return {
            (r[0], r[1], r[2]): {
                k: v for k, v in zip(self.THRESHOLD_FIELDS, r[3:], strict=True) if v is not None
            }
            for r in rows
        }

    # ------------------------------------------------------------ telemetry queries ----
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

    def count_samples(self, unit_id: int, point: str, start_s: int, end_s: int) -> int:
        raise NotImplementedError

    def record_count(self) -> int:
        """Telemetry records stored in every partition."""
        raise NotImplementedError

    def message_seqs(self, site: str, unit: str) -> list[tuple[int, int]]:
        """(seq, ts_s) of every stored telemetry message of a unit, in seq order."""
        raise NotImplementedError
