"""Station control: what an operator set for a station's own strategies, their state, and
every decision they made.

- `station_control`: one row per station: the settings an operator changed (JSON; what is not
  stored takes the default) and the strategies' state carried from one period to the next
  (pump speed, curve offset, time of the last speed change), when and by whom.
- `station_decisions`: one row per station decision: the pump speed (%) and supply set-point
  (degC) asked, the curve offset, why (pump and supply reasons), the inputs (JSON), the
  desired-station version that carried it and its outcome (`published`, `unchanged`,
  `refused: ...`, `no-unit`).
"""

from __future__ import annotations

import json
from typing import Any

from host.storage.connection import Connection

STATION_DECISION_FIELDS = (
    "id",
    "station_id",
    "ts_s",
    "trigger",
    "site",
    "unit",
    "pump_speed_pct",
    "t_supply_c",
    "offset_c",
    "pump_reason",
    "supply_reason",
    "inputs",
    "desired_version",
    "outcome",
)


class StationTables(Connection):
    """The `station_control` and `station_decisions` tables."""

    def station_control(self, station_id: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """(settings stored, state) of a station's control ({} and None: nothing yet)."""
        row = self.fetch_one(
            "SELECT settings, state FROM station_control WHERE station_id = ?", (station_id,)
        )
        if row is None:
            return {}, None
        return json.loads(row[0]), (json.loads(row[1]) if row[1] else None)

    def save_station_control(
        self,
        station_id: str,
        settings: dict[str, Any],
        state: dict[str, Any] | None,
        ts_s: float,
        who: str,
    ) -> None:
        """Replace a station's stored settings and state."""
        with self.transaction():
            self.execute(
                "INSERT INTO station_control (station_id, settings, state, updated_s,"
                " updated_by) VALUES (?, ?, ?, ?, ?) ON CONFLICT (station_id) DO UPDATE SET"
                " settings = excluded.settings, state = excluded.state,"
                " updated_s = excluded.updated_s, updated_by = excluded.updated_by",
                (
                    station_id,
                    json.dumps(settings, sort_keys=True),
                    json.dumps(state, sort_keys=True) if state is not None else None,
                    ts_s,
                    who,
                ),
            )

    def drop_station_control(self, station_id: str) -> None:
        """Forget a (deleted) station's control settings and state; its decisions stay."""
        with self.transaction():
            self.execute("DELETE FROM station_control WHERE station_id = ?", (station_id,))

    def add_station_decision(self, row: dict[str, Any]) -> int:
        """Store one decision (STATION_DECISION_FIELDS but `id`; `inputs` JSON-able)."""
        cols = STATION_DECISION_FIELDS[1:]
        values = {**row, "inputs": json.dumps(row["inputs"], sort_keys=True)}
        with self.transaction():
            self.execute(
                f"INSERT INTO station_decisions ({', '.join(cols)})"
                f" VALUES ({', '.join('?' * len(cols))})",
                tuple(values[c] for c in cols),
            )
            found = self.fetch_one(
                "SELECT MAX(id) FROM station_decisions WHERE station_id = ?", (row["station_id"],)
            )
        return int(found[0]) if found else 0

    def station_decisions(self, station_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first: a station's decisions (STATION_DECISION_FIELDS, inputs decoded)."""
        rows = self.fetch_all(
            f"SELECT {', '.join(STATION_DECISION_FIELDS)} FROM station_decisions"
            " WHERE station_id = ? ORDER BY id DESC LIMIT ?",
            (station_id, int(limit)),
        )
        out = []
        for r in rows:
            d = dict(zip(STATION_DECISION_FIELDS, r, strict=True))
            d["inputs"] = json.loads(d["inputs"])
            out.append(d)
        return out
