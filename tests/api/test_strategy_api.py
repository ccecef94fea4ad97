"""Balancing routes: settings, "balance this station now", decisions, valve overrides."""

from __future__ import annotations

import time

from shared import protocol as p
from tests.api.conftest import ADMIN, OPERATOR, STATION, VIEWER, audit_rows
from tests.host.helpers import wait_until


def _report(service, board, site, returns: dict[str, float]) -> None:
    now = int(time.time()) - 5
    for unit, t_c in returns.items():
        msg = {
            "ts_s": now,
            "seq": int(time.monotonic() * 1000) % 2**31,
            "valves": [{"id": "entrance", "t_return_c": t_c, "opening_cmd_pct": 60.0}],
            "entrance": {"flow_m3h": 3.0},
        }
        board.publish(p.topic(site, unit, p.TELE), p.encode(p.TELE, msg))
    wait_until(
        lambda: all(service.ingest.latest.get((site, u), {}).get("ts_s") == now for u in returns),
        what="fresh telemetry",
    )


def test_settings_are_read_by_all_and_changed_by_admins(client, service):
    url = f"/api/v1/stations/{STATION}/strategy"
    settings = client.get(url, auth=VIEWER).json()
    assert {"period_s", "enabled", "offsets", "hysteresis_c"} <= set(settings)
    r = client.patch(url, json={"period_s": 900, "offsets": {"u1/entrance": -0.5}}, auth=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["period_s"] == 900 and r.json()["offsets"] == {"u1/entrance": -0.5}
    assert client.get(url, auth=VIEWER).json()["period_s"] == 900
    assert audit_rows(service, "set_strategy")[-1] == ("admin", "set_strategy", STATION, "done")
    for body, reason in (
        ({"colour": 1}, "unknown-setting"),
        ({"period_s": 5}, "bad-value"),
        ({"enabled": "yes"}, "bad-value"),
        ({}, "bad-value"),
    ):
        r = client.patch(url, json=body, auth=ADMIN)
        assert (r.status_code, r.json()["error"]) == (422, reason), body
        assert audit_rows(service, "set_strategy")[-1][3].startswith(f"refused: {reason}")
    assert client.patch(url, json={"period_s": 600}, auth=OPERATOR).status_code == 403
    assert audit_rows(service, "set_strategy")[-1][:1] == ("olga",)
    r = client.patch("/api/v1/stations/nope/strategy", json={"period_s": 600}, auth=ADMIN)
    assert (r.status_code, r.json()["error"]) == (404, "unknown-station")
    r = client.get("/api/v1/stations/nope/strategy", auth=VIEWER)
    assert (r.status_code, r.json()["error"]) == (404, "unknown-station")
    assert client.patch(url, json=[1], auth=ADMIN).status_code == 422


def test_balance_now_publishes_and_records_its_decisions(client, service, board, site):
    _report(service, board, site, {"u1": 36.0, "u2": 44.0})
    url = f"/api/v1/stations/{STATION}/balance"
    assert client.post(url, auth=VIEWER).status_code == 403
    r = client.post(url, auth=OPERATOR)
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["station_id"] == STATION and run["trigger"] == "manual"
    by_unit = {d["unit"]: d for d in run["decisions"] if d["valve"] == "entrance"}
    assert by_unit["u1"]["group_mean_c"] == by_unit["u2"]["group_mean_c"]
    assert set(run["published"]) == {"u1", "u2"}
    assert audit_rows(service, "balance_station")[-1] == (
        "olga",
        "balance_station",
        STATION,
        "done",
    )
    decisions = client.get(f"/api/v1/stations/{STATION}/decisions", auth=VIEWER).json()
    assert {d["run_id"] for d in decisions} == {run["run_id"]}
    assert all(isinstance(d["inputs"], dict) for d in decisions)
    later = client.get(
        f"/api/v1/stations/{STATION}/decisions",
        params={"since_s": run["ts_s"] + 1, "limit": 5},
        auth=VIEWER,
    )
    assert later.json() == []
    summary = client.get(f"/api/v1/stations/{STATION}/summary", auth=VIEWER).json()
    assert summary["reporting"] == 2 and summary["t_return_spread_k"] == 4.0
    assert summary["last_run"]["run_id"] == run["run_id"]
    desired = client.get(f"/api/v1/units/{site}/u1/desired", auth=VIEWER).json()
    assert desired["targets"]["version"] == run["published"]["u1"]
    r = client.post("/api/v1/stations/nope/balance", auth=OPERATOR)
    assert (r.status_code, r.json()["error"]) == (404, "unknown-station")
    assert audit_rows(service, "balance_station")[-1][3].startswith("refused: unknown-station")
    assert client.get("/api/v1/stations/nope/decisions", auth=VIEWER).status_code == 404


def test_override_and_release_a_valve(client, service, board, site):
    _report(service, board, site, {"u1": 40.0})
    url = f"/api/v1/units/{site}/u1/valves/entrance/override"
    board.subscribe(p.topic(site, "u1", p.TARGETS))
    r = client.put(url, json={"opening_pct": 35.0}, auth=OPERATOR)
    assert r.status_code == 200, r.text
    version = r.json()["version"]
    msg = next(
        m
        for m in iter(lambda: p.decode(p.TARGETS, board.receive().payload), None)
        if m["version"] == version
    )
    assert msg["targets"]["entrance"]["manual_opening_pct"] == 35.0
    overrides = client.get("/api/v1/overrides", auth=VIEWER).json()
    assert [(o["unit"], o["valve"], o["opening_pct"], o["set_by"]) for o in overrides] == [
        ("u1", "entrance", 35.0, "olga")
    ]
    r = client.put(url, json={"target_c": 41.0}, auth=OPERATOR)
    assert r.json()["version"] == version + 1
    assert client.get("/api/v1/overrides", auth=VIEWER).json()[0]["target_c"] == 41.0
    assert audit_rows(service, "override")[-1] == ("olga", "override", f"{site}/u1", "done")
    for body in ({}, {"target_c": 41.0, "opening_pct": 10.0}, {"target_c": "41"}):
        r = client.put(url, json=body, auth=OPERATOR)
        assert r.status_code == 422, body
        assert audit_rows(service)[-1][3] == "refused: invalid input"
    r = client.put(url, json={"target_c": 5.0}, auth=OPERATOR)
    assert (r.status_code, r.json()["error"]) == (422, "bad-value")
    r = client.put(
        f"/api/v1/units/{site}/u1/valves/h9/override", json={"target_c": 40.0}, auth=OPERATOR
    )
    assert (r.status_code, r.json()["error"]) == (404, "unknown-valve")
    assert audit_rows(service, "override")[-1][3].startswith("refused: unknown-valve")
    r = client.put(
        f"/api/v1/units/{site}/ghost/valves/entrance/override",
        json={"target_c": 40.0},
        auth=OPERATOR,
    )
    assert r.status_code == 404
    assert client.put(url, json={"target_c": 40.0}, auth=VIEWER).status_code == 403

    r = client.delete(url, auth=OPERATOR)
    assert r.status_code == 200 and r.json()["version"] == version + 2
    assert client.get("/api/v1/overrides", auth=VIEWER).json() == []
    assert audit_rows(service, "release")[-1] == ("olga", "release", f"{site}/u1", "done")
    r = client.delete(url, auth=OPERATOR)
    assert (r.status_code, r.json()["error"]) == (404, "not-overridden")
    assert audit_rows(service, "release")[-1][3].startswith("refused: not-overridden")
    assert client.delete(url, auth=VIEWER).status_code == 403
    assert client.delete(url).status_code == 401
