"""API users: name, role, password hash (never the password), created time, disabled flag.

The hashing, the role checks and the last-admin rule are host/api/users.py's; this module
only reads and writes the rows.
"""

from __future__ import annotations

from typing import Any

from host.storage.connection import Connection, StorageError

USER_CHANGES = ("role", "password_hash", "disabled")  # what update_user may set


class UserTables(Connection):
    """The `users` table."""

    def user_row(self, name: str) -> tuple[str, str, float, int, str] | None:
        """(name, role, created_s, disabled, password_hash) of a user, or None."""
        row = self.fetch_one(
            "SELECT name, role, created_s, disabled, password_hash FROM users WHERE name = ?",
            (name,),
        )
        return (row[0], row[1], row[2], row[3], row[4]) if row else None

    def user_rows(self) -> list[tuple[str, str, float, int]]:
        """(name, role, created_s, disabled) of every user, by name."""
        return self.fetch_all("SELECT name, role, created_s, disabled FROM users ORDER BY name")

    def user_count(self, role: str | None = None, enabled_only: bool = False) -> int:
        """How many users there are (of one role, enabled ones only)."""
        filters, args = [], []
        if role is not None:
            filters.append("role = ?")
            args.append(role)
        if enabled_only:
            filters.append("disabled = 0")
        where = f" WHERE {' AND '.join(filters)}" if filters else ""
        row = self.fetch_one(f"SELECT COUNT(*) FROM users{where}", args)
        return int(row[0]) if row else 0

    def insert_user(self, name: str, role: str, password_hash: str, created_s: float) -> None:
        """A new, enabled user."""
        with self.transaction():
            self.execute(
                "INSERT INTO users (name, role, password_hash, created_s, disabled)"
                " VALUES (?, ?, ?, ?, 0)",
                (name, role, password_hash, created_s),
            )

    def update_user(self, name: str, changes: dict[str, Any]) -> None:
        """Set some of USER_CHANGES of a user."""
        unknown = sorted(set(changes) - set(USER_CHANGES))
        if unknown:
            raise StorageError(f"no user column(s) {unknown} to change; one of {USER_CHANGES}")
        if not changes:
            return
        sets = ", ".join(f"{k} = ?" for k in changes)
        with self.transaction():
            self.execute(f"UPDATE users SET {sets} WHERE name = ?", (*changes.values(), name))
