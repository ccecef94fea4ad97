"""What every route needs: errors as JSON, authentication and roles, audited writes.

Authentication is HTTP Basic on every request (`Authorization: Basic base64(name:password)`;
put the API behind TLS). Roles are ordered viewer < operator < admin; a route names the lowest
role that may call it. Every write (any method but GET and HEAD) is audited exactly once
with the caller's name: by the component that does it (the registry, desired state, alarms
and the balancer audit themselves) or here, when the component does not, and always when the
write is refused before it reaches the component (no or bad credentials, too low a role,
invalid input).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from host.api.users import User, Users
from host.control.alarms import (
    AlarmError,
    AlreadyAcknowledgedError,
    BadThresholdsError,
    UnknownAlarmError,
)
from host.errors import EvenheatError, RefusedError

if TYPE_CHECKING:
    from host.service.runtime import Service
    from host.storage import Storage

log = logging.getLogger(__name__)
T = TypeVar("T")

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# HTTP status of each reason of a refusal (a RefusedError: RegistryError, CommandError,
# UserError, ExportError, BalancerError); any other reason is invalid input (422).
STATUS = {
    **dict.fromkeys(
        (
            "missing",
            "not-found",
            "unknown-unit",
            "unknown-station",
            "unknown-point",
            "unknown-valve",
            "unknown-alarm",
            "unknown-user",
            "not-overridden",
        ),
        404,
    ),
    **dict.fromkeys(
        (
            "duplicate",
            "inconsistent",
            "in-use",
            "last-admin",
            "already-acknowledged",
            "conflict",
            "busy",
            "no-unit",
            "off",
            "no-model",
        ),
        409,
    ),
    **dict.fromkeys(("bad-range", "bad-time", "bad-request"), 400),
    "too-large": 413,
    "no-balancer": 503,
}

# HTTP status of each error type; the nearest listed class up an error's MRO decides. A
# RefusedError answers by its reason where STATUS lists it. An EvenheatError of no listed
# type is a failure of the host, not a refusal: 500 "internal" (traceback in the log).
ERROR_STATUS: dict[type[EvenheatError], int] = {
    UnknownAlarmError: 404,
    AlreadyAcknowledgedError: 409,
    BadThresholdsError: 422,
    AlarmError: 422,
    RefusedError: 422,
}


class ApiError(EvenheatError):
    """An error answered as `{"error": reason, "detail": detail}` with `status`."""

    def __init__(self, status: int, reason: str, detail: Any) -> None:
        super().__init__(detail, reason=reason)
        self.args = (f"{status} {reason}: {detail}",)
        self.status = status


def status_of(exc: EvenheatError) -> int:
    """The HTTP status of an error, by its type (and a refusal's reason)."""
    if isinstance(exc, ApiError):
        return exc.status
    listed = next((ERROR_STATUS[c] for c in type(exc).__mro__ if c in ERROR_STATUS), None)
    if listed is None:
        return 500
    if isinstance(exc, RefusedError):
        return STATUS.get(exc.reason, listed)
    return listed


def to_api_error(exc: EvenheatError) -> ApiError:
    """The HTTP form of an error (ApiError itself as it is). A failure (500) names only the
    error's type: its message may hold internals."""
    if isinstance(exc, ApiError):
        return exc
    status = status_of(exc)
    if status >= 500:
        return ApiError(500, "internal", type(exc).__name__)
    return ApiError(status, exc.reason, exc.detail)


class Api:
    """The service as the routes see it (kept on `app.state.api`)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.users = Users(service.storage)

    @property
    def storage(self) -> Storage:
        return self.service.storage

    @property
    def balancer(self) -> Any:
        balancer = getattr(self.service, "balancer", None)
        if balancer is None:
            raise ApiError(503, "no-balancer", "this service runs no balancer")
        return balancer

    @property
    def station_control(self) -> Any:
        control = getattr(self.service, "station_control", None)
        if control is None:
            raise ApiError(503, "no-balancer", "this service runs no station control")
        return control

    def audit(self, who: str, action: str, target: str, detail: Any, result: str) -> None:
        with self.storage.transaction():
            self.storage.audit(who, action, target, detail, result)

    def write(
        self,
        user: User,
        action: str,
        target: str,
        detail: Any,
        call: Callable[[], T],
        audits: Collection[str] = ("done",),
    ) -> T:
        """Run a write. `audits` says which outcomes `call` audits itself ("done",
        "refused"); the others are audited here under the user's name."""
        try:
            result = call()
        except EvenheatError as exc:
            err = to_api_error(exc)
            if err.status >= 500 and not isinstance(exc, ApiError):  # failed, not refused
                self.audit(user.name, action, target, detail, f"failed: {type(exc).__name__}")
                raise
            if "refused" not in audits:
                refusal = f"refused: {err.reason}: {err.detail}"
                self.audit(user.name, action, target, detail, refusal)
            raise err from None
        except Exception as exc:
            self.audit(user.name, action, target, detail, f"failed: {type(exc).__name__}")
            raise
        if "done" not in audits:
            self.audit(user.name, action, target, detail, "done")
        return result

    def refuse_write(self, request: Request, who: str, result: str, detail: Any = None) -> None:
        """Audit a write refused before its handler ran (rights, validation)."""
        if request.method in READ_METHODS:
            return
        self.audit(who, action_of(request), request.url.path, detail, result)


def action_of(request: Request) -> str:
    """The audit action of a request: its route's name (`add_station`), else the method."""
    route = request.scope.get("route")
    name = getattr(route, "name", None)
    return str(name) if name else request.method.lower()


def get_api(request: Request) -> Api:
    api: Api = request.app.state.api
    return api


_basic = HTTPBasic(auto_error=False, realm="evenheat")
Credentials = Annotated[HTTPBasicCredentials | None, Depends(_basic)]


def authenticate(request: Request, credentials: HTTPBasicCredentials | None) -> User:
    """The caller, or ApiError 401 (audited when the request is a write)."""
    api = get_api(request)
    if credentials is None:
        api.refuse_write(request, "anonymous", "refused: unauthenticated")
        raise ApiError(401, "unauthenticated", "HTTP Basic credentials are required")
    user = api.users.authenticate(credentials.username, credentials.password)
    if user is None:
        who = f"unauthenticated:{credentials.username[:64]}"
        api.refuse_write(request, who, "refused: bad credentials")
        raise ApiError(401, "bad-credentials", "unknown user, wrong password or disabled user")
    request.state.user = user
    return user


def require(role: str) -> Callable[..., User]:
    """A dependency: the authenticated caller, who must have `role` or a higher one."""

    def dependency(request: Request, credentials: Credentials) -> User:
        user = authenticate(request, credentials)
        if not user.may(role):
            get_api(request).refuse_write(
                request, user.name, f"refused: forbidden ({role} required)"
            )
            raise ApiError(403, "forbidden", f"needs the {role} role; {user.name} is {user.role}")
        return user

    dependency.__name__ = f"require_{role}"
    return dependency


viewer = require("viewer")
operator = require("operator")
admin = require("admin")
# Route parameter types: `api: ApiDep, user: Operator`.
ApiDep = Annotated[Api, Depends(get_api)]
Viewer = Annotated[User, Depends(viewer)]
Operator = Annotated[User, Depends(operator)]
Admin = Annotated[User, Depends(admin)]
