"""SQLite backend: the embedded default. WAL journal, one pair of tables per month.

`tele_YYYYMM` holds the records (WITHOUT ROWID, clustered by unit, point and time, so a
point's curve is one range scan); `tele_msg_YYYYMM` holds one row per message, keyed by
(unit, seq): the dedup ledger. The `partitions` table lists the months that exist, so a query
opens only the months its range touches, and a season's writes go to small, hot tables.

Durability: the journal is WAL and `synchronous` comes from the config: FULL (default) makes
every commit durable across power loss; NORMAL survives a killed process but a power cut may
lose the last commits.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from host.storage.base import Storage
from host.storage.telemetry import (
    LATEST_COLUMNS,
    TELE_COLUMNS,
    TeleMessage,
    merge_buckets,
    month_bounds,
)

_TELE_DDL = """CREATE TABLE IF NOT EXISTS tele_{m} (
    unit_id INTEGER NOT NULL, ts_s INTEGER NOT NULL, seq INTEGER NOT NULL,
    point TEXT NOT NULL, t_return_c REAL, target_c REAL, opening_cmd_pct REAL,
    opening_meas_pct REAL, pi_integral_pct REAL, mode TEXT, sensor_ok INTEGER,
    valve_ok INTEGER, t_supply_c REAL, ent_t_return_c REAL, p_supply_kpa REAL,
    p_return_kpa REAL, flow_m3h REAL, heat_kw REAL, t_outdoor_c REAL, pump_speed_pct REAL,
    pump_power_kw REAL, t_supply_setpoint_c REAL,
    PRIMARY KEY (unit_id, point, ts_s, seq)) WITHOUT ROWID"""
_MSG_DDL = """CREATE TABLE IF NOT EXISTS tele_msg_{m} (
    unit_id INTEGER NOT NULL, seq INTEGER NOT NULL, ts_s INTEGER NOT NULL,
    received_s REAL NOT NULL, n_records INTEGER NOT NULL,
    PRIMARY KEY (unit_id, seq)) WITHOUT ROWID"""
# Columns named: a partition made before a migration has the later columns at its end.
_INSERT_ROWS = (
    "INSERT INTO tele_{m} (unit_id, ts_s, seq, "
    + ", ".join(TELE_COLUMNS)
    + ") VALUES ("
    + ", ".join("?" * (3 + len(TELE_COLUMNS)))
    + ")"
)


class SqliteStorage(Storage):
    """Storage in one SQLite file (`:memory:` for throw-away use)."""

    dialect = "sqlite"
    _types = {"id": "INTEGER PRIMARY KEY AUTOINCREMENT", "big": "INTEGER", "real": "REAL"}

    def __init__(self, path: str | Path, synchronous: str = "FULL") -> None:
        super().__init__()
        self.path = str(path)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={synchronous}")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA busy_timeout=10000")
        # Each batch touches one page per (unit, point) it writes: a page cache larger than
        # the 2 MiB default keeps a busy month's hot pages in memory (about 2x faster ingest).
        self._conn.execute("PRAGMA cache_size=-65536")  # KiB: 64 MiB
        self._months: dict[str, tuple[int, int]] = {}  # empty: reload from `partitions`
        self.migrate()

    def _cursor(self) -> sqlite3.Cursor:
        return self._conn.cursor()

    def _begin(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        self._conn.execute("COMMIT")

    def _rollback(self) -> None:
        self._conn.execute("ROLLBACK")
        self._months.clear()  # months created in the rolled-back transaction are gone

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _migrate_partitions(self) -> None:
        """Partitions made before a column was added get it (at their end; rows are inserted
        by column name)."""
        for (name,) in self.execute("SELECT name FROM partitions ORDER BY name").fetchall():
            have = {r[1] for r in self.execute(f"PRAGMA table_info(tele_{name})").fetchall()}
            for column in TELE_COLUMNS:
                if column not in have:
                    kind = "TEXT" if column == "mode" else "REAL"
                    self.execute(f"ALTER TABLE tele_{name} ADD COLUMN {column} {kind}")

    def _month(self, ts_s: int) -> str:
        name, start, end = month_bounds(ts_s)
        if name not in self._months:
            self._reload_months()
            if name not in self._months:
                self.execute(_TELE_DDL.format(m=name))
                self.execute(_MSG_DDL.format(m=name))
                self.execute(
                    "INSERT INTO partitions VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
                    (name, start, end),
                )
                self._months[name] = (start, end)
        return name

    def _reload_months(self) -> None:
        """Call inside a transaction."""
        for name, a, b in self.execute("SELECT name, start_s, end_s FROM partitions").fetchall():
            self._months[name] = (int(a), int(b))

    def insert_telemetry(self, msgs: Sequence[TeleMessage]) -> list[bool]:
        new: list[bool] = []
        rows: dict[str, list[tuple[Any, ...]]] = {}
        with self.transaction():
            cur = self._conn.cursor()
            for m in msgs:
                month = self._month(m.ts_s)
                cur.execute(
                    f"INSERT OR IGNORE INTO tele_msg_{month} VALUES (?, ?, ?, ?, ?)",
                    (m.unit_id, m.seq, m.ts_s, m.received_s, len(m.rows)),
                )
                fresh = cur.rowcount == 1
                new.append(fresh)
                if fresh:
                    head = (m.unit_id, m.ts_s, m.seq)
                    rows.setdefault(month, []).extend(head + r for r in m.rows)
            for month, batch in rows.items():
                cur.executemany(_INSERT_ROWS.format(m=month), batch)
        return new

    def _months_in(self, start_s: int, end_s: int) -> list[str]:
        self._reload_months()  # another connection may have added a month
        return sorted(n for n, (a, b) in self._months.items() if a <= end_s and b > start_s)

    def _query_partitions(
        self, unit_id: int, point: str, field: str, start_s: int, end_s: int, bucket_s: int
    ) -> list[tuple[int, float | None]]:
        where = "WHERE unit_id = ? AND point = ? AND ts_s BETWEEN ? AND ?"
        args = (unit_id, point, start_s, end_s)
        months = self._months_in(start_s, end_s)
        if not bucket_s:
            out: list[tuple[int, float | None]] = []
            for m in months:
                sql = f"SELECT ts_s, {field} FROM tele_{m} {where} ORDER BY ts_s, seq"
                out.extend(self._conn.execute(sql, args).fetchall())
            return out
        parts = []
        for m in months:
            sql = (
                f"SELECT (ts_s / {bucket_s}) * {bucket_s} AS b, AVG({field}), COUNT({field})"
                f" FROM tele_{m} {where} GROUP BY b ORDER BY b"
            )
            parts.append(self._conn.execute(sql, args).fetchall())
        return merge_buckets(parts)

    def _latest_parts(self, unit_id: int) -> Iterator[list[tuple[Any, ...]]]:
        names = ", ".join(LATEST_COLUMNS)
        for m in reversed(self._months_in(0, 1 << 40)):
            # Bare columns of a MAX() aggregate come from the row holding the maximum.
            yield self._conn.execute(
                f"SELECT {names}, MAX(ts_s * 4294967296 + seq) FROM tele_{m}"
                " WHERE unit_id = ? GROUP BY point",
                (unit_id,),
            ).fetchall()

    def _latest_value(
        self, unit_id: int, point: str, field: str, start_s: int, end_s: int
    ) -> tuple[int, float] | None:
        for m in reversed(self._months_in(start_s, end_s)):
            row = self._conn.execute(
                f"SELECT ts_s, {field} FROM tele_{m} WHERE unit_id = ? AND point = ?"
                f" AND ts_s BETWEEN ? AND ? AND {field} IS NOT NULL"
                " ORDER BY ts_s DESC, seq DESC LIMIT 1",
                (unit_id, point, start_s, end_s),
            ).fetchone()
            if row is not None:
                return int(row[0]), float(row[1])
        return None

    def count_samples(self, unit_id: int, point: str, start_s: int, end_s: int) -> int:
        total = 0
        with self.transaction():
            for m in self._months_in(start_s, end_s):
                total += self._conn.execute(
                    f"SELECT COUNT(*) FROM tele_{m} WHERE unit_id = ? AND point = ?"
                    " AND ts_s BETWEEN ? AND ?",
                    (unit_id, point, start_s, end_s),
                ).fetchone()[0]
        return total

    def record_count(self) -> int:
        with self.transaction():
            return sum(
                self._conn.execute(f"SELECT COUNT(*) FROM tele_{m}").fetchone()[0]
                for m in self._months_in(0, 1 << 40)
            )

    def message_seqs(self, site: str, unit: str) -> list[tuple[int, int]]:
        uid = self.unit_id(site, unit)
        if uid is None:
            return []
        out: list[tuple[int, int]] = []
        with self.transaction():
            for m in self._months_in(0, 1 << 40):
                out.extend(
                    self._conn.execute(
                        f"SELECT seq, ts_s FROM tele_msg_{m} WHERE unit_id = ?", (uid,)
                    ).fetchall()
                )
        return sorted(out)
