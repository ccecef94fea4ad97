"""The connection object: one database connection, its transactions, the schema's version.

`Connection` owns the connection and nothing else: the tables are read and written by the
concern modules next to it (units.py, telemetry.py, registry.py, ...), each a mixin over
`Connection`, composed into `host.storage.base.Storage`; a backend (sqlite.py, postgres.py)
subclasses that and provides the hooks below.

Every public method runs in a transaction; wrap several in `with storage.transaction():` to
make them one (the ingest does so per batch, and acknowledges to the broker only after the
commit). One connection, guarded by a re-entrant lock: the service has one writer thread and
occasional command callers.

SQL is written once with `?` placeholders in the dialect both databases speak; the PostgreSQL
backend translates it (host/storage/dialect.py). `fetch_one` and `fetch_all` stay public for
tests and ad-hoc reads; the host's own statements all live in the concern modules.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from host.errors import EvenheatError
from host.storage.migrations import MIGRATIONS, PARTITION_MIGRATIONS


class StorageError(EvenheatError, RuntimeError):
    """The database refused an operation, or the URL names no backend we have."""


class Connection:
    """One connection and its transactions. Subclasses provide the backend hooks."""

    dialect = ""
    _types: dict[str, str] = {}

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0

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
        """The statement in the backend's own parameter style (SQLite's is `?`)."""
        return sql

    def _forget(self) -> None:
        """Drop what was cached from a rolled-back transaction (concerns extend this)."""

    def _migrate_partitions(self) -> None:
        """Bring the telemetry partitions that exist to the columns of TELE_COLUMNS (after a
        migration in PARTITION_MIGRATIONS; inside its transaction)."""

    def close(self) -> None:
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
                    self._forget()
                raise
            self._depth -= 1
            if self._depth == 0:
                self._commit()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement (inside the caller's transaction); return the cursor."""
        cur = self._cursor()
        cur.execute(self._sql(sql), tuple(params))
        return cur

    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.transaction():
            return list(self.execute(sql, params).fetchall())

    def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        with self.transaction():
            row: tuple[Any, ...] | None = self.execute(sql, params).fetchone()
            return row

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
                if version in PARTITION_MIGRATIONS:
                    self._migrate_partitions()
                self.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)", (version, name, time.time())
                )
        return self.schema_version()

    def schema_version(self) -> int:
        row = self.fetch_one("SELECT MAX(version) FROM schema_migrations")
        return int(row[0]) if row and row[0] is not None else 0
