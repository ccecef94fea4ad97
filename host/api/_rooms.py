"""Room temperature routes: a household's current room temperature (measured or estimated)
and its history, and a station's overview. Read by viewers.

Refusals: an unknown household or station answers 404 (`unknown-household`,
`unknown-station`), a household with neither a fresh plausible reading nor an estimate 404
`no-room-data`, an empty or inverted time range 422 `bad-range`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from host.api._core import Api, ApiDep, ApiError, Viewer
from host.api._models import RoomHistory, RoomNow, StationRooms
from host.reports.rooms import household_room, station_rooms

router = APIRouter(prefix="/api/v1", tags=["rooms"])

MAX_POINTS_LIMIT = 100_000


def _need_household(api: Api, household_id: str) -> None:
    if api.storage.household_entrance(household_id) is None:
        raise ApiError(404, "unknown-household", f"no household {household_id!r}")


@router.get(
    "/households/{household_id}/room",
    summary="A household's current room temperature, measured or estimated",
    description="The newest plausible sensor reading when it is under 1 h old (`measured`: "
    "true, `se_c` 0.3 K), else the newest stored estimate (`measured`: false, the estimator's "
    "`se_c` and `method`). `sensor` and `flag` describe the household's newest reading.",
    response_model=RoomNow,
)
def household_room_now(*, household_id: str, api: ApiDep, _: Viewer) -> dict[str, Any]:
    _need_household(api, household_id)
    now = household_room(api.storage, household_id, api.service.clock())
    if now is None:
        raise ApiError(
            404,
            "no-room-data",
            f"household {household_id!r} has neither a fresh plausible reading nor an estimate",
        )
    return now


@router.get(
    "/households/{household_id}/room/history",
    summary="A household's room temperature readings and estimates over a time range",
    description="Two series in time order: `readings` (every point `measured`: true, with "
    "its plausibility `flag`) and `estimates` (each point `measured` as stored). Ranges "
    "holding more than `max_points` rows come back as means over equal time buckets.",
    response_model=RoomHistory,
)
def household_room_history(
    *,
    household_id: str,
    start_s: Annotated[int, Query(ge=0, description="UTC epoch seconds, included")],
    end_s: Annotated[int, Query(ge=0, description="UTC epoch seconds, included")],
    max_points: Annotated[int | None, Query(ge=1, le=MAX_POINTS_LIMIT)] = None,
    api: ApiDep,
    _: Viewer,
) -> dict[str, Any]:
    if start_s >= end_s:
        raise ApiError(422, "bad-range", f"start_s ({start_s}) must be before end_s ({end_s})")
    _need_household(api, household_id)
    storage = api.storage
    readings = storage.room_reading_history(household_id, start_s, end_s, max_points)
    estimates = storage.room_estimate_history(household_id, start_s, end_s, max_points)
    return {
        "household_id": household_id,
        "start_s": start_s,
        "end_s": end_s,
        "max_points": max_points,
        "readings": [
            {"ts_s": ts, "t_room_c": t, "flag": flag, "measured": True} for ts, t, flag in readings
        ],
        "estimates": [
            {"ts_s": ts, "t_room_c": t, "se_c": se, "measured": measured}
            for ts, t, se, measured in estimates
        ],
    }


@router.get(
    "/stations/{station_id}/rooms",
    summary="Every household of a station with its current room temperature, and counts",
    description="Per household the current value as `/households/{id}/room` gives it (null "
    "when there is none); counts: households, sensed (measured now), estimated, no_data, "
    "poor (se_c above 1 K), below_18 (under 18 degC).",
    response_model=StationRooms,
)
def station_rooms_now(*, station_id: str, api: ApiDep, _: Viewer) -> dict[str, Any]:
    if api.storage.station_site(station_id) is None:
        raise ApiError(404, "unknown-station", f"no station {station_id!r}")
    return station_rooms(api.storage, station_id, api.service.clock())
