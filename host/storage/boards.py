"""Board state: the newest status of every board (online, offline and why, firmware, health,
outbox depth, the versions of the targets and config it applied), one row per unit.

The service keeps the state in memory and saves it on every change, so a restarted host
starts from what it last knew.
"""

from __future__ import annotations

from typing import Any

from host.storage.connection import Connection


class BoardTables(Connection):
    """The `boards` table."""

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
        """Store a board's state (BOARD_FIELDS; a missing one is stored as NULL)."""
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
