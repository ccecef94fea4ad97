"""Unit (board) routes: board state, latest values, events, desired state and its command
history, alarm thresholds. Issuing desired state needs the operator role, thresholds admin."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query

from host.api._core import Admin, Api, ApiDep, ApiError, Operator, Viewer
from host.api._models import (
    BoardEvent,
    BoardState,
    Commands,
    DesiredIssued,
    DesiredState,
    Latest,
    ThresholdsIn,
    ThresholdsOut,
    UnitDetail,
    UnitStatus,
)
from host.reports.export import latest_records

router = APIRouter(prefix="/api/v1", tags=["units"])


def need_unit(api: Api, site: str, unit: str) -> int:
    uid = api.storage.unit_id(site, unit)
    if uid is None:
        raise ApiError(404, "unknown-unit", f"no unit {site}/{unit}")
    return uid


def board_state(api: Api, site: str, unit: str) -> dict[str, Any]:
    """A copy of the in-memory board state (dict copies are atomic under the GIL)."""
    board = dict(api.service.boards.state.get((site, unit)) or {"status": "unknown"})
    health = board.get("health")
    if isinstance(health, str):
        try:
            board["health"] = json.loads(health)
        except ValueError:
            pass
    if "safe_mode" in board and board["safe_mode"] is not None:
        board["safe_mode"] = bool(board["safe_mode"])
    return board


@router.get(
    "/units",
    tags=["units"],
    summary="Every registered unit with its board status",
    response_model=list[UnitStatus],
)
def list_units(*, site: str | None = None, api: ApiDep, _: Viewer) -> list[dict[str, Any]]:
    found = api.storage.unit_rows(site)
    out = []
    for s, u, entrance_id in found:
        board = board_state(api, s, u)
        out.append(
            {
                "site": s,
                "unit": u,
                "entrance_id": entrance_id,
                "status": board.get("status"),
                "last_seen_s": board.get("last_seen_s"),
            }
        )
    return out


# Board and desired state leave out what the service does not know: `exclude_unset`.
@router.get(
    "/boards",
    summary="The state of every board the service knows",
    response_model=list[BoardState],
    response_model_exclude_unset=True,
)
def list_boards(*, api: ApiDep, _: Viewer) -> list[dict[str, Any]]:
    keys = sorted(dict(api.service.boards.state))
    return [{"site": s, "unit": u, **board_state(api, s, u)} for s, u in keys]


@router.get(
    "/units/{site}/{unit}",
    summary="One unit: entrance, board state, desired state",
    response_model=UnitDetail,
    response_model_exclude_unset=True,
)
def get_unit(*, site: str, unit: str, api: ApiDep, _: Viewer) -> dict[str, Any]:
    need_unit(api, site, unit)
    return {
        "site": site,
        "unit": unit,
        "entrance_id": api.storage.unit_entrance(site, unit),
        "board": board_state(api, site, unit),
        "desired": api.service.desired.status(site, unit),
    }


@router.get(
    "/units/{site}/{unit}/board",
    summary="Board state: online, firmware, health",
    response_model=BoardState,
    response_model_exclude_unset=True,
)
def get_board(*, site: str, unit: str, api: ApiDep, _: Viewer) -> dict[str, Any]:
    need_unit(api, site, unit)
    return {"site": site, "unit": unit, **board_state(api, site, unit)}


@router.get(
    "/units/{site}/{unit}/latest",
    summary="The newest stored record of every point",
    response_model=Latest,
)
def get_latest(*, site: str, unit: str, api: ApiDep, _: Viewer) -> dict[str, Any]:
    need_unit(api, site, unit)
    return {"site": site, "unit": unit, "points": latest_records(api.storage, site, unit)}


@router.get(
    "/units/{site}/{unit}/events",
    summary="Board events, newest last",
    response_model=list[BoardEvent],
)
def get_events(
    *,
    site: str,
    unit: str,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
    api: ApiDep,
    _: Viewer,
) -> list[dict[str, Any]]:
    need_unit(api, site, unit)
    events = api.storage.events(site, unit)[-limit:]
    return [{"seq": a, "ts_s": b, "event": c, "severity": d} for a, b, c, d in events]


# ---------------------------------------------------------------- desired state ----
@router.get(
    "/units/{site}/{unit}/desired",
    summary="Newest desired targets, config and station command",
    response_model=DesiredState,
    response_model_exclude_unset=True,
)
def get_desired(*, site: str, unit: str, api: ApiDep, _: Viewer) -> dict[str, Any]:
    need_unit(api, site, unit)
    status = api.service.desired.status(site, unit)
    return {
        of: {**status.get(of, {}), "payload": api.service.desired.payload(site, unit, of)}
        for of in ("targets", "config", "station")
    }


@router.post(
    "/units/{site}/{unit}/desired/{of}",
    summary="Issue new desired targets, config or station command (operator)",
    description="The body is the message of docs/protocol.md without `version` and "
    "`ts_s`; a config is complete, not a delta. Returns the new version, published retained. "
    "A station command by hand holds until the station control's next decision where a "
    "strategy is on.",
    response_model=DesiredIssued,
)
def set_desired(
    *,
    site: str,
    unit: str,
    of: Literal["targets", "config", "station"],
    body: Annotated[dict[str, Any], Body()],
    api: ApiDep,
    user: Operator,
) -> dict[str, Any]:
    version = api.write(
        user,
        f"set_{of}",
        f"{site}/{unit}",
        body,
        lambda: api.service.desired.set(site, unit, of, body, user.name),
        audits=("done", "refused"),
    )
    return {"site": site, "unit": unit, "of": of, "version": version}


@router.get(
    "/units/{site}/{unit}/commands",
    summary="Command history of a unit",
    response_model=Commands,
)
def get_commands(
    *,
    site: str,
    unit: str,
    limit: Annotated[int, Query(ge=1, le=10000)] = 200,
    api: ApiDep,
    _: Viewer,
) -> dict[str, Any]:
    """Every desired version issued (who, when, status) and the audit rows about the unit."""
    uid = need_unit(api, site, unit)
    return {
        "desired": api.storage.desired_history(uid, limit),
        "audit": api.storage.audit_about(f"{site}/{unit}", limit),
    }


# ---------------------------------------------------------------- thresholds ----
@router.get(
    "/units/{site}/{unit}/thresholds/{point}",
    summary="Alarm thresholds of a point",
    response_model=ThresholdsOut,
)
def get_thresholds(*, site: str, unit: str, point: str, api: ApiDep, _: Viewer) -> dict[str, Any]:
    need_unit(api, site, unit)
    th = api.service.alarms.thresholds_for(site, unit, point)
    return {"site": site, "unit": unit, "point": point, **vars(th)}


@router.put(
    "/units/{site}/{unit}/thresholds/{point}",
    summary="Override alarm thresholds of a point, `*` for all households (admin)",
    response_model=ThresholdsOut,
)
def set_thresholds(
    *,
    site: str,
    unit: str,
    point: str,
    body: ThresholdsIn,
    api: ApiDep,
    user: Admin,
) -> dict[str, Any]:
    values = body.model_dump(exclude_none=True)
    target = f"{site}/{unit}/{point}"

    def call() -> Any:
        need_unit(api, site, unit)
        return api.service.alarms.set_thresholds(site, unit, point, values, user.name)

    # set_thresholds audits its own outcome once the unit is known; an unknown unit is
    # refused (and audited) by write().
    try:
        th = api.write(user, "set_thresholds", target, values, call, audits=("done", "refused"))
    except ApiError as err:
        if err.reason == "unknown-unit":
            api.audit(user.name, "set_thresholds", target, values, f"refused: {err.detail}")
        raise
    return {"site": site, "unit": unit, "point": point, **vars(th)}
