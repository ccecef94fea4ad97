"""Units: the boards data are stored under, `(site, unit)` -> id, and the entrance each serves.

A unit is registered once (by the ingest on first contact, or by the registry with its
entrance) and never renamed or removed: its telemetry, events and desired state refer to its
id. The ids are cached; the cache is dropped with a rolled-back transaction.
"""

from __future__ import annotations

import time

from host.storage.connection import Connection


class UnitTables(Connection):
    """The `units` table."""

    def __init__(self) -> None:
        super().__init__()
        self._units: dict[tuple[str, str], int] = {}

    def _forget(self) -> None:
        self._units.clear()  # ids created in the rolled-back transaction are gone
        super()._forget()

    def unit_id(self, site: str, unit: str) -> int | None:
        """The id of a registered unit (board), or None."""
        key = (site, unit)
        if key not in self._units:
            row = self.fetch_one("SELECT id FROM units WHERE site = ? AND unit = ?", key)
            if row is None:
                return None
            self._units[key] = int(row[0])
        return self._units[key]

    def add_unit(self, site: str, unit: str, entrance_id: str | None = None) -> int:
        """Register a unit (idempotent); return its id."""
        with self.transaction():
            self.execute(
                "INSERT INTO units (site, unit, entrance_id, created_s) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (site, unit) DO NOTHING",
                (site, unit, entrance_id, int(time.time())),
            )
            uid = self.unit_id(site, unit)
        assert uid is not None
        return uid

    def units(self) -> list[tuple[int, str, str]]:
        """(id, site, unit) of every registered unit."""
        return [(int(a), b, c) for a, b, c in self.fetch_all("SELECT id, site, unit FROM units")]

    def unit_rows(self, site: str | None = None) -> list[tuple[str, str, str | None]]:
        """(site, unit, entrance_id) of every unit (of one site), ordered by site and unit."""
        where, args = (" WHERE site = ?", (site,)) if site else ("", ())
        return self.fetch_all(
            f"SELECT site, unit, entrance_id FROM units{where} ORDER BY site, unit", args
        )

    def unit_entrance(self, site: str, unit: str) -> str | None:
        """The entrance a unit serves (None: none, or no such unit)."""
        row = self.fetch_one(
            "SELECT entrance_id FROM units WHERE site = ? AND unit = ?", (site, unit)
        )
        return row[0] if row else None

    def set_unit_entrance(self, site: str, unit: str, entrance_id: str) -> None:
        """Make a unit serve an entrance (also one kept from a deleted entrance)."""
        with self.transaction():
            self.execute(
                "UPDATE units SET entrance_id = ? WHERE site = ? AND unit = ?",
                (entrance_id, site, unit),
            )

    def detach_units(self, entrance_id: str) -> None:
        """The units of a deleted entrance stay, with their history, serving none."""
        with self.transaction():
            self.execute(
                "UPDATE units SET entrance_id = NULL WHERE entrance_id = ?", (entrance_id,)
            )
