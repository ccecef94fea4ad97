"""The asset registry's tables: stations, buildings, entrances, households, devices.

A station has buildings, a building entrances, an entrance households and devices; each row
names its parent by id. An entrance is served by one board unit `(site, unit)`; a household's
`point` is its valve's id on that board, a device's `point` the id it reports under. The
checks that keep these consistent (no dangling reference, no duplicate, nothing deleted while
in use) are host/assets/registry.py's; this module only reads and writes the rows.

Tables and columns named by a caller are checked against REGISTRY_COLUMNS before they reach
SQL text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from host.storage.connection import Connection, StorageError

REGISTRY_COLUMNS = {
    "stations": ("id", "site", "name"),
    "buildings": ("id", "station_id", "name", "floors"),
    "entrances": ("id", "building_id", "site", "unit"),
    "households": (
        "id",
        "entrance_id",
        "floor",
        "position",
        "household_type",
        "heated_area_m2",
        "has_room_sensor",
        "point",
    ),
    "devices": ("id", "site", "unit", "point", "kind", "entrance_id", "household_id"),
}
HOUSEHOLD_COLUMNS = REGISTRY_COLUMNS["households"][2:]  # what describes a household


def _columns(table: str, names: Sequence[str] = (), allowed: Sequence[str] = ()) -> None:
    """Refuse (StorageError) a table that is not a registry table, or names that are not
    among its columns (or `allowed`, when given)."""
    cols = REGISTRY_COLUMNS.get(table)
    if cols is None:
        raise StorageError(f"no registry table {table!r}; one of {sorted(REGISTRY_COLUMNS)}")
    allowed = allowed or cols
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise StorageError(f"{table}: no column(s) {unknown} here; one of {tuple(allowed)}")


class RegistryTables(Connection):
    """The registry tables."""

    # ------------------------------------------------------------ any table ----
    def registry_has(self, table: str, id_: str) -> bool:
        """True when `table` has a row of that id."""
        _columns(table)
        return self.fetch_one(f"SELECT 1 FROM {table} WHERE id = ?", (id_,)) is not None

    def registry_rows(
        self, table: str, columns: Sequence[str], where: dict[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """`columns` of the rows of `table` whose columns equal `where`'s values, by id."""
        filters = dict(where or {})
        _columns(table, (*columns, *filters))
        clause = " AND ".join(f"{k} = ?" for k in filters)
        return self.fetch_all(
            f"SELECT {', '.join(columns)} FROM {table}"
            + (f" WHERE {clause}" if clause else "")
            + " ORDER BY id",
            tuple(filters.values()),
        )

    def registry_count_where(self, table: str, column: str, value: Any) -> int:
        """Rows of `table` whose `column` equals `value` (the children of an object)."""
        _columns(table, (column,))
        row = self.fetch_one(f"SELECT COUNT(*) FROM {table} WHERE {column} = ?", (value,))
        return int(row[0]) if row else 0

    def delete_registry_row(self, table: str, id_: str) -> None:
        _columns(table)
        with self.transaction():
            self.execute(f"DELETE FROM {table} WHERE id = ?", (id_,))

    def registry_counts(self) -> dict[str, int]:
        """Rows of every registry table."""
        out = {}
        with self.transaction():
            for table in REGISTRY_COLUMNS:
                row = self.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
                out[table] = int(row[0]) if row else 0
        return out

    # ------------------------------------------------------------ stations ----
    def station_ids(self) -> list[str]:
        return [r[0] for r in self.fetch_all("SELECT id FROM stations ORDER BY id")]

    def stations_at(self, site: str) -> list[str]:
        """The ids of a site's stations."""
        return [r[0] for r in self.fetch_all("SELECT id FROM stations WHERE site = ?", (site,))]

    def station_sites(self) -> list[str]:
        """Every site a station is registered at, sorted."""
        return sorted({r[0] for r in self.fetch_all("SELECT site FROM stations")})

    def station_site(self, station_id: str) -> str | None:
        row = self.fetch_one("SELECT site FROM stations WHERE id = ?", (station_id,))
        return row[0] if row else None

    def insert_station(self, id_: str, site: str, name: str | None) -> None:
        with self.transaction():
            self.execute(
                "INSERT INTO stations (id, site, name) VALUES (?, ?, ?)", (id_, site, name)
            )

    def rename_station(self, id_: str, name: str | None) -> None:
        with self.transaction():
            self.execute("UPDATE stations SET name = ? WHERE id = ?", (name, id_))

    def station_layout(self, station_id: str) -> list[tuple[str, str, dict[str, str | None]]]:
        """(site, unit, {household valve point: household type}) of every entrance of a
        station, by entrance id."""
        out = []
        with self.transaction():
            entrances = self.execute(
                "SELECT e.id, e.site, e.unit FROM entrances e JOIN buildings b"
                " ON b.id = e.building_id WHERE b.station_id = ? ORDER BY e.id",
                (station_id,),
            ).fetchall()
            for ent_id, site, unit in entrances:
                points = self.execute(
                    "SELECT point, household_type FROM households WHERE entrance_id = ?"
                    " AND point IS NOT NULL",
                    (ent_id,),
                ).fetchall()
                out.append((site, unit, {pt: kind for pt, kind in points}))
        return out

    # ------------------------------------------------------------ buildings ----
    def insert_building(
        self, id_: str, station_id: str, name: str | None, floors: int | None
    ) -> None:
        with self.transaction():
            self.execute(
                "INSERT INTO buildings (id, station_id, name, floors) VALUES (?, ?, ?, ?)",
                (id_, station_id, name, floors),
            )

    def building(self, id_: str) -> tuple[str | None, int | None] | None:
        """(name, floors) of a building, or None."""
        row = self.fetch_one("SELECT name, floors FROM buildings WHERE id = ?", (id_,))
        return (row[0], row[1]) if row else None

    def update_building(self, id_: str, name: str | None, floors: int | None) -> None:
        with self.transaction():
            self.execute(
                "UPDATE buildings SET name = ?, floors = ? WHERE id = ?", (name, floors, id_)
            )

    def top_floor(self, building_id: str) -> int | None:
        """The highest floor of a household in a building (None: no floor known)."""
        row = self.fetch_one(
            "SELECT MAX(h.floor) FROM households h JOIN entrances e ON e.id = h.entrance_id"
            " WHERE e.building_id = ?",
            (building_id,),
        )
        return row[0] if row else None

    # ------------------------------------------------------------ entrances ----
    def insert_entrance(self, id_: str, building_id: str, site: str, unit: str) -> None:
        with self.transaction():
            self.execute(
                "INSERT INTO entrances (id, building_id, site, unit) VALUES (?, ?, ?, ?)",
                (id_, building_id, site, unit),
            )

    def move_entrance(self, id_: str, building_id: str) -> None:
        with self.transaction():
            self.execute("UPDATE entrances SET building_id = ? WHERE id = ?", (building_id, id_))

    def entrance_served_by(self, site: str, unit: str) -> str | None:
        """The id of the entrance a unit serves, or None."""
        row = self.fetch_one("SELECT id FROM entrances WHERE site = ? AND unit = ?", (site, unit))
        return row[0] if row else None

    def entrance_floors(self, entrance_id: str) -> int | None:
        """The floors of an entrance's building (None: unknown, or no such entrance)."""
        row = self.fetch_one(
            "SELECT b.floors FROM entrances e JOIN buildings b ON b.id = e.building_id"
            " WHERE e.id = ?",
            (entrance_id,),
        )
        return row[0] if row else None

    def entrance_units(self) -> dict[str, tuple[str, str]]:
        """{entrance id: (site, unit)} of every entrance."""
        rows = self.fetch_all("SELECT id, site, unit FROM entrances")
        return {r[0]: (r[1], r[2]) for r in rows}

    def registered_points(self, site: str, unit: str) -> set[str]:
        """The points the registry knows at a unit: its devices' and its households'."""
        rows = self.fetch_all(
            "SELECT point FROM devices WHERE site = ? AND unit = ? UNION SELECT h.point FROM"
            " households h JOIN entrances e ON e.id = h.entrance_id"
            " WHERE e.site = ? AND e.unit = ?",
            (site, unit, site, unit),
        )
        return {r[0] for r in rows if r[0]}

    # ------------------------------------------------------------ households ----
    def insert_household(self, id_: str, entrance_id: str, values: dict[str, Any]) -> None:
        """A household row; `values` has HOUSEHOLD_COLUMNS (a missing one is NULL)."""
        _columns("households", tuple(values), HOUSEHOLD_COLUMNS)
        cols = ", ".join(HOUSEHOLD_COLUMNS)
        marks = ", ".join("?" * (2 + len(HOUSEHOLD_COLUMNS)))
        with self.transaction():
            self.execute(
                f"INSERT INTO households (id, entrance_id, {cols}) VALUES ({marks})",
                (id_, entrance_id, *(values.get(c) for c in HOUSEHOLD_COLUMNS)),
            )

    def update_household(self, id_: str, values: dict[str, Any]) -> None:
        """Set the HOUSEHOLD_COLUMNS given in `values`."""
        _columns("households", tuple(values), HOUSEHOLD_COLUMNS)
        if not values:
            return
        sets = ", ".join(f"{k} = ?" for k in values)
        with self.transaction():
            self.execute(f"UPDATE households SET {sets} WHERE id = ?", (*values.values(), id_))

    def household_row(self, id_: str) -> dict[str, Any] | None:
        """A household's row by column (REGISTRY_COLUMNS["households"]), or None."""
        cols = REGISTRY_COLUMNS["households"]
        row = self.fetch_one(f"SELECT {', '.join(cols)} FROM households WHERE id = ?", (id_,))
        return dict(zip(cols, row, strict=True)) if row else None

    def household_entrance(self, household_id: str) -> str | None:
        """The entrance of a household, or None when there is no such household."""
        row = self.fetch_one("SELECT entrance_id FROM households WHERE id = ?", (household_id,))
        return row[0] if row else None

    def household_at_point(self, entrance_id: str, point: str, other_than: str) -> str | None:
        """The id of another household (not `other_than`) of an entrance at `point`."""
        row = self.fetch_one(
            "SELECT id FROM households WHERE entrance_id = ? AND point = ? AND id <> ?",
            (entrance_id, point, other_than),
        )
        return row[0] if row else None

    # ------------------------------------------------------------ devices ----
    def insert_device(
        self,
        id_: str,
        site: str,
        unit: str,
        point: str,
        kind: str,
        entrance_id: str,
        household_id: str | None,
    ) -> None:
        with self.transaction():
            self.execute(
                "INSERT INTO devices (id, site, unit, point, kind, entrance_id, household_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (id_, site, unit, point, kind, entrance_id, household_id),
            )

    def device(self, id_: str) -> tuple[str, str, str | None] | None:
        """(kind, entrance_id, household_id) of a device, or None."""
        row = self.fetch_one(
            "SELECT kind, entrance_id, household_id FROM devices WHERE id = ?", (id_,)
        )
        return (row[0], row[1], row[2]) if row else None

    def update_device(self, id_: str, kind: str, household_id: str | None) -> None:
        with self.transaction():
            self.execute(
                "UPDATE devices SET kind = ?, household_id = ? WHERE id = ?",
                (kind, household_id, id_),
            )

    def device_at_point(self, site: str, unit: str, point: str) -> str | None:
        """The id of the device of a unit at `point`, or None."""
        row = self.fetch_one(
            "SELECT id FROM devices WHERE site = ? AND unit = ? AND point = ?",
            (site, unit, point),
        )
        return row[0] if row else None
