"""Host storage: `open_storage(url)` picks the backend from the database URL.

`sqlite:///relative.db`, `sqlite:////absolute/path.db` or `sqlite://:memory:` for the embedded
default; `postgresql://user:pass@host:port/dbname` (or `postgres://`) for PostgreSQL.
"""

from __future__ import annotations

from host.storage.base import RoomReading, Storage, StorageError, TeleMessage, tele_rows

__all__ = ["RoomReading", "Storage", "StorageError", "TeleMessage", "open_storage", "tele_rows"]


def open_storage(url: str, sqlite_synchronous: str = "FULL") -> Storage:
    """Open (and migrate) the database named by `url`."""
    if url.startswith("sqlite://"):
        from host.storage.sqlite import SqliteStorage

        path = url[len("sqlite://") :]
        path = path[1:] if path.startswith("/") else path
        return SqliteStorage(path or ":memory:", sqlite_synchronous)
    if url.startswith(("postgresql://", "postgres://")):
        from host.storage.postgres import PostgresStorage

        return PostgresStorage(url)
    raise StorageError(f"database url {url!r}: expected sqlite:// or postgresql://")
