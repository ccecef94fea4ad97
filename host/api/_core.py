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
from host.control.alarms import AlarmError

if TYPE_CHECKING:
    from host.service.runtime import Service
    from host.storage import Storage

log = logging.getLogger(__name__)
T = TypeVar("T")

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# HTTP status of each domain error reason (the `reason` of RegistryError, CommandError,
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
        ),
        409,
    ),
    **dict.fromkeys(("bad-range", "bad-time", "bad-request"), 400),
    "too-large": 413,
    "no-balancer": 503,
}


class ApiError(Exception):
    """An error answered as `{"error": reason, "detail": detail}` with `status`."""

    def __init__(self, status: int, reason: str, detail: Any) -> None:
        super().__init__(f"{status} {reason}: {detail}")
        self.status = status
        self.reason = reason
        self.detail = detail


def to_api_error(exc: Exception) -> ApiError:
    """The HTTP form of a domain error (or ApiError itself)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, AlarmError):
        text = str(exc)
        if text.startswith("no alarm"):
            return ApiError(404, "unknown-alarm", text)
        if "already acknowledged" in text:
            return ApiError(409, "already-acknowledged", text)
        return ApiError(422, "bad-thresholds", text)
    reason = str(getattr(exc, "reason", "") or "invalid")
    detail = getattr(exc, "detail", None)
    if detail is None:
        detail = str(exc).removeprefix(f"{reason}: ")
    return ApiError(STATUS.get(reason, 422), reason, detail)


def domain_errors() -> tuple[type[Exception], ...]:
    """The exception classes components raise for refused requests."""
    from host.api.users import UserError
    from host.assets.registry import RegistryError
    from host.control.desired import CommandError
    from host.reports.export import ExportError

    found: list[type[Exception]] = [
        ApiError,
        AlarmError,
        CommandError,
        ExportError,
        RegistryError,
        UserError,
    ]
    try:
        from host.control.balancer import BalancerError

        found.append(BalancerError)
    except ImportError:  # the balancer is optional for the rest of the API
        pass
    return tuple(found)


class Api:
    """The service as the routes see it (kept on `app.state.api`)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.users = Users(service.storage)
        self.errors = domain_errors()

    @property
    def storage(self) -> Storage:
        return self.service.storage

    @property
    def balancer(self) -> Any:
        balancer = getattr(self.service, "balancer", None)
        if balancer is None:
            raise ApiError(503, "no-balancer", "this service runs no balancer")
        return balancer

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
        except self.errors as exc:
            err = to_api_error(exc)
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
