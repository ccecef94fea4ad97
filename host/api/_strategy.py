"""Balancing routes: strategy settings per station, "balance this station now", decisions,
and manual overrides of a valve (a fixed target or opening) with their release.

The balancer audits its own outcomes; a run refused before it starts (unknown station) is
audited here, and so is a settings change whose body StrategyPatch refuses (with the
balancer's reasons: `unknown-setting` naming the field, `bad-value`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from host.api._core import Admin, ApiDep, Operator, Viewer
from host.api._models import (
    BalanceRun,
    DecisionOut,
    FeedForwardRun,
    OverrideIn,
    OverrideOut,
    StationSummary,
    StrategyPatch,
    StrategySettingsOut,
    ValveHeld,
)
from host.control.balancer import BalancerError

router = APIRouter(prefix="/api/v1", tags=["balancing"])
SELF_AUDITED = ("done", "refused")


@router.get(
    "/stations/{station_id}/strategy",
    summary="Balancing settings of a station",
    response_model=StrategySettingsOut,
)
def get_strategy(*, station_id: str, api: ApiDep, _: Viewer) -> dict[str, Any]:
    return api.balancer.settings(station_id)


@router.patch(
    "/stations/{station_id}/strategy",
    summary="Change balancing settings of a station (admin)",
    description='Only the settings named change, e.g. `{"period_s": 900, "offsets": '
    '{"b12-e2/entrance": -0.5}}`; the whole change is refused if any value is bad.',
    response_model=StrategySettingsOut,
    # The body is checked by StrategyPatch in the route (refusals answer with the balancer's
    # reasons and are audited); the document shows its schema.
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": StrategyPatch.model_json_schema()}}
        }
    },
)
def set_strategy(
    *,
    station_id: str,
    changes: Annotated[dict[str, Any], Body()],
    api: ApiDep,
    user: Admin,
) -> dict[str, Any]:
    def call() -> dict[str, Any]:
        balancer = api.balancer
        try:
            StrategyPatch.check(changes)
        except BalancerError as exc:  # audited as the balancer audits its refusals
            api.audit(user.name, "set_strategy", station_id, changes, f"refused: {exc}")
            raise
        return balancer.set_settings(station_id, changes, user.name)

    return api.write(user, "set_strategy", station_id, changes, call, audits=SELF_AUDITED)


@router.get(
    "/stations/{station_id}/summary",
    summary="Return-temperature spread, last run",
    response_model=StationSummary,
)
def get_station_summary(*, station_id: str, api: ApiDep, _: Viewer) -> dict[str, Any]:
    return api.balancer.station_summary(station_id)


@router.post(
    "/stations/{station_id}/balance",
    summary="Balance this station now (operator)",
    description="Runs the strategy once for the station, publishes changed targets and "
    "returns every decision with its reason and inputs.",
    response_model=BalanceRun,
)
def balance_station(*, station_id: str, api: ApiDep, user: Operator) -> dict[str, Any]:
    return api.write(
        user,
        "balance_station",
        station_id,
        {"trigger": "manual"},
        lambda: api.balancer.run_station(station_id, user.name, "manual"),
    )


@router.post(
    "/stations/{station_id}/feed-forward",
    summary="Push the identified model's openings and pump speed now (operator)",
    description="From the station's network and estimate files (settings `feed_forward`): "
    "every valve's modelled opening as its feed-forward, the pump's modelled speed to the "
    "station control; nothing when the model cannot be trusted (the reason says why).",
    response_model=FeedForwardRun,
)
def feed_forward(*, station_id: str, api: ApiDep, user: Operator) -> dict[str, Any]:
    return api.write(
        user,
        "feed_forward",
        station_id,
        {"trigger": "manual"},
        lambda: api.service.model_balancing.run(station_id, user.name, "manual"),
    )


@router.get(
    "/stations/{station_id}/decisions",
    summary="Balancing decisions, newest first",
    response_model=list[DecisionOut],
)
def get_decisions(
    *,
    station_id: str,
    since_s: Annotated[
        float | None, Query(description="decided at or after (UTC seconds)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100000)] = 200,
    api: ApiDep,
    _: Viewer,
) -> list[dict[str, Any]]:
    return api.balancer.decisions(station_id, since_s, limit)


@router.get(
    "/overrides", summary="Valves an operator has taken over", response_model=list[OverrideOut]
)
def list_overrides(*, api: ApiDep, _: Viewer) -> list[dict[str, Any]]:
    return api.balancer.overrides()


@router.put(
    "/units/{site}/{unit}/valves/{valve}/override",
    summary="Override a valve: hold a target or a fixed opening (operator)",
    response_model=ValveHeld,
)
def override_valve(
    *,
    site: str,
    unit: str,
    valve: str,
    body: OverrideIn,
    api: ApiDep,
    user: Operator,
) -> dict[str, Any]:
    version = api.write(
        user,
        "override",
        f"{site}/{unit}",
        {"valve": valve, **body.model_dump()},
        lambda: api.balancer.override(
            site, unit, valve, user.name, target_c=body.target_c, opening_pct=body.opening_pct
        ),
        audits=SELF_AUDITED,
    )
    return {"site": site, "unit": unit, "valve": valve, "version": version}


@router.delete(
    "/units/{site}/{unit}/valves/{valve}/override",
    summary="Release an overridden valve back to the strategy (operator)",
    response_model=ValveHeld,
)
def release_valve(
    *, site: str, unit: str, valve: str, api: ApiDep, user: Operator
) -> dict[str, Any]:
    version = api.write(
        user,
        "release",
        f"{site}/{unit}",
        valve,
        lambda: api.balancer.release(site, unit, valve, user.name),
        audits=SELF_AUDITED,
    )
    return {"site": site, "unit": unit, "valve": valve, "version": version}
