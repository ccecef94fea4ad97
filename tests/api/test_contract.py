"""The API's contract as code: every route declares its response model (or is open, with a
reason), and host errors are answered by their type through one handler."""

from __future__ import annotations

from typing import get_args, get_origin

import pytest
from fastapi import Request
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel

from host.api import ApiError, create_app
from host.api.users import User, UserError
from host.assets.registry import RegistryError
from host.control.alarms import AlreadyAcknowledgedError, BadThresholdsError, UnknownAlarmError
from host.control.balancer import BalancerError
from host.errors import RefusedError
from host.reports.export import ExportError
from host.service.config import ConfigError
from host.service.mqtt_link import PublishError
from tests.api.conftest import ADMIN, STATION, audit_rows

# Routes whose answer has no fixed JSON shape, each with why.
OPEN = {
    ("GET", "/api/v1/metrics"): "Prometheus text exposition, not JSON",
    ("GET", "/api/v1/export"): "a CSV or Excel file, not JSON",
    ("GET", "/api/v1/export/rooms"): "a CSV or Excel file, not JSON",
}


def response_models(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models a response model declares (`Model`, `list[Model]`), or []."""
    if get_origin(annotation) is list:
        return response_models(get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def api_routes(client: TestClient) -> dict[tuple[str, str], APIRoute]:
    """Every route of the app by (method, path), included routers' routes too."""
    try:  # FastAPI 0.16x keeps included routers as such; this walks them
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI copies included routes into app.routes
        routes = list(client.app.routes)
    else:
        routes = [c.original_route for c in iter_route_contexts(client.app.routes)]
    return {
        (method, route.path): route
        for route in routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }


def test_every_route_declares_a_response_model_or_is_open_for_a_reason(client):
    routes = api_routes(client)
    assert len(routes) > 50
    assert set(OPEN) <= set(routes), "an open route that no longer exists"
    undeclared = sorted(
        key
        for key, route in routes.items()
        if key not in OPEN and not response_models(route.response_model)
    )
    assert undeclared == []
    assert [key for key in OPEN if response_models(routes[key].response_model)] == []


def test_response_models_drop_no_field_silently(client):
    """An unknown field in an answer is an error (500), not a field quietly left out."""
    for key, route in api_routes(client).items():
        for model in response_models(route.response_model):
            assert model.model_config.get("extra") == "forbid", (key, model.__name__)


def test_the_openapi_document_shows_the_models(client):
    doc = client.get("/openapi.json").json()
    strategy = doc["paths"]["/api/v1/stations/{station_id}/strategy"]["patch"]
    body = strategy["requestBody"]["content"]["application/json"]["schema"]
    assert body["additionalProperties"] is False
    assert {"period_s", "enabled", "offsets", "hysteresis_c"} <= set(body["properties"])
    alarms = doc["paths"]["/api/v1/alarms"]["get"]["responses"]["200"]["content"]
    assert alarms["application/json"]["schema"]["items"]["$ref"].endswith("/AlarmOut")
    assert "StrategySettingsOut" in doc["components"]["schemas"]


class NovelRefusal(RefusedError):
    """A refusal whose reason no table lists: invalid input."""


# (error raised in a route, status, "error", "detail")
CASES = [
    (UnknownAlarmError(7), 404, "unknown-alarm", "no alarm 7"),
    (AlreadyAcknowledgedError(7), 409, "already-acknowledged", "alarm 7 was already acknowledged"),
    # by type, never by the text: this message would have read as an unknown alarm
    (BadThresholdsError("no alarm limit may be negative"), 422, "bad-thresholds", None),
    (RegistryError("in-use", "station 's' has buildings"), 409, "in-use", None),
    (RegistryError("missing", "no station 's'"), 404, "missing", None),
    (UserError("last-admin", "'admin' is the last enabled admin"), 409, "last-admin", None),
    (BalancerError("unknown-station", "no station 'x'"), 404, "unknown-station", None),
    (ExportError("too-large", "2000000 rows"), 413, "too-large", None),
    (ExportError("bad-range", "from after to"), 400, "bad-range", None),
    (NovelRefusal("novel", "something else"), 422, "novel", "something else"),
    (ApiError(418, "teapot", "short and stout"), 418, "teapot", "short and stout"),
    # a host error that is no refusal is a failure: its type only, never its message
    (ConfigError("secret path /etc/x"), 500, "internal", "ConfigError"),
    (PublishError("publish to t: no PUBACK"), 500, "internal", "PublishError"),
]


def _detail(case: tuple) -> object:
    exc, _status, _reason, detail = case
    return exc.detail if detail is None else detail


@pytest.fixture(scope="module")
def raising(service) -> TestClient:
    """An app of the service with two test routes: one raising CASES[i], one running it
    through `Api.write` (audited)."""
    app = create_app(service)

    def fail(i: int):
        raise CASES[i][0]

    @app.get("/test/raise/{i}")
    def raise_case(i: int) -> None:
        fail(i)

    @app.post("/test/write/{i}")
    def write_case(i: int, request: Request) -> None:
        tester = User("tester", "admin", 0.0, False)
        request.app.state.api.write(tester, "test_write", f"case{i}", None, lambda: fail(i))

    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize("i", range(len(CASES)), ids=[type(c[0]).__name__ for c in CASES])
def test_an_error_raised_in_a_route_answers_its_mapped_status(raising, i):
    _exc, status, reason, _ = CASES[i]
    r = raising.get(f"/test/raise/{i}")
    assert r.status_code == status
    assert r.json() == {"error": reason, "detail": _detail(CASES[i])}


@pytest.mark.parametrize("i", range(len(CASES)), ids=[type(c[0]).__name__ for c in CASES])
def test_a_write_audits_a_refusal_as_refused_and_a_failure_as_failed(raising, service, i):
    exc, status, reason, _ = CASES[i]
    r = raising.post(f"/test/write/{i}")
    assert (r.status_code, r.json()["error"]) == (status, reason)
    result = audit_rows(service, "test_write")[-1]
    assert result[:3] == ("tester", "test_write", f"case{i}")
    if status >= 500:
        assert result[3] == f"failed: {type(exc).__name__}"
    else:
        assert result[3] == f"refused: {reason}: {_detail(CASES[i])}"


def test_the_strategy_body_model_refuses_with_the_balancers_reasons(client, service):
    url = f"/api/v1/stations/{STATION}/strategy"
    for body, reason, detail in (
        ({"colour": 1}, "unknown-setting", "'colour'; one of ["),
        ({"enabled": 1}, "bad-value", "enabled must be true or false"),
        ({"offsets": {"u1/entrance": 25}}, "bad-value", "offsets.u1/entrance = 25.0 outside"),
        ({"offsets": [1]}, "bad-value", "offsets must be an object of name -> degC"),
        ({"max_step_c": "2"}, "bad-value", "max_step_c must be a finite number, not '2'"),
        ({}, "bad-value", "give at least one setting to change"),
    ):
        r = client.patch(url, json=body, auth=ADMIN)
        assert (r.status_code, r.json()["error"]) == (422, reason), body
        assert r.json()["detail"].startswith(detail), r.json()
        refusal = f"refused: {reason}: {r.json()['detail']}"
        assert audit_rows(service, "set_strategy")[-1] == (
            "admin",
            "set_strategy",
            STATION,
            refusal,
        )
