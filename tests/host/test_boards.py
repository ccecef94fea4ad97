"""Board state: birth, last will and inactivity timeout, with a bounded detection delay."""

from __future__ import annotations

import time

import pytest

from host.service.mqtt_link import Delivery
from host.service.runtime import Service
from shared import protocol as p
from tests.host.helpers import make_config, tele_bytes, wait_until
from tests.mqtt_client import TestClient

KEEPALIVE_S = 5  # TestClient's keep-alive: the broker fires the will after 1.5x this


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/host.db"


def _service(mosquitto, url: str, site: str, **kw) -> Service:
    svc = Service(make_config(mosquitto, url, site, **kw))
    svc.storage.add_unit(site, "b1")
    svc.start()
    assert svc.link.connected.wait(10)
    return svc


def test_birth_then_last_will_turns_the_board_offline_within_the_bounded_delay(
    mosquitto, sqlite_url, site
):
    svc = _service(mosquitto, sqlite_url, site, offline_timeout_s=600.0)
    board = TestClient(mosquitto.host, mosquitto.port, will=p.last_will(site, "b1"))
    try:
        birth = {
            "status": "online",
            "fw": "1.2.0",
            "boot_reason": "power_on",
            "targets_version": 3,
        }
        board.publish(p.topic(site, "b1", p.STATE), p.encode(p.STATE, birth), retain=True)
        wait_until(lambda: svc.boards.online(site, "b1"), what="online after birth")
        state = svc.boards.state[(site, "b1")]
        assert state["fw"] == "1.2.0" and state["targets_version"] == 3
        assert state["status_reason"] == "birth"
        board.drop_connection()
        t0 = time.monotonic()
        bound_s = 1.5 * KEEPALIVE_S + 2.0  # broker detection + one ingest pass, generous
        wait_until(lambda: not svc.boards.online(site, "b1"), bound_s + 1, "offline")
        assert time.monotonic() - t0 <= bound_s
        assert svc.boards.state[(site, "b1")]["status_reason"] == "last-will"
        assert [a["kind"] for a in svc.storage.alarms(open_only=True)] == ["offline"]
        persisted = svc.storage.boards()[(site, "b1")]
        assert persisted["status"] == "offline" and persisted["fw"] == "1.2.0"
    finally:
        svc.stop()


def test_silence_turns_a_board_offline_after_the_timeout_and_data_brings_it_back(
    mosquitto, sqlite_url, site
):
    timeout_s, tick_s = 1.0, 0.2
    svc = _service(mosquitto, sqlite_url, site, offline_timeout_s=timeout_s, tick_s=tick_s)
    board = TestClient(mosquitto.host, mosquitto.port)
    try:
        health = {"outbox_depth": 7, "dropped_total": 2, "heap_free_b": 50000}
        board.publish(p.topic(site, "b1", p.TELE), tele_bytes(1, int(time.time()), health=health))
        wait_until(lambda: svc.boards.online(site, "b1"), what="online from data")
        t0 = time.monotonic()
        state = svc.boards.state[(site, "b1")]
        assert state["outbox_depth"] == 7 and state["dropped_total"] == 2
        wait_until(lambda: not svc.boards.online(site, "b1"), 5, "offline by timeout")
        assert time.monotonic() - t0 <= timeout_s + tick_s + 0.5
        assert svc.boards.state[(site, "b1")]["status_reason"] == "timeout"
        wait_until(lambda: svc.storage.alarms(open_only=True), what="the offline alarm")
        board.publish(p.topic(site, "b1", p.TELE), tele_bytes(2, int(time.time())))
        wait_until(lambda: svc.boards.online(site, "b1"), what="online again")
        wait_until(lambda: not svc.storage.alarms(open_only=True), what="offline alarm clear")
        [alarm] = svc.storage.alarms()
        assert alarm["kind"] == "offline" and alarm["cleared_s"] >= alarm["raised_s"]
    finally:
        board.close()
        svc.stop()


def test_data_arriving_at_the_moment_of_the_timeout_wins(mosquitto, sqlite_url, site):
    """No race: the timeout is judged against what has been processed. A message that
    arrived (and is still queued) keeps the board online, and one arriving exactly at the
    timeout does too (the timeout is strictly "longer than")."""
    now = [1000.0]
    svc = Service(
        make_config(mosquitto, sqlite_url, site, offline_timeout_s=10.0), clock=lambda: now[0]
    )
    uid = svc.storage.add_unit(site, "b1")
    topic = p.topic(site, "b1", p.TELE)
    first = Delivery(1, 1, 0, topic, tele_bytes(1, 1000), False, 1000.0)
    svc.ingest.process([first])
    assert svc.boards.online(site, "b1")
    # Exactly at the timeout, with the message already processed: still online.
    at = Delivery(1, 2, 0, topic, tele_bytes(2, 1010), False, 1010.0)
    now[0] = 1010.0
    svc.ingest.process([at])
    svc._tick([at])
    assert svc.boards.online(site, "b1")
    # Long after, but a message that arrived in time still waits in the queue: the tick
    # judges "now" as the arrival of the last processed message, so no false offline.
    now[0] = 1030.0
    svc.queue.put(Delivery(1, 3, 0, topic, tele_bytes(3, 1019), False, 1019.0))
    svc._tick([at])
    assert svc.boards.online(site, "b1")
    late = svc.queue.get_nowait()
    svc.ingest.process([late])
    now[0] = 1029.0
    svc._tick([late])
    assert svc.boards.online(site, "b1")  # last seen 1019: 10 s, not longer
    now[0] = 1029.5
    svc._tick([])
    assert not svc.boards.online(site, "b1")  # 10.5 s of silence, nothing queued
    assert svc.storage.boards()[(site, "b1")]["status_reason"] == "timeout"
    assert uid
    svc.storage.close()
