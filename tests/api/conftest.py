"""Fixtures for the API tests: a started Service on SQLite against the session's real
Mosquitto, a small registry, three users (admin from the bootstrap file, an operator, a
viewer), FastAPI's in-process TestClient, and a fake board (a paho client) that publishes
telemetry through the broker.

scrypt's cost is lowered for these tests (n = 2**8 instead of 2**14): the hash records its
parameters, so verification follows whatever it was made with; test_auth checks the
production parameters once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

import host.api.users
from host.api import create_app
from host.service.config import ApiConfig
from host.service.runtime import Service
from shared import protocol as p
from tests.host.helpers import TS0, make_config, new_site, tele_bytes, wait_until
from tests.mqtt_client import TestClient as MqttClient

ADMIN = ("admin", "admin-password-1")
OPERATOR = ("olga", "operator-password-1")
VIEWER = ("victor", "viewer-password-1")
STATION = "st1"


@pytest.fixture(scope="session", autouse=True)
def cheap_scrypt() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(host.api.users, "SCRYPT_N", 2**8)
        yield


@pytest.fixture(scope="module")
def site() -> str:
    return new_site()


@pytest.fixture(scope="module")
def service(mosquitto, tmp_path_factory: pytest.TempPathFactory, site: str) -> Iterator[Service]:
    """One per test module (stopping a service takes a second): started, with station st1 >
    building bl1 > entrances e1 (unit u1: households hh1 at point h0, hh2 at h1) and e2
    (unit u2). Tests of a module share it, so each creates objects of its own names."""
    tmp_path = tmp_path_factory.mktemp("api")
    secret = tmp_path / "admin-password"
    secret.write_text(ADMIN[1] + "\n", encoding="utf-8")
    cfg = make_config(mosquitto, f"sqlite:///{tmp_path}/evenheat.db", site)
    cfg = replace(cfg, api=ApiConfig(admin_user=ADMIN[0], admin_password_file=str(secret)))
    svc = Service(cfg)
    reg = svc.registry
    reg.add_station(STATION, site, "Station 1")
    reg.add_building("bl1", STATION, "Building 1", floors=6)
    reg.add_entrance("e1", "bl1", site, "u1")
    reg.add_entrance("e2", "bl1", site, "u2")
    reg.add_household("hh1", "e1", floor=6, household_type="top", point="h0")
    reg.add_household("hh2", "e1", floor=1, point="h1")
    svc.start()
    assert svc.link.connected.wait(10)
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def client(service: Service) -> Iterator[TestClient]:
    """The API in-process; the admin exists (bootstrap), plus an operator and a viewer."""
    app = create_app(service)
    users = app.state.api.users
    users.add(OPERATOR[0], "operator", OPERATOR[1], who="test")
    users.add(VIEWER[0], "viewer", VIEWER[1], who="test")
    with TestClient(app) as c:
        yield c


@pytest.fixture
def board(mosquitto) -> Iterator[MqttClient]:
    c = MqttClient(mosquitto.host, mosquitto.port)
    yield c
    c.close()


def publish_tele(
    service: Service,
    board: MqttClient,
    site: str,
    unit: str,
    seqs: range,
    step_s: int = 60,
    ts0: int = TS0,
    **kw,
) -> None:
    """Telemetry messages seq in `seqs` at ts0 + step_s * seq, waited for until stored."""
    topic = p.topic(site, unit, p.TELE)
    for seq in seqs:
        board.publish(topic, tele_bytes(seq, ts0 + step_s * seq, **kw))
    want = set(seqs)
    wait_until(
        lambda: want <= {s for s, _ in service.storage.message_seqs(site, unit)},
        what=f"telemetry {site}/{unit} stored",
    )


def audit_rows(service: Service, action: str | None = None) -> list[tuple]:
    """(who, action, target, result) of the audit, oldest first."""
    rows = service.storage.fetch_all("SELECT who, action, target, result FROM audit ORDER BY id")
    return [r for r in rows if action is None or r[1] == action]
