"""Fixtures for the host tests: a real PostgreSQL cluster, storage on both backends.

PostgreSQL comes from Debian packages (`make test` installs them). initdb refuses to run as
root, so the cluster is created and run by the `postgres` user in a temporary directory, on a
free loopback port. If it cannot start, the run fails: the storage tests never skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from host.service.runtime import Service
from host.storage import Storage, open_storage
from tests.host.helpers import make_config, new_site
from tests.postgres import PostgresCluster


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/evenheat.db"
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture
def storage(db_url: str) -> Iterator[Storage]:
    """Fresh storage of each backend (the same test runs against both)."""
    store = open_storage(db_url)
    yield store
    store.close()


@pytest.fixture
def site() -> str:
    """A site of the test's own."""
    return new_site()


@pytest.fixture
def service(mosquitto, db_url: str, site: str) -> Iterator[Service]:
    """A started service on each backend, with unit b1 registered, subscribed and ready."""
    svc = Service(make_config(mosquitto, db_url, site))
    svc.storage.add_unit(site, "b1")
    svc.start()
    assert svc.link.connected.wait(10)
    yield svc
    svc.stop()
