"""The FastAPI application: routers, the JSON error format, and the first admin.

Every error is `{"error": reason, "detail": ...}`: 400 bad request (an inverted range), 401 no
or bad credentials (with `WWW-Authenticate: Basic`), 403 too low a role, 404 unknown object,
409 conflict (duplicate, already acknowledged), 413 too large, 422 invalid input, 503 no
balancer, 500 `internal` for a host error that is a failure rather than a refusal (its type
only; the traceback is logged). Invalid input lists `{"loc", "msg", "type"}` per problem and
never echoes the input (it may hold a password). Host errors are answered by type: one
handler for EvenheatError, statuses in host.api._core.ERROR_STATUS.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBasicCredentials
from starlette.exceptions import HTTPException as StarletteHTTPException

from host import __version__
from host.api import _admin, _alarms, _data, _registry, _rooms, _station, _strategy, _units
from host.api._core import READ_METHODS, Api, ApiError, authenticate, to_api_error
from host.errors import EvenheatError

if TYPE_CHECKING:
    from host.service.runtime import Service

log = logging.getLogger(__name__)

_STATUS_REASONS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "too-large",
    422: "invalid",
}

DESCRIPTION = """\
The evenheat host service over HTTP: registry, boards, telemetry, alarms, desired state,
balancing, room temperatures, exports, users and the audit trail.

**Authentication**: HTTP Basic on every request (serve it behind TLS). Roles: *viewer* reads,
*operator* also commands (acknowledge alarms, set desired state, balance now, override valves),
*admin* also manages users, the registry and settings, and reads the audit trail. Every write
is audited with the caller's name, refused ones included.

**Errors**: `{"error": reason, "detail": ...}` with the HTTP status.
"""


def error_response(err: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="evenheat"'} if err.status == 401 else None
    return JSONResponse(
        {"error": err.reason, "detail": err.detail}, status_code=err.status, headers=headers
    )


def create_app(service: Service) -> FastAPI:
    """The API of a (constructed, usually started) service. If no user exists and
    `api.admin_password_file` is set, the first admin is created from it now."""
    api = Api(service)
    if api.users.bootstrap(service.cfg.api.admin_user, service.cfg.api.admin_password_file):
        log.info("created the first API admin %r", service.cfg.api.admin_user)
    app = FastAPI(title="evenheat host API", version=__version__, description=DESCRIPTION)
    app.state.api = api
    for module in (_admin, _registry, _units, _alarms, _data, _rooms, _strategy, _station):
        app.include_router(module.router)

    app.add_exception_handler(EvenheatError, _on_error)
    app.add_exception_handler(RequestValidationError, _on_invalid)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    return app


def _on_error(request: Request, exc: Exception) -> JSONResponse:
    """Every EvenheatError: its status by type (host.api._core.ERROR_STATUS)."""
    assert isinstance(exc, EvenheatError)
    err = to_api_error(exc)
    if err.status >= 500 and err is not exc:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(err)


def _on_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    reason = _STATUS_REASONS.get(exc.status_code, "error")
    return JSONResponse(
        {"error": reason, "detail": exc.detail},
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def _on_invalid(request: Request, exc: Exception) -> JSONResponse:
    """422, audited when the request is a write. The body is checked before credentials
    when it is not even JSON: then the caller is authenticated (and authorised) here, so
    that nobody learns more than 401/403 without the rights."""
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    if request.method not in READ_METHODS:
        api: Api = request.app.state.api
        user = getattr(request.state, "user", None)
        try:
            if user is None:
                user = authenticate(request, _credentials(request))
            role = _required_role(request)
            if role and not user.may(role):
                api.refuse_write(request, user.name, f"refused: forbidden ({role} required)")
                raise ApiError(
                    403, "forbidden", f"needs the {role} role; {user.name} is {user.role}"
                )
        except ApiError as err:
            return error_response(err)
        api.refuse_write(request, user.name, "refused: invalid input", problems)
    return JSONResponse({"error": "invalid", "detail": problems}, status_code=422)


def _credentials(request: Request) -> HTTPBasicCredentials | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        name, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return HTTPBasicCredentials(username=name, password=password) if sep else None


def _required_role(request: Request) -> str | None:
    dependant: Any = getattr(request.scope.get("route"), "dependant", None)
    for dep in getattr(dependant, "dependencies", ()):
        name = getattr(dep.call, "__name__", "")
        if name.startswith("require_"):
            return str(name.removeprefix("require_"))
    return None
