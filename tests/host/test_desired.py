"""Desired state: versioned, retained, acknowledged, audited; it reaches a returning board."""

from __future__ import annotations

import json
import time

import pytest

from host.control.desired import CommandError
from shared import protocol as p
from tests.host.helpers import wait_until
from tests.mqtt_client import TestClient


def _ack(board: TestClient, site: str, of: str, version: int, result: str, reason: str = ""):
    msg = {"ts_s": int(time.time()), "of": of, "version": version, "result": result}
    if reason:
        msg["reason"] = reason
    board.publish(p.topic(site, "b1", p.ACK), p.encode(p.ACK, msg))


def test_a_config_change_made_while_the_board_is_offline_reaches_it_when_it_returns(
    service, mosquitto, site
):
    # The board is away; the operator changes the config twice.
    v1 = service.desired.set(site, "b1", "config", {"control_period_s": 900}, who="alice")
    v2 = service.desired.set(
        site, "b1", "config", {"control_period_s": 600, "precision_c": 0.3}, who="bob"
    )
    assert (v1, v2) == (1, 2)
    assert service.desired.status(site, "b1")["config"] == {
        "version": 2,
        "status": "pending",
        "reason": None,
    }
    # The board returns and subscribes to its desired topics: it gets the newest, retained.
    board = TestClient(mosquitto.host, mosquitto.port)
    try:
        for topic in p.board_subscriptions(site, "b1"):
            board.subscribe(topic)
        got = board.receive(5)
        assert got.retain and got.topic == p.topic(site, "b1", p.CONFIG)
        msg = p.decode(p.CONFIG, got.payload)
        assert msg["version"] == 2 and msg["control_period_s"] == 600
        _ack(board, site, "config", 2, "applied")
        wait_until(lambda: service.desired.status(site, "b1")["config"]["status"] == "applied")
        rows = service.storage.desired_rows(site, "b1")
        assert [(of, v, s) for of, v, s, _ in rows] == [
            ("config", 1, "superseded"),
            ("config", 2, "applied"),
        ]
    finally:
        board.close()
    audit = service.storage.audit_log()
    actions = [(who, action, result) for _, who, action, _, _, result in reversed(audit)]
    assert ("alice", "set_config", "pending") in actions
    assert ("bob", "publish_config", "published") in actions
    assert (f"board:{site}/b1", "ack_config", "applied") in actions


def test_refused_acks_keep_their_reason_and_bad_commands_change_nothing(service, mosquitto, site):
    board = TestClient(mosquitto.host, mosquitto.port)
    try:
        targets = {"targets": {"entrance": {"t_return_c": 40.0}}}
        v = service.desired.set(site, "b1", "targets", targets, who="ops")
        _ack(board, site, "targets", v, "refused", "valve h9 unknown")
        wait_until(lambda: service.desired.status(site, "b1")["targets"]["status"] == "refused")
        assert service.desired.status(site, "b1")["targets"]["reason"] == "valve h9 unknown"
        # An ack for a version never issued is counted as refused.
        _ack(board, site, "targets", 99, "applied")
        wait_until(lambda: service.storage.refusals().get((site, "b1", "unknown-version")) == 1)
    finally:
        board.close()
    with pytest.raises(CommandError) as err:
        service.desired.set(
            site, "b1", "targets", {"targets": {"entrance": {"t_return_c": 5}}}, who="ops"
        )
    assert err.value.reason == "range"
    with pytest.raises(CommandError) as err:
        service.desired.set(site, "ghost", "config", {}, who="ops")
    assert err.value.reason == "unknown-unit"
    assert service.desired.status(site, "b1")["targets"]["version"] == 1
    audit = service.storage.audit_log()
    refused = [r for _, _, a, _, _, r in audit if a.startswith("set_") and r.startswith("refused")]
    assert len(refused) == 2 and "outside 15..95" in refused[0] + refused[1]
    payload = service.desired.payload(site, "b1", "targets")
    assert payload is not None and json.dumps(payload["targets"]) == (
        '{"entrance": {"t_return_c": 40.0}}'
    )
