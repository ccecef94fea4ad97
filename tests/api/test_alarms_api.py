"""Alarm routes: list and filter, one alarm, acknowledge (operators), refusals."""

from __future__ import annotations

from shared import protocol as p
from tests.api.conftest import ADMIN, OPERATOR, VIEWER, audit_rows, publish_tele
from tests.host.helpers import TS0, wait_until


def _raise_alarms(service, board, site):
    publish_tele(service, board, site, "u1", range(1, 3), t_c=15.0)  # t_low everywhere
    msg = {"ts_s": TS0, "seq": 1, "event": "door_open", "severity": "warning"}
    board.publish(p.topic(site, "u1", p.EVENT), p.encode(p.EVENT, msg))
    wait_until(lambda: len(service.storage.alarms()) >= 4, what="4 alarms")


def test_alarms_list_filter_and_acknowledge(client, service, board, site):
    _raise_alarms(service, board, site)
    alarms = client.get("/api/v1/alarms", auth=VIEWER).json()
    kinds = sorted((a["point"], a["kind"]) for a in alarms)
    assert kinds == [
        ("-", "event:door_open"),
        ("entrance", "t_low"),
        ("h0", "t_low"),
        ("h1", "t_low"),
    ]
    assert [a["id"] for a in alarms] == sorted((a["id"] for a in alarms), reverse=True)
    low = client.get(
        "/api/v1/alarms", params={"kind": "t_low", "point": "entrance"}, auth=VIEWER
    ).json()
    assert len(low) == 1 and low[0]["raised_value"] == 15.0 and low[0]["severity"] == "warning"
    both = client.get(
        "/api/v1/alarms", params=[("kind", "t_low"), ("kind", "event:door_open")], auth=VIEWER
    ).json()
    assert len(both) == 4
    assert (
        len(client.get("/api/v1/alarms", params={"kind": "t_low,offline"}, auth=VIEWER).json())
        == 3
    )
    assert client.get("/api/v1/alarms", params={"open": "false"}, auth=VIEWER).json() == []
    assert len(client.get("/api/v1/alarms", params={"limit": 2}, auth=VIEWER).json()) == 2
    assert client.get("/api/v1/alarms", params={"unit": "u2"}, auth=VIEWER).json() == []
    assert client.get("/api/v1/alarms", params={"since_s": 2**40}, auth=VIEWER).json() == []
    one = client.get(f"/api/v1/alarms/{low[0]['id']}", auth=VIEWER).json()
    assert one == low[0]

    r = client.post(f"/api/v1/alarms/{low[0]['id']}/ack", auth=OPERATOR)
    assert r.status_code == 200 and r.json()["acked_by"] == "olga"
    assert r.json()["cleared_s"] is None  # acknowledging does not clear
    assert audit_rows(service, "acknowledge_alarm")[-1][:2] == ("olga", "acknowledge_alarm")
    acked = client.get("/api/v1/alarms", params={"acked": "true"}, auth=VIEWER).json()
    assert [a["id"] for a in acked] == [low[0]["id"]]
    event = next(a for a in alarms if a["kind"] == "event:door_open")
    r = client.post(f"/api/v1/alarms/{event['id']}/ack", auth=ADMIN)
    assert r.json()["cleared_s"] is not None  # board-event alarms clear with their ack
    closed = client.get("/api/v1/alarms", params={"open": "false"}, auth=VIEWER).json()
    assert [a["id"] for a in closed] == [event["id"]]
    assert len(client.get("/api/v1/alarms", params={"open": "true"}, auth=VIEWER).json()) == 3


def test_acknowledge_refusals(client, service, board, site):
    acked = client.get("/api/v1/alarms", params={"acked": "true"}, auth=VIEWER).json()
    if not acked:  # run alone (or on another worker): raise and acknowledge one first
        _raise_alarms(service, board, site)
        some = client.get("/api/v1/alarms", params={"kind": "t_low"}, auth=VIEWER).json()[0]
        assert client.post(f"/api/v1/alarms/{some['id']}/ack", auth=OPERATOR).status_code == 200
        acked = client.get("/api/v1/alarms", params={"acked": "true"}, auth=VIEWER).json()
    first = acked[0]
    r = client.post(f"/api/v1/alarms/{first['id']}/ack", auth=OPERATOR)
    assert (r.status_code, r.json()["error"]) == (409, "already-acknowledged")
    assert audit_rows(service)[-1] == (
        "olga",
        "acknowledge_alarm",
        str(first["id"]),
        f"refused: already-acknowledged: alarm {first['id']} was already acknowledged",
    )
    r = client.post("/api/v1/alarms/99999/ack", auth=OPERATOR)
    assert (r.status_code, r.json()["error"]) == (404, "unknown-alarm")
    assert audit_rows(service)[-1][3].startswith("refused: unknown-alarm")
    assert client.get("/api/v1/alarms/99999", auth=VIEWER).status_code == 404
    assert client.post("/api/v1/alarms/abc/ack", auth=OPERATOR).status_code == 422
    assert client.post(f"/api/v1/alarms/{first['id']}/ack", auth=VIEWER).status_code == 403
    assert audit_rows(service)[-1][3] == "refused: forbidden (operator required)"
    assert client.get("/api/v1/alarms").status_code == 401
