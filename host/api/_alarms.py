"""Alarm routes: list (filter by kind, open, site, unit, point), one alarm, acknowledge."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from host.api._core import ApiDep, ApiError, Operator, Viewer
from host.api._models import AlarmOut

router = APIRouter(prefix="/api/v1", tags=["alarms"])


@router.get("/alarms", summary="Alarms, newest first, filtered", response_model=list[AlarmOut])
def list_alarms(
    *,
    kind: Annotated[
        list[str] | None, Query(description="t_low, t_high, offline, ... (repeatable)")
    ] = None,
    open: Annotated[bool | None, Query(description="true: not cleared; false: cleared")] = None,  # noqa: A002
    acked: Annotated[bool | None, Query(description="true: acknowledged; false: not yet")] = None,
    site: str | None = None,
    unit: str | None = None,
    point: str | None = None,
    since_s: Annotated[float | None, Query(description="raised at or after (UTC seconds)")] = None,
    limit: Annotated[int, Query(ge=1, le=100000)] = 500,
    api: ApiDep,
    _: Viewer,
) -> list[dict[str, Any]]:
    kinds = {k for item in kind or () for k in item.split(",") if k}
    out = []
    for alarm in reversed(api.storage.alarms(open_only=bool(open))):
        if kinds and alarm["kind"] not in kinds:
            continue
        if open is False and alarm["cleared_s"] is None:
            continue
        if acked is not None and (alarm["acked_s"] is not None) != acked:
            continue
        if any(
            want is not None and alarm[name] != want
            for name, want in (("site", site), ("unit", unit), ("point", point))
        ):
            continue
        if since_s is not None and alarm["raised_s"] < since_s:
            continue
        out.append(alarm)
        if len(out) >= limit:
            break
    return out


@router.get("/alarms/{alarm_id}", summary="One alarm", response_model=AlarmOut)
def get_alarm(*, alarm_id: int, api: ApiDep, _: Viewer) -> dict[str, Any]:
    alarm = api.storage.alarm(alarm_id)
    if alarm is None:
        raise ApiError(404, "unknown-alarm", f"no alarm {alarm_id}")
    return alarm


@router.post(
    "/alarms/{alarm_id}/ack", summary="Acknowledge an alarm (operator)", response_model=AlarmOut
)
def acknowledge_alarm(*, alarm_id: int, api: ApiDep, user: Operator) -> dict[str, Any]:
    return api.write(
        user,
        "acknowledge_alarm",
        str(alarm_id),
        None,
        lambda: api.service.alarms.acknowledge(alarm_id, user.name),
    )
