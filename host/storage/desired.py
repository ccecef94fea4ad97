"""Desired state: every version of the targets and config the host issued to a board.

One row per (unit, of, version), `of` being "targets" or "config": the payload as published
(JSON text), who issued it and when, and its status: pending until the board reports it
applied or rejected (with a reason), or superseded by a newer version before that.
"""

from __future__ import annotations

from typing import Any

from host.storage.connection import Connection

DESIRED_HISTORY_FIELDS = ("of", "version", "status", "reason", "issued_s", "issued_by", "status_s")


class DesiredTables(Connection):
    """The `desired` table."""

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
        """A new pending version; the one still pending before it is superseded."""
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
        """Record what became of a version; False when there is no such version."""
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

    def desired_history(self, unit_id: int, limit: int) -> list[dict[str, Any]]:
        """Newest first: the last `limit` versions issued to a unit, as
        DESIRED_HISTORY_FIELDS (no payload)."""
        rows = self.fetch_all(
            f"SELECT {', '.join(DESIRED_HISTORY_FIELDS)} FROM desired WHERE unit_id = ?"
            " ORDER BY issued_s DESC, version DESC LIMIT ?",
            (unit_id, int(limit)),
        )
        return [dict(zip(DESIRED_HISTORY_FIELDS, r, strict=True)) for r in rows]

    def desired_totals(self) -> tuple[int, int]:
        """(versions issued, versions applied) over every unit and both kinds."""
        row = self.fetch_one(
            "SELECT COUNT(*), SUM(CASE WHEN status = 'applied' THEN 1 ELSE 0 END) FROM desired"
        )
        return (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)
