"""The asset registry: stations, buildings, entrances (one board unit each), households,
devices. Every edit (add, update, delete) is checked and refused with a reason when it would
make the registry inconsistent (a dangling reference, a duplicate, a unit already used, a bad
value, an object still in use).

Deleting never loses measurements: an object with children is refused (`in-use`: delete the
children first), and a deleted entrance's unit stays registered with its history, belonging
to no entrance until an entrance names it again. A unit itself is never renamed: its name is
what its data are stored under.

Imported from the network file (see host/assets/network_import.py) and editable afterwards. An
entrance's board is `(site, unit)`; registering an entrance registers its unit, which is what
the ingest accepts data from.

A room sensor is a device of kind `room_sensor` whose `point` is the sensor id the unit reports
it under (`rooms[].sensor` in telemetry). It must name its household (refused with reason
`missing-household` otherwise): that is where its readings are stored. Its unit is the
household's entrance board, or a station unit of the household's station (a gateway relaying
battery sensors); adding one marks the household `has_room_sensor`.
"""

from __future__ import annotations

from typing import Any

from host.errors import RefusedError
from host.storage import Storage
from shared import protocol as p


class RegistryError(RefusedError, ValueError):
    """An edit refused; `reason` is a short code, `detail` says why."""


HOUSEHOLD_FIELDS = (
    "floor",
    "position",
    "household_type",
    "heated_area_m2",
    "has_room_sensor",
    "point",
)
DEVICE_KINDS = ("entrance_valve", "household_valve", "room_sensor", "heat_meter", "pressure")
ROOM_SENSOR = "room_sensor"
KINDS = {
    "station": "stations",
    "building": "buildings",
    "entrance": "entrances",
    "household": "households",
    "device": "devices",
}
# what keeps an object in use: (table, column, what) of its children
_CHILDREN = {
    "stations": (("buildings", "station_id", "building"),),
    "buildings": (("entrances", "building_id", "entrance"),),
    "entrances": (
        ("households", "entrance_id", "household"),
        ("devices", "entrance_id", "device"),
    ),
    "households": (("devices", "household_id", "device"),),
    "devices": (),
}


class Registry:
    """Checked edits of the registry tables (each one transaction, audited)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def _exists(self, table: str, id_: str) -> bool:
        return self.storage.registry_has(table, id_)

    def _need(self, table: str, id_: str, what: str) -> None:
        if not self._exists(table, id_):
            raise RegistryError("missing", f"no {what} {id_!r}")

    def _need_household_under(self, household_id: str | None, entrance_id: str) -> None:
        """A device's household (None: none) must exist and be under the device's entrance."""
        if household_id is None:
            return
        hh_entrance = self.storage.household_entrance(household_id)
        if hh_entrance is None:
            raise RegistryError("missing", f"no household {household_id!r}")
        if hh_entrance != entrance_id:
            raise RegistryError(
                "inconsistent", f"household {household_id!r} is not under {entrance_id!r}"
            )

    def _new(self, table: str, id_: str, what: str) -> None:
        if not isinstance(id_, str) or not id_:
            raise RegistryError("value", f"{what} id must be a non-empty string")
        if self._exists(table, id_):
            raise RegistryError("duplicate", f"{what} {id_!r} exists already")

    def add_station(self, id_: str, site: str, name: str | None = None, who: str = "") -> None:
        with self.storage.transaction():
            self._new("stations", id_, "station")
            _check_identifier(site, "site")
            self.storage.insert_station(id_, site, name)
            self.storage.audit(who or "registry", "add_station", id_, {"site": site}, "done")

    def add_station_unit(self, station_id: str, unit: str, who: str = "") -> None:
        """Register the board at a station's headers (its supply and return pressures, for
        the estimator): a unit of the station's site that serves no entrance."""
        with self.storage.transaction():
            site = self.storage.station_site(station_id)
            if site is None:
                raise RegistryError("missing", f"no station {station_id!r}")
            _check_identifier(unit, "unit")
            used = self.storage.entrance_served_by(site, unit)
            if used:
                raise RegistryError("duplicate", f"unit {site}/{unit} serves {used!r}")
            self.storage.add_unit(site, unit)
            self.storage.audit(
                who or "registry",
                "add_station_unit",
                station_id,
                {"unit": f"{site}/{unit}"},
                "done",
            )

    def add_building(
        self,
        id_: str,
        station_id: str,
        name: str | None = None,
        floors: int | None = None,
        who: str = "",
    ) -> None:
        with self.storage.transaction():
            self._new("buildings", id_, "building")
            self._need("stations", station_id, "station")
            if floors is not None and (not isinstance(floors, int) or floors < 1):
                raise RegistryError("range", f"building {id_!r}: floors must be at least 1")
            self.storage.insert_building(id_, station_id, name, floors)
            self.storage.audit(
                who or "registry", "add_building", id_, {"station": station_id}, "done"
            )

    def add_entrance(self, id_: str, building_id: str, site: str, unit: str, who: str = ""):
        """An entrance and the board unit that serves it."""
        with self.storage.transaction():
            self._new("entrances", id_, "entrance")
            self._need("buildings", building_id, "building")
            _check_identifier(site, "site")
            _check_identifier(unit, "unit")
            used = self.storage.entrance_served_by(site, unit)
            if used:
                raise RegistryError("duplicate", f"unit {site}/{unit} serves {used!r}")
            self.storage.insert_entrance(id_, building_id, site, unit)
            self.storage.add_unit(site, unit, id_)
            # a unit kept from a deleted entrance belongs to this one now
            self.storage.set_unit_entrance(site, unit, id_)
            self.storage.audit(
                who or "registry",
                "add_entrance",
                id_,
                {"building": building_id, "unit": f"{site}/{unit}"},
                "done",
            )

    def add_household(self, id_: str, entrance_id: str, who: str = "", **fields: Any) -> None:
        """A household: floor, position, household_type, heated_area_m2, has_room_sensor,
        point (its valve's id on the entrance board)."""
        with self.storage.transaction():
            self._new("households", id_, "household")
            f = self._checked_household(id_, entrance_id, fields)
            self.storage.insert_household(id_, entrance_id, f)
            self.storage.audit(who or "registry", "add_household", id_, fields, "done")

    def update_household(self, id_: str, who: str = "", **fields: Any) -> None:
        """Change some fields of a household (the same checks as adding it)."""
        with self.storage.transaction():
            row = self.household(id_)
            if row is None:
                raise RegistryError("missing", f"no household {id_!r}")
            entrance_id = row.pop("entrance_id")
            row.pop("id")
            f = self._checked_household(id_, entrance_id, {**row, **fields})
            self.storage.update_household(id_, f)
            self.storage.audit(who or "registry", "update_household", id_, fields, "done")

    def _checked_household(self, id_: str, entrance_id: str, fields: dict[str, Any]):
        unknown = set(fields) - set(HOUSEHOLD_FIELDS)
        if unknown:
            raise RegistryError("unknown", f"household fields {sorted(unknown)}")
        self._need("entrances", entrance_id, "entrance")
        f = _household_fields(id_, fields)
        floors = self.storage.entrance_floors(entrance_id)
        if f["floor"] is not None and floors and f["floor"] > floors:
            raise RegistryError(
                "inconsistent", f"household {id_!r} on floor {f['floor']} of {floors}"
            )
        if f["point"] is not None and self.storage.household_at_point(
            entrance_id, f["point"], id_
        ):
            raise RegistryError("duplicate", f"point {f['point']!r} used at {entrance_id}")
        f["has_room_sensor"] = int(bool(f["has_room_sensor"]))
        return f

    def household(self, id_: str) -> dict[str, Any] | None:
        out = self.storage.household_row(id_)
        if out is None:
            return None
        out["has_room_sensor"] = bool(out["has_room_sensor"])
        return out

    def add_device(
        self,
        id_: str,
        site: str,
        unit: str,
        point: str,
        kind: str,
        household_id: str | None = None,
        who: str = "",
    ) -> None:
        """A device on a board (a valve, a sensor) at `point`, optionally of a household (a
        room sensor must name one; it may be on a station unit, a gateway)."""
        with self.storage.transaction():
            self._new("devices", id_, "device")
            if kind not in DEVICE_KINDS:
                raise RegistryError("value", f"device kind {kind!r} not in {DEVICE_KINDS}")
            _check_identifier(point, "point")
            ent: str | None
            if kind == ROOM_SENSOR:
                ent = self._room_sensor_entrance(id_, site, unit, household_id)
            else:
                ent = self.storage.entrance_served_by(site, unit)
                if ent is None:
                    raise RegistryError("missing", f"no entrance is served by unit {site}/{unit}")
                self._need_household_under(household_id, ent)
            if self.storage.device_at_point(site, unit, point):
                raise RegistryError("duplicate", f"point {point!r} of {site}/{unit} is taken")
            self.storage.insert_device(id_, site, unit, point, kind, ent, household_id)
            if kind == ROOM_SENSOR and household_id is not None:
                self.storage.update_household(household_id, {"has_room_sensor": 1})
            self.storage.audit(
                who or "registry",
                "add_device",
                id_,
                {"unit": f"{site}/{unit}", "point": point},
                "done",
            )

    def _room_sensor_entrance(
        self, id_: str, site: str, unit: str, household_id: str | None
    ) -> str:
        """The entrance of a room sensor's household, checked: the sensor's unit is that
        entrance's board or a station unit (serving no entrance) of the same station."""
        served = self.storage.entrance_served_by(site, unit)
        if served is None and self.storage.unit_id(site, unit) is None:
            raise RegistryError("missing", f"no unit {site}/{unit}")
        if household_id is None:
            raise RegistryError(
                "missing-household",
                f"room sensor {id_!r} must name its household (household_id)",
            )
        hh_entrance = self.storage.household_entrance(household_id)
        if hh_entrance is None:
            raise RegistryError("missing", f"no household {household_id!r}")
        if served is not None:
            self._need_household_under(household_id, served)
            return served
        hh_site = self.storage.entrance_units().get(hh_entrance, ("", ""))[0]
        if hh_site != site:
            raise RegistryError(
                "inconsistent", f"household {household_id!r} is not at site {site!r}"
            )
        return hh_entrance

    def update_station(self, id_: str, who: str = "", **fields: Any) -> None:
        """Change a station's `name` (its site is where its boards publish: not changed)."""
        with self.storage.transaction():
            self._need("stations", id_, "station")
            _only(fields, ("name",), "station")
            self.storage.rename_station(id_, fields.get("name"))
            self.storage.audit(who or "registry", "update_station", id_, fields, "done")

    def update_building(self, id_: str, who: str = "", **fields: Any) -> None:
        """Change a building's `name` or `floors` (not below a household's floor)."""
        with self.storage.transaction():
            row = self.storage.building(id_)
            if row is None:
                raise RegistryError("missing", f"no building {id_!r}")
            _only(fields, ("name", "floors"), "building")
            name = fields.get("name", row[0])
            floors = fields.get("floors", row[1])
            if floors is not None and (
                not isinstance(floors, int) or isinstance(floors, bool) or floors < 1
            ):
                raise RegistryError("range", f"building {id_!r}: floors must be at least 1")
            top = self.storage.top_floor(id_)
            if floors is not None and top is not None and top > floors:
                raise RegistryError(
                    "inconsistent", f"building {id_!r} has a household on floor {top}"
                )
            self.storage.update_building(id_, name, floors)
            self.storage.audit(who or "registry", "update_building", id_, fields, "done")

    def update_entrance(self, id_: str, who: str = "", **fields: Any) -> None:
        """Move an entrance to another `building_id` (its unit stays what it is)."""
        with self.storage.transaction():
            self._need("entrances", id_, "entrance")
            _only(fields, ("building_id",), "entrance")
            if "building_id" in fields:
                self._need("buildings", fields["building_id"], "building")
                self.storage.move_entrance(id_, fields["building_id"])
            self.storage.audit(who or "registry", "update_entrance", id_, fields, "done")

    def update_device(self, id_: str, who: str = "", **fields: Any) -> None:
        """Change a device's `kind` or `household_id` (a household of the device's entrance,
        or None)."""
        with self.storage.transaction():
            row = self.storage.device(id_)
            if row is None:
                raise RegistryError("missing", f"no device {id_!r}")
            _only(fields, ("kind", "household_id"), "device")
            kind = fields.get("kind", row[0])
            household_id = fields.get("household_id", row[2])
            if kind not in DEVICE_KINDS:
                raise RegistryError("value", f"device kind {kind!r} not in {DEVICE_KINDS}")
            if kind == ROOM_SENSOR and household_id is None:
                raise RegistryError(
                    "missing-household", f"room sensor {id_!r} must name its household"
                )
            self._need_household_under(household_id, row[1])
            self.storage.update_device(id_, kind, household_id)
            self.storage.audit(who or "registry", "update_device", id_, fields, "done")

    def delete(self, kind: str, id_: str, who: str = "") -> None:
        """Delete a station, building, entrance, household or device that nothing uses."""
        table = KINDS.get(kind)
        if table is None:
            raise RegistryError("value", f"kind {kind!r} not in {sorted(KINDS)}")
        with self.storage.transaction():
            self._need(table, id_, kind)
            for child, column, what in _CHILDREN[table]:
                n = self.storage.registry_count_where(child, column, id_)
                if n:
                    raise RegistryError(
                        "in-use", f"{kind} {id_!r} has {n} {what}(s): delete those first"
                    )
            if table == "stations":  # its balancing settings go with it; decisions stay
                self.storage.drop_strategy_settings(id_)
                self.storage.drop_station_control(id_)
            if table == "entrances":  # the unit and its history stay, belonging to none
                self.storage.detach_units(id_)
            self.storage.delete_registry_row(table, id_)
            self.storage.audit(who or "registry", f"delete_{kind}", id_, None, "done")

    def counts(self) -> dict[str, int]:
        return self.storage.registry_counts()


def _only(fields: dict[str, Any], allowed: tuple[str, ...], what: str) -> None:
    unknown = set(fields) - set(allowed)
    if unknown:
        raise RegistryError("unknown", f"{what} fields {sorted(unknown)} (changeable: {allowed})")


def _check_identifier(value: str, what: str) -> None:
    try:
        p.topic(value if what == "site" else "s", value if what != "site" else "u", p.TELE)
    except p.ProtocolError as exc:
        raise RegistryError("value", f"{what} {value!r}: {exc.detail}") from None


def _household_fields(id_: str, f: dict[str, Any]) -> dict[str, Any]:
    out = {k: f.get(k) for k in HOUSEHOLD_FIELDS}
    floor = out["floor"]
    if floor is not None and (not isinstance(floor, int) or isinstance(floor, bool)):
        raise RegistryError("type", f"household {id_!r}: floor must be an integer")
    if floor is not None and not -5 <= floor <= 200:
        raise RegistryError("range", f"household {id_!r}: floor {floor} outside -5..200")
    area = out["heated_area_m2"]
    if area is not None and (not isinstance(area, int | float) or not 0 < area <= 10000):
        raise RegistryError("range", f"household {id_!r}: heated_area_m2 must be in 0..10000")
    if out["point"] is not None:
        _check_identifier(out["point"], "point")
    return out
