"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest

from tests.brokers import Mosquitto, start_mosquitto


@pytest.fixture(scope="session")
def mosquitto() -> Mosquitto:
    """One real Mosquitto for the session, on a free loopback port."""
    broker = start_mosquitto()
    yield broker
    broker.stop()


@pytest.fixture
def fresh_mosquitto() -> Mosquitto:
    """A Mosquitto of the test's own, for tests that stop or restart the broker."""
    broker = start_mosquitto(persistence=True)
    yield broker
    broker.stop()
