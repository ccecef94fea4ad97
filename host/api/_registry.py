"""Registry routes: stations, buildings, entrances, households, devices (read, create,
update, delete). Reads are open to viewers; edits need the admin role and are audited by the
registry (or here when refused). A delete of something still in use answers 409 `in-use`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from host.api._core import Admin, Api, ApiDep, ApiError, Viewer
from host.api._models import (
    BuildingDetail,
    BuildingIn,
    BuildingOut,
    BuildingPatch,
    Deleted,
    DeviceIn,
    DeviceOut,
    DevicePatch,
    EntranceDetail,
    EntranceIn,
    EntranceOut,
    EntrancePatch,
    HouseholdFields,
    HouseholdIn,
    HouseholdOut,
    RegistryCounts,
    StationDetail,
    StationIn,
    StationOut,
    StationPatch,
    StationUnitIn,
    StationUnitOut,
)
from host.assets.registry import HOUSEHOLD_FIELDS

router = APIRouter(prefix="/api/v1", tags=["registry"])

COLUMNS = {
    "stations": ("id", "site", "name"),
    "buildings": ("id", "station_id", "name", "floors"),
    "entrances": ("id", "building_id", "site", "unit"),
    "households": ("id", "entrance_id", *HOUSEHOLD_FIELDS),
    "devices": ("id", "site", "unit", "point", "kind", "entrance_id", "household_id"),
}


def rows(api: Api, table: str, where: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Rows of a registry table as dicts, filtered on equal columns, ordered by id."""
    cols = COLUMNS[table]
    filters = {k: v for k, v in (where or {}).items() if v is not None}
    found = api.storage.registry_rows(table, cols, filters)
    out = [dict(zip(cols, r, strict=True)) for r in found]
    if table == "households":
        for row in out:
            row["has_room_sensor"] = bool(row["has_room_sensor"])
    return out


def one(api: Api, table: str, id_: str) -> dict[str, Any]:
    found = rows(api, table, {"id": id_})
    if not found:
        raise ApiError(404, "missing", f"no {table[:-1]} {id_!r}")
    return found[0]


@router.get("/registry", summary="Counts of every registry table", response_model=RegistryCounts)
def registry_counts(*, api: ApiDep, _: Viewer) -> dict[str, int]:
    return api.service.registry.counts()


# ---------------------------------------------------------------- stations ----
@router.get("/stations", summary="Every heat exchange station", response_model=list[StationOut])
def list_stations(*, site: str | None = None, api: ApiDep, _: Viewer) -> list[dict[str, Any]]:
    return rows(api, "stations", {"site": site})


@router.get(
    "/stations/{station_id}",
    summary="One station with its buildings",
    response_model=StationDetail,
)
def get_station(*, station_id: str, api: ApiDep, _: Viewer) -> dict[str, Any]:
    station = one(api, "stations", station_id)
    station["buildings"] = rows(api, "buildings", {"station_id": station_id})
    return station


@router.post(
    "/stations", status_code=201, summary="Add a station (admin)", response_model=StationOut
)
def add_station(*, body: StationIn, api: ApiDep, user: Admin) -> dict[str, Any]:
    api.write(
        user,
        "add_station",
        body.id,
        body.model_dump(),
        lambda: api.service.registry.add_station(body.id, body.site, body.name, who=user.name),
    )
    return one(api, "stations", body.id)


@router.post(
    "/stations/{station_id}/units",
    status_code=201,
    summary="Register a station unit (admin)",
    description="A unit of the station's site that serves no entrance: the station gateway "
    "(it reports the station and takes its commands) or a gateway relaying room sensors.",
    response_model=StationUnitOut,
)
def add_station_unit(
    *, station_id: str, body: StationUnitIn, api: ApiDep, user: Admin
) -> dict[str, Any]:
    api.write(
        user,
        "add_station_unit",
        station_id,
        body.model_dump(),
        lambda: api.service.registry.add_station_unit(station_id, body.unit, who=user.name),
    )
    station = one(api, "stations", station_id)
    return {"station_id": station_id, "site": station["site"], "unit": body.unit}


# ---------------------------------------------------------------- buildings ----
@router.get(
    "/buildings", summary="Buildings, optionally of one station", response_model=list[BuildingOut]
)
def list_buildings(
    *, station_id: str | None = None, api: ApiDep, _: Viewer
) -> list[dict[str, Any]]:
    return rows(api, "buildings", {"station_id": station_id})


@router.get(
    "/buildings/{building_id}",
    summary="One building with its entrances",
    response_model=BuildingDetail,
)
def get_building(*, building_id: str, api: ApiDep, _: Viewer) -> dict[str, Any]:
    building = one(api, "buildings", building_id)
    building["entrances"] = rows(api, "entrances", {"building_id": building_id})
    return building


@router.post(
    "/buildings", status_code=201, summary="Add a building (admin)", response_model=BuildingOut
)
def add_building(*, body: BuildingIn, api: ApiDep, user: Admin) -> dict[str, Any]:
    api.write(
        user,
        "add_building",
        body.id,
        body.model_dump(),
        lambda: api.service.registry.add_building(
            body.id, body.station_id, body.name, body.floors, who=user.name
        ),
    )
    return one(api, "buildings", body.id)


# ---------------------------------------------------------------- entrances ----
@router.get(
    "/entrances",
    summary="Entrances (one board unit each), filtered",
    response_model=list[EntranceOut],
)
def list_entrances(
    *,
    building_id: str | None = None,
    site: str | None = None,
    api: ApiDep,
    _: Viewer,
) -> list[dict[str, Any]]:
    return rows(api, "entrances", {"building_id": building_id, "site": site})


@router.get(
    "/entrances/{entrance_id}",
    summary="One entrance with households and devices",
    response_model=EntranceDetail,
)
def get_entrance(*, entrance_id: str, api: ApiDep, _: Viewer) -> dict[str, Any]:
    entrance = one(api, "entrances", entrance_id)
    entrance["households"] = rows(api, "households", {"entrance_id": entrance_id})
    entrance["devices"] = rows(api, "devices", {"entrance_id": entrance_id})
    return entrance


@router.post(
    "/entrances",
    status_code=201,
    summary="Add an entrance and its unit (admin)",
    response_model=EntranceOut,
)
def add_entrance(*, body: EntranceIn, api: ApiDep, user: Admin) -> dict[str, Any]:
    api.write(
        user,
        "add_entrance",
        body.id,
        body.model_dump(),
        lambda: api.service.registry.add_entrance(
            body.id, body.building_id, body.site, body.unit, who=user.name
        ),
    )
    return one(api, "entrances", body.id)


# ---------------------------------------------------------------- households ----
@router.get(
    "/households",
    summary="Households, optionally of one entrance",
    response_model=list[HouseholdOut],
)
def list_households(
    *, entrance_id: str | None = None, api: ApiDep, _: Viewer
) -> list[dict[str, Any]]:
    return rows(api, "households", {"entrance_id": entrance_id})


@router.get("/households/{household_id}", summary="One household", response_model=HouseholdOut)
def get_household(*, household_id: str, api: ApiDep, _: Viewer) -> dict[str, Any]:
    return one(api, "households", household_id)


@router.post(
    "/households", status_code=201, summary="Add a household (admin)", response_model=HouseholdOut
)
def add_household(*, body: HouseholdIn, api: ApiDep, user: Admin) -> dict[str, Any]:
    fields = body.model_dump(exclude={"id", "entrance_id"}, exclude_none=True)
    api.write(
        user,
        "add_household",
        body.id,
        body.model_dump(exclude_none=True),
        lambda: api.service.registry.add_household(
            body.id, body.entrance_id, who=user.name, **fields
        ),
    )
    return one(api, "households", body.id)


@router.patch(
    "/households/{household_id}",
    summary="Change fields of a household (admin)",
    response_model=HouseholdOut,
)
def update_household(
    *,
    household_id: str,
    body: HouseholdFields,
    api: ApiDep,
    user: Admin,
) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True)
    api.write(
        user,
        "update_household",
        household_id,
        fields,
        lambda: api.service.registry.update_household(household_id, who=user.name, **fields),
    )
    return one(api, "households", household_id)


# ---------------------------------------------------------------- devices ----
@router.get(
    "/devices",
    summary="Devices (valves, sensors, meters), filtered",
    response_model=list[DeviceOut],
)
def list_devices(
    *,
    site: str | None = None,
    unit: str | None = None,
    entrance_id: str | None = None,
    kind: Annotated[str | None, Query(description="entrance_valve, household_valve, ...")] = None,
    api: ApiDep,
    _: Viewer,
) -> list[dict[str, Any]]:
    where = {"site": site, "unit": unit, "entrance_id": entrance_id, "kind": kind}
    return rows(api, "devices", where)


@router.get("/devices/{device_id}", summary="One device", response_model=DeviceOut)
def get_device(*, device_id: str, api: ApiDep, _: Viewer) -> dict[str, Any]:
    return one(api, "devices", device_id)


@router.post(
    "/devices",
    status_code=201,
    summary="Add a device on a board (admin)",
    response_model=DeviceOut,
)
def add_device(*, body: DeviceIn, api: ApiDep, user: Admin) -> dict[str, Any]:
    api.write(
        user,
        "add_device",
        body.id,
        body.model_dump(),
        lambda: api.service.registry.add_device(
            body.id,
            body.site,
            body.unit,
            body.point,
            body.kind,
            body.household_id,
            who=user.name,
        ),
    )
    return one(api, "devices", body.id)


# ---------------------------------------------------------------- updates, deletes ----
def _update(api: Api, user: Any, kind: str, id_: str, fields: dict[str, Any]) -> dict[str, Any]:
    one(api, f"{kind}s", id_)  # 404 before anything else
    update = getattr(api.service.registry, f"update_{kind}")
    api.write(user, f"update_{kind}", id_, fields, lambda: update(id_, who=user.name, **fields))
    return one(api, f"{kind}s", id_)


def _delete(api: Api, user: Any, kind: str, id_: str) -> dict[str, str]:
    api.write(
        user,
        f"delete_{kind}",
        id_,
        None,
        lambda: api.service.registry.delete(kind, id_, who=user.name),
    )
    return {"deleted": id_}


@router.patch(
    "/stations/{station_id}", summary="Rename a station (admin)", response_model=StationOut
)
def update_station(
    *, station_id: str, body: StationPatch, api: ApiDep, user: Admin
) -> dict[str, Any]:
    return _update(api, user, "station", station_id, body.model_dump(exclude_unset=True))


@router.patch(
    "/buildings/{building_id}",
    summary="Change a building's name or floors (admin)",
    response_model=BuildingOut,
)
def update_building(
    *, building_id: str, body: BuildingPatch, api: ApiDep, user: Admin
) -> dict[str, Any]:
    return _update(api, user, "building", building_id, body.model_dump(exclude_unset=True))


@router.patch(
    "/entrances/{entrance_id}",
    summary="Move an entrance to a building (admin)",
    response_model=EntranceOut,
)
def update_entrance(
    *, entrance_id: str, body: EntrancePatch, api: ApiDep, user: Admin
) -> dict[str, Any]:
    return _update(api, user, "entrance", entrance_id, body.model_dump(exclude_unset=True))


@router.patch(
    "/devices/{device_id}",
    summary="Change a device's kind or household (admin)",
    response_model=DeviceOut,
)
def update_device(
    *, device_id: str, body: DevicePatch, api: ApiDep, user: Admin
) -> dict[str, Any]:
    return _update(api, user, "device", device_id, body.model_dump(exclude_unset=True))


@router.delete(
    "/stations/{station_id}",
    summary="Delete a station without buildings (admin)",
    response_model=Deleted,
)
def delete_station(*, station_id: str, api: ApiDep, user: Admin) -> dict[str, str]:
    return _delete(api, user, "station", station_id)


@router.delete(
    "/buildings/{building_id}",
    summary="Delete a building without entrances (admin)",
    response_model=Deleted,
)
def delete_building(*, building_id: str, api: ApiDep, user: Admin) -> dict[str, str]:
    return _delete(api, user, "building", building_id)


@router.delete(
    "/entrances/{entrance_id}",
    summary="Delete an entrance without households or devices; its unit and data stay (admin)",
    response_model=Deleted,
)
def delete_entrance(*, entrance_id: str, api: ApiDep, user: Admin) -> dict[str, str]:
    return _delete(api, user, "entrance", entrance_id)


@router.delete(
    "/households/{household_id}",
    summary="Delete a household without devices (admin)",
    response_model=Deleted,
)
def delete_household(*, household_id: str, api: ApiDep, user: Admin) -> dict[str, str]:
    return _delete(api, user, "household", household_id)


@router.delete("/devices/{device_id}", summary="Delete a device (admin)", response_model=Deleted)
def delete_device(*, device_id: str, api: ApiDep, user: Admin) -> dict[str, str]:
    return _delete(api, user, "device", device_id)
