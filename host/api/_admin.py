"""Service routes: health, status, metrics, the caller, users (admin) and the audit trail
(admin)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from host.api._core import Admin, ApiDep, Viewer
from host.api._models import (
    AuditRow,
    Health,
    PasswordIn,
    ServiceStatus,
    UserIn,
    UserOut,
    UserPatch,
)

router = APIRouter(prefix="/api/v1", tags=["service"])


@router.get("/health", summary="Liveness (no credentials needed)", response_model=Health)
def health(*, api: ApiDep) -> dict[str, Any]:
    return {"ok": True, "broker_connected": api.service.link.connected.is_set()}


@router.get(
    "/status",
    summary="What the service is doing: counters, boards, alarms",
    response_model=ServiceStatus,
)
def status(*, api: ApiDep, _: Viewer) -> dict[str, Any]:
    svc = api.service
    boards = dict(svc.boards.state)
    return {
        "summary": svc.summary(),
        "sites": list(svc.cfg.service.sites),
        "database": svc.storage.dialect,
        "schema_version": svc.storage.schema_version(),
        "broker_connected": svc.link.connected.is_set(),
        "boards": len(boards),
        "boards_online": sum(1 for b in boards.values() if b.get("status") == "online"),
        "alarms_open": len(svc.alarms.open),
        "registry": svc.registry.counts(),
        "balancer": getattr(svc, "balancer", None) is not None,
    }


@router.get(
    "/metrics",
    summary="Prometheus text exposition of the service counters",
    response_class=PlainTextResponse,
)
def metrics(*, api: ApiDep, _: Viewer) -> str:
    return api.service.metrics_text()


@router.get("/me", tags=["users"], summary="The authenticated caller", response_model=UserOut)
def me(*, user: Viewer) -> dict[str, Any]:
    return asdict(user)


@router.put(
    "/me/password", tags=["users"], summary="Change one's own password", response_model=UserOut
)
def change_own_password(*, body: PasswordIn, api: ApiDep, user: Viewer) -> dict[str, Any]:
    changed = api.write(
        user,
        "update_user",
        user.name,
        {"password": "changed"},
        lambda: api.users.update(user.name, user.name, password=body.password),
    )
    return asdict(changed)


@router.get(
    "/users", tags=["users"], summary="Every API user (admin)", response_model=list[UserOut]
)
def list_users(*, api: ApiDep, _: Admin) -> list[dict[str, Any]]:
    return [asdict(u) for u in api.users.list()]


@router.post(
    "/users",
    tags=["users"],
    status_code=201,
    summary="Add a user (admin)",
    response_model=UserOut,
)
def add_user(*, body: UserIn, api: ApiDep, user: Admin) -> dict[str, Any]:
    added = api.write(
        user,
        "add_user",
        body.name,
        {"role": body.role},
        lambda: api.users.add(body.name, body.role, body.password, who=user.name),
    )
    return asdict(added)


@router.patch(
    "/users/{name}",
    tags=["users"],
    summary="Change a user's role, password, disabled (admin)",
    response_model=UserOut,
)
def update_user(*, name: str, body: UserPatch, api: ApiDep, user: Admin) -> dict[str, Any]:
    detail = body.model_dump(exclude_none=True)
    if "password" in detail:
        detail["password"] = "changed"
    changed = api.write(
        user,
        "update_user",
        name,
        detail,
        lambda: api.users.update(
            name, user.name, role=body.role, password=body.password, disabled=body.disabled
        ),
    )
    return asdict(changed)


@router.get(
    "/audit",
    tags=["users"],
    summary="The audit trail, newest first (admin)",
    response_model=list[AuditRow],
)
def audit_trail(
    *,
    who: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since_s: Annotated[float | None, Query(description="at or after (UTC seconds)")] = None,
    limit: Annotated[int, Query(ge=1, le=100000)] = 200,
    api: ApiDep,
    _: Admin,
) -> list[dict[str, Any]]:
    return api.storage.audit_rows(who, action, target, since_s, limit)
