"""Station control routes: the settings of a station's own strategies (the unit that runs it,
pump and weather each off, on or scheduled, curve, schedule, tuning), "decide now", and the
stored decisions. StationControl audits its own outcomes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from host.api._core import Admin, ApiDep, Operator, Viewer
from host.api._models import StationControlOut, StationDecisionOut

router = APIRouter(prefix="/api/v1", tags=["station"])
SELF_AUDITED = ("done", "refused")


@router.get(
    "/stations/{station_id}/control",
    summary="Station control settings",
    response_model=StationControlOut,
)
def get_control(*, station_id: str, api: ApiDep, _: Viewer) -> dict[str, Any]:
    return api.station_control.settings(station_id)


@router.patch(
    "/stations/{station_id}/control",
    summary="Change station control settings (admin)",
    description='Only the settings named change, e.g. `{"unit": "station-1", "pump": "on", '
    '"weather": "scheduled", "schedule": [{"days": [0,1,2,3,4], "start_h": 23, "end_h": 24, '
    '"shift_c": -2}]}`; the whole change is refused if any value is bad. Switching both '
    "strategies off hands the station back to its own control at once.",
    response_model=StationControlOut,
)
def set_control(
    *,
    station_id: str,
    changes: Annotated[dict[str, Any], Body()],
    api: ApiDep,
    user: Admin,
) -> dict[str, Any]:
    return api.write(
        user,
        "set_station_control",
        station_id,
        changes,
        lambda: api.station_control.set_settings(station_id, changes, user.name),
        audits=SELF_AUDITED,
    )


@router.post(
    "/stations/{station_id}/control/run",
    summary="Decide the station's pump and supply now (operator)",
    response_model=StationDecisionOut,
)
def run_control(*, station_id: str, api: ApiDep, user: Operator) -> dict[str, Any]:
    return api.write(
        user,
        "run_station_control",
        station_id,
        {"trigger": "manual"},
        lambda: api.station_control.run(station_id, user.name, "manual"),
    )


@router.get(
    "/stations/{station_id}/control/decisions",
    summary="Station decisions, newest first",
    response_model=list[StationDecisionOut],
)
def get_control_decisions(
    *,
    station_id: str,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
    api: ApiDep,
    _: Viewer,
) -> list[dict[str, Any]]:
    return api.station_control.decisions(station_id, limit)
