"""Unit routes: units, boards, latest values, events, desired state and command history,
alarm thresholds."""

from __future__ import annotations

import json

from shared import protocol as p
from tests.api.conftest import ADMIN, OPERATOR, VIEWER, audit_rows, publish_tele
from tests.host.helpers import TS0, wait_until


def test_units_boards_and_latest_values(client, service, board, site):
    publish_tele(service, board, site, "u1", range(1, 4), t_c=41.0)
    units = client.get("/api/v1/units", params={"site": site}, auth=VIEWER).json()
    assert [(u["unit"], u["entrance_id"]) for u in units] == [("u1", "e1"), ("u2", "e2")]
    assert units[0]["status"] == "online" and units[1]["status"] == "unknown"
    boards = client.get("/api/v1/boards", auth=VIEWER).json()
    assert [(b["site"], b["unit"], b["status"]) for b in boards] == [(site, "u1", "online")]
    b = client.get(f"/api/v1/units/{site}/u1/board", auth=VIEWER).json()
    assert b["status"] == "online" and b["last_seq"] == 3
    unit = client.get(f"/api/v1/units/{site}/u1", auth=VIEWER).json()
    assert unit["entrance_id"] == "e1" and unit["board"]["status"] == "online"
    latest = client.get(f"/api/v1/units/{site}/u1/latest", auth=VIEWER).json()["points"]
    assert sorted(latest) == ["entrance", "h0", "h1"]
    assert latest["entrance"]["seq"] == 3 and latest["entrance"]["ts_s"] == TS0 + 180
    assert latest["entrance"]["t_return_c"] == 41.0 and latest["entrance"]["flow_m3h"] == 3.2
    assert latest["h1"]["t_return_c"] == 40.0 and latest["h1"]["flow_m3h"] is None
    empty = client.get(f"/api/v1/units/{site}/u2/latest", auth=VIEWER).json()
    assert empty == {"site": site, "unit": "u2", "points": {}}
    for path in ("", "/board", "/latest", "/events", "/desired", "/commands"):
        r = client.get(f"/api/v1/units/{site}/ghost{path}", auth=VIEWER)
        assert (r.status_code, r.json()["error"]) == (404, "unknown-unit"), path


def test_events_newest_last(client, service, board, site):
    topic = p.topic(site, "u2", p.EVENT)
    for seq, name in ((1, "boot"), (2, "sensor_fault")):
        msg = {
            "ts_s": TS0 + seq,
            "seq": seq,
            "event": name,
            "severity": "warning",
            "valve": "entrance",
        }
        board.publish(topic, p.encode(p.EVENT, msg))
    wait_until(lambda: len(service.storage.events(site, "u2")) == 2, what="2 events")
    events = client.get(f"/api/v1/units/{site}/u2/events", auth=VIEWER).json()
    assert [(e["seq"], e["event"]) for e in events] == [(1, "boot"), (2, "sensor_fault")]
    one = client.get(f"/api/v1/units/{site}/u2/events", params={"limit": 1}, auth=VIEWER)
    assert [e["seq"] for e in one.json()] == [2]


def test_operators_set_desired_state_which_reaches_the_board(client, service, board, site):
    board.subscribe(p.topic(site, "u1", p.TARGETS))
    body = {"targets": {"entrance": {"t_return_c": 40.5}}, "valid_for_s": 3600}
    r = client.post(f"/api/v1/units/{site}/u1/desired/targets", json=body, auth=OPERATOR)
    assert r.status_code == 200, r.text
    version = r.json()["version"]
    msg = board.receive()
    sent = json.loads(msg.payload)
    assert sent["targets"] == body["targets"] and sent["version"] == version
    desired = client.get(f"/api/v1/units/{site}/u1/desired", auth=VIEWER).json()
    assert desired["targets"]["version"] == version
    assert desired["targets"]["status"] == "pending"
    assert desired["targets"]["payload"]["targets"] == body["targets"]
    assert desired["config"] == {"payload": None}
    r = client.post(
        f"/api/v1/units/{site}/u1/desired/config", json={"control_period_s": 900}, auth=OPERATOR
    )
    assert r.json()["of"] == "config"
    # the board acknowledges: the status follows
    ack = {"ts_s": TS0, "of": "targets", "version": version, "result": "applied"}
    board.publish(p.topic(site, "u1", p.ACK), p.encode(p.ACK, ack))
    wait_until(lambda: service.desired.status(site, "u1")["targets"]["status"] == "applied")
    history = client.get(f"/api/v1/units/{site}/u1/commands", auth=VIEWER).json()
    issued = [(d["of"], d["issued_by"]) for d in history["desired"]]
    assert ("targets", "olga") in issued and ("config", "olga") in issued
    actions = [(a["who"], a["action"]) for a in history["audit"]]
    assert ("olga", "set_targets") in actions and (f"board:{site}/u1", "ack_targets") in actions


def test_desired_state_refusals(client, service, site):
    url = f"/api/v1/units/{site}/u1/desired/targets"
    bad = {"targets": {"entrance": {"t_return_c": 5.0}}}  # below 15 degC
    r = client.post(url, json=bad, auth=OPERATOR)
    assert (r.status_code, r.json()["error"]) == (422, "range")
    assert audit_rows(service, "set_targets")[-1][3].startswith("refused: range")
    r = client.post(f"/api/v1/units/{site}/ghost/desired/targets", json=bad, auth=OPERATOR)
    assert (r.status_code, r.json()["error"]) == (404, "unknown-unit")
    r = client.post(f"/api/v1/units/{site}/u1/desired/firmware", json={}, auth=OPERATOR)
    assert r.status_code == 422
    assert audit_rows(service)[-1] == (
        "olga",
        "set_desired",
        f"/api/v1/units/{site}/u1/desired/firmware",
        "refused: invalid input",
    )
    r = client.post(url, json=[1, 2], auth=OPERATOR)
    assert r.status_code == 422
    r = client.post(url, json={"targets": {"entrance": {"t_return_c": 40.0}}}, auth=VIEWER)
    assert r.status_code == 403
    assert audit_rows(service)[-1][:2] == ("victor", "set_desired")


def test_thresholds_are_read_by_all_and_set_by_admins(client, service, site):
    url = f"/api/v1/units/{site}/u2/thresholds/entrance"
    th = client.get(url, auth=VIEWER).json()
    assert (th["t_low_c"], th["t_high_c"]) == (25.0, 55.0)
    r = client.put(url, json={"t_low_c": 30.0, "min_duration_s": 60}, auth=ADMIN)
    assert r.status_code == 200 and r.json()["t_low_c"] == 30.0
    assert client.get(url, auth=VIEWER).json()["min_duration_s"] == 60
    assert audit_rows(service, "set_thresholds")[-1] == (
        "admin",
        "set_thresholds",
        f"{site}/u2/entrance",
        "applied",
    )
    r = client.put(url, json={"t_low_c": 70.0}, auth=ADMIN)  # above t_high
    assert (r.status_code, r.json()["error"]) == (422, "bad-thresholds")
    assert audit_rows(service, "set_thresholds")[-1][3].startswith("refused:")
    assert client.put(url, json={"t_lo_c": 1.0}, auth=ADMIN).status_code == 422
    r = client.put(
        f"/api/v1/units/{site}/ghost/thresholds/entrance", json={"t_low_c": 20.0}, auth=ADMIN
    )
    assert r.status_code == 404
    assert audit_rows(service, "set_thresholds")[-1][3].startswith("refused:")
    assert client.put(url, json={"t_low_c": 20.0}, auth=OPERATOR).status_code == 403
    assert client.get(f"/api/v1/units/{site}/ghost/thresholds/x", auth=VIEWER).status_code == 404


def test_status_and_metrics(client, site):
    status = client.get("/api/v1/status", auth=VIEWER).json()
    assert status["sites"] == [site] and status["database"] == "sqlite"
    assert status["broker_connected"] is True and status["schema_version"] >= 2
    assert status["registry"]["stations"] >= 1 and "received" in status["summary"]
    r = client.get("/api/v1/metrics", auth=VIEWER)
    assert r.headers["content-type"].startswith("text/plain")
    assert "evenheat_broker_connected 1" in r.text
    assert client.get("/api/v1/metrics").status_code == 401
