"""Fill the registry from a network file, read by the hydraulics loader (the one format the
solver, estimator, simulator and registry share; docs/network-format.md).

The network file says what the hydraulics needs: station, entrances (with building and
floors), households (with entrance and floor). What only the registry needs is read, when
present, from the file's `meta.registry` object:

    "meta": {"registry": {
        "site": "estate-7",                          # default: the network's name
        "units": {"B0E0": "b0-e0"},                  # entrance id -> board unit; default: id
        "station_unit": "st-hdr",                    # board at the station's headers (optional)
        "households": {"H1": {"household_type": "top_gable", "heated_area_m2": 86.5,
                              "position": "east", "point": "f6-east",
                              "room_sensor": "rs-601"}}
    }}

A household's `room_sensor` is the id its room sensor reports under on the household's
entrance board: it becomes a registry device of kind `room_sensor` (id `<household>:room`,
at (site, the entrance's unit, point = the sensor id)) linked to the household, and sets the
household's `has_room_sensor`.

The station unit, when named, is the board at the station's supply and return headers: it
publishes ordinary telemetry with the header pressures (`p_supply_kpa`, `p_return_kpa`) and
no valves; the estimator reads the station's heads from it (host/models/estimation/history.py).

Importing is all or nothing (one transaction) and refuses an inconsistent file with the
first problem's reason. Re-importing a file already imported is refused as a duplicate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from host.assets.registry import Registry, RegistryError
from host.models.hydraulics.loader import load_network

ROOM_SENSOR_DEVICE = "{household}:room"  # the device id of a household's room sensor


def import_network(registry: Registry, path: str | Path, who: str = "import") -> dict[str, int]:
    """Import one network file; return the registry's counts afterwards."""
    net = load_network(path)
    raw = net.meta.get("registry") or {}
    if not isinstance(raw, dict):
        raise RegistryError("type", "meta.registry must be an object")
    extra: dict[str, Any] = raw
    site = str(extra.get("site", net.name))
    units: dict[str, str] = extra.get("units", {})
    households: dict[str, dict[str, Any]] = extra.get("households", {})
    with registry.storage.transaction():
        registry.add_station(net.station.id, site, net.name, who=who)
        floors: dict[str, int | None] = {}
        for e in net.entrances:
            f = int(e.floors) if e.floors is not None else None
            floors[e.building] = max(floors.get(e.building) or 0, f or 0) or None
        for building, n in floors.items():
            registry.add_building(building, net.station.id, floors=n, who=who)
        for e in net.entrances:
            registry.add_entrance(e.id, e.building, site, units.get(e.id, e.id), who=who)
        if extra.get("station_unit"):
            registry.add_station_unit(net.station.id, str(extra["station_unit"]), who=who)
        for h in net.households:
            fields = dict(households.get(h.id, {}))
            sensor = fields.pop("room_sensor", None)
            if h.floor is not None:
                fields.setdefault("floor", int(h.floor))
            try:
                registry.add_household(h.id, h.entrance, who=who, **fields)
            except TypeError as exc:
                raise RegistryError("type", f"household {h.id!r}: {exc}") from None
            if sensor is not None:
                if not isinstance(sensor, str):
                    raise RegistryError(
                        "type", f"household {h.id!r}: room_sensor must be a string"
                    )
                unit = units.get(h.entrance, h.entrance)
                registry.add_device(
                    ROOM_SENSOR_DEVICE.format(household=h.id),
                    site,
                    unit,
                    sensor,
                    "room_sensor",
                    household_id=h.id,
                    who=who,
                )
    return registry.counts()
