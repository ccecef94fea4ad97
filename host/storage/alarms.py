"""Alarms and their thresholds.

`alarms` holds every alarm raised, per (site, unit, point, kind): when and at which value it
was raised, who acknowledged it, when and why it cleared; a unique index allows at most one
open (uncleared) alarm per key. `thresholds` holds the per-point overrides of the configured
limits (degC, s), one row per (site, unit, point); `*` as point stands for every household.
"""

from __future__ import annotations

from typing import Any

from host.storage.connection import Connection


class AlarmTables(Connection):
    """The `alarms` and `thresholds` tables."""

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
        """Acknowledge an alarm once; False when it was acknowledged already (or is none)."""
        cur = self.execute(
            "UPDATE alarms SET acked_s = ?, acked_by = ? WHERE id = ? AND acked_s IS NULL",
            (ts_s, who, alarm_id),
        )
        return bool(cur.rowcount == 1)

    def alarms(self, open_only: bool = False) -> list[dict[str, Any]]:
        """Every alarm (or the open ones) as ALARM_FIELDS, oldest first."""
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
        """Replace a point's overrides (THRESHOLD_FIELDS; a missing one is NULL: configured)."""
        cols = ", ".join(self.THRESHOLD_FIELDS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in self.THRESHOLD_FIELDS)
        self.execute(
            f"INSERT INTO thresholds (site, unit, point, {cols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            f" ON CONFLICT (site, unit, point) DO UPDATE SET {updates}",
            (site, unit, point, *(values.get(c) for c in self.THRESHOLD_FIELDS)),
        )

    def thresholds(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        """Every point's overrides by (site, unit, point), the NULL ones left out."""
        rows = self.fetch_all(
            f"SELECT site, unit, point, {', '.join(self.THRESHOLD_FIELDS)} FROM thresholds"
        )
        return {
            (r[0], r[1], r[2]): {
                k: v for k, v in zip(self.THRESHOLD_FIELDS, r[3:], strict=True) if v is not None
            }
            for r in rows
        }
