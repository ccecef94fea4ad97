"""Balancing: the per-station strategy settings, the operators' overrides, the decisions.

- `strategy_settings`: one row per station, the settings an operator changed (JSON), when and
  by whom; what is not stored takes the configured default.
- `overrides`: a valve an operator has taken over, holding a fixed target (degC) or a manual
  opening (%), per (site, unit, valve), until released.
- `decisions`: one row per valve per balancing run (numbered by `run_id`): the old and new
  target (degC), why, the group mean it was compared with, the inputs (JSON), the trigger,
  and the desired-targets version that carried a change.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from host.storage.connection import Connection

DECISION_FIELDS = (
    "run_id",
    "station_id",
    "ts_s",
    "site",
    "unit",
    "valve",
    "old_target_c",
    "new_target_c",
    "reason",
    "group_mean_c",
    "inputs",
    "trigger",
    "desired_version",
)
# what a run records per valve: the decision fields the run itself does not give
DECISION_ROW_FIELDS = DECISION_FIELDS[3:11] + DECISION_FIELDS[12:]
OVERRIDE_FIELDS = ("site", "unit", "valve", "target_c", "opening_pct", "set_s", "set_by")


class BalancingTables(Connection):
    """The `strategy_settings`, `overrides` and `decisions` tables."""

    # ------------------------------------------------------------ settings ----
    def strategy_settings(self, station_id: str) -> dict[str, Any] | None:
        """The settings stored for a station (None: none ever stored)."""
        row = self.fetch_one(
            "SELECT settings FROM strategy_settings WHERE station_id = ?", (station_id,)
        )
        return json.loads(row[0]) if row else None

    def save_strategy_settings(
        self, station_id: str, settings: dict[str, Any], ts_s: float, who: str
    ) -> None:
        """Replace the settings stored for a station."""
        with self.transaction():
            self.execute(
                "INSERT INTO strategy_settings (station_id, settings, updated_s, updated_by)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (station_id) DO UPDATE SET"
                " settings = excluded.settings, updated_s = excluded.updated_s,"
                " updated_by = excluded.updated_by",
                (station_id, json.dumps(settings, sort_keys=True), ts_s, who),
            )

    def drop_strategy_settings(self, station_id: str) -> None:
        """Forget a (deleted) station's settings; its decisions stay."""
        with self.transaction():
            self.execute("DELETE FROM strategy_settings WHERE station_id = ?", (station_id,))

    # ------------------------------------------------------------ decisions ----
    def record_run(
        self, station_id: str, ts_s: float, trigger: str, rows: Sequence[dict[str, Any]]
    ) -> int:
        """Record one balancing run's decisions (each with DECISION_ROW_FIELDS, `inputs`
        JSON-able) under the next run id; return that id."""
        cols = ", ".join(DECISION_FIELDS)
        marks = ", ".join("?" * len(DECISION_FIELDS))
        with self.transaction():
            row = self.execute("SELECT MAX(run_id) FROM decisions").fetchone()
            run_id = int(row[0] or 0) + 1 if row else 1
            for d in rows:
                values = {
                    **d,
                    "run_id": run_id,
                    "station_id": station_id,
                    "ts_s": ts_s,
                    "trigger": trigger,
                    "inputs": json.dumps(d["inputs"], sort_keys=True),
                }
                self.execute(
                    f"INSERT INTO decisions ({cols}) VALUES ({marks})",
                    tuple(values[c] for c in DECISION_FIELDS),
                )
        return run_id

    def decisions(
        self, station_id: str, since_s: float | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        """Newest first: a station's recorded decisions (DECISION_FIELDS, inputs decoded)
        at or after `since_s`, at most `limit`."""
        rows = self.fetch_all(
            f"SELECT {', '.join(DECISION_FIELDS)} FROM decisions WHERE station_id = ?"
            " AND ts_s >= ? ORDER BY id DESC LIMIT ?",
            (station_id, since_s if since_s is not None else -1.0, int(limit)),
        )
        out = []
        for r in rows:
            d = dict(zip(DECISION_FIELDS, r, strict=True))
            d["inputs"] = json.loads(d["inputs"])
            out.append(d)
        return out

    def last_run(self, station_id: str) -> tuple[int, float, str, int] | None:
        """(run_id, ts_s, trigger, valves changed) of a station's newest run, or None."""
        row = self.fetch_one(
            "SELECT run_id, ts_s, trigger, SUM(CASE WHEN desired_version IS NULL THEN 0"
            " ELSE 1 END) FROM decisions WHERE station_id = ? GROUP BY run_id, ts_s, trigger"
            " ORDER BY run_id DESC LIMIT 1",
            (station_id,),
        )
        return (int(row[0]), row[1], row[2], int(row[3])) if row else None

    # ------------------------------------------------------------ overrides ----
    def overrides(self) -> list[dict[str, Any]]:
        """Every overridden valve (OVERRIDE_FIELDS), oldest first."""
        rows = self.fetch_all(f"SELECT {', '.join(OVERRIDE_FIELDS)} FROM overrides ORDER BY set_s")
        return [dict(zip(OVERRIDE_FIELDS, r, strict=True)) for r in rows]

    def set_override(
        self,
        site: str,
        unit: str,
        valve: str,
        target_c: float | None,
        opening_pct: float | None,
        ts_s: float,
        who: str,
    ) -> None:
        """Hold a valve at `target_c` or a manual `opening_pct` (replacing an earlier hold)."""
        with self.transaction():
            self.execute(
                "INSERT INTO overrides (site, unit, valve, target_c, opening_pct, set_s,"
                " set_by) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (site, unit, valve)"
                " DO UPDATE SET target_c = excluded.target_c, opening_pct ="
                " excluded.opening_pct, set_s = excluded.set_s, set_by = excluded.set_by",
                (site, unit, valve, target_c, opening_pct, ts_s, who),
            )

    def is_overridden(self, site: str, unit: str, valve: str) -> bool:
        row = self.fetch_one(
            "SELECT 1 FROM overrides WHERE site = ? AND unit = ? AND valve = ?",
            (site, unit, valve),
        )
        return row is not None

    def drop_override(self, site: str, unit: str, valve: str) -> None:
        """Give a valve back to the strategy."""
        with self.transaction():
            self.execute(
                "DELETE FROM overrides WHERE site = ? AND unit = ? AND valve = ?",
                (site, unit, valve),
            )
