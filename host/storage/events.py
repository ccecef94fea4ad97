"""Board events and refused messages: what the boards reported happening, and what the
ingest would not store.

`events` holds each board event once per (unit, seq) (a replay after a reconnect is not a
second event); `refusals` counts the messages the ingest refused, per (site, unit, reason),
with the last refusal's time and detail.
"""

from __future__ import annotations

from typing import Any

from host.storage.connection import Connection


class EventTables(Connection):
    """The `events` and `refusals` tables."""

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

    def count_refusals(
        self, counts: dict[tuple[str, str, str], tuple[int, str]], now_s: float
    ) -> None:
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
        """How many messages were refused, by (site, unit, reason)."""
        rows = self.fetch_all("SELECT site, unit, reason, count FROM refusals")
        return {(s, u, r): int(n) for s, u, r, n in rows}
