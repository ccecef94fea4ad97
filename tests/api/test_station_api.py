"""Station control routes: settings read by all and changed by admins (refusals answered with
the reason and audited), "decide now" by operators, the stored decisions; the station's
record in the units' latest values."""

from __future__ import annotations

import time

from shared import protocol as p
from tests.api.conftest import ADMIN, OPERATOR, STATION, VIEWER, audit_rows
from tests.host.helpers import wait_until

GATEWAY = "st-gw"


def test_station_control_over_the_api(client, service, board, site):
    r = client.post(f"/api/v1/stations/{STATION}/units", json={"unit": GATEWAY}, auth=ADMIN)
    assert r.status_code == 201 and r.json() == {
        "station_id": STATION,
        "site": site,
        "unit": GATEWAY,
    }
    r = client.post(f"/api/v1/stations/{STATION}/units", json={"unit": "u1"}, auth=ADMIN)
    assert r.status_code == 409  # u1 serves an entrance
    url = f"/api/v1/stations/{STATION}/control"
    settings = client.get(url, auth=VIEWER).json()
    assert settings["unit"] is None and settings["pump"] == settings["weather"] == "off"
    assert settings["speed_max"] == 1.0 and len(settings["curve"]) >= 2
    assert client.patch(url, json={"pump": "on"}, auth=OPERATOR).status_code == 403
    for body, status, reason in (
        ({"colour": 1}, 422, "unknown-setting"),
        ({"weather": "sometimes"}, 422, "bad-value"),
        ({"curve": [[-10, 50], [10, 60]]}, 422, "bad-value"),
        ({"unit": "u1"}, 422, "bad-value"),  # an entrance board runs no station
    ):
        r = client.patch(url, json=body, auth=ADMIN)
        assert (r.status_code, r.json()["error"]) == (status, reason), (body, r.text)
    assert client.get(url, auth=VIEWER).json() == settings
    r = client.patch(url, json={"unit": GATEWAY, "weather": "on"}, auth=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["unit"] == GATEWAY and r.json()["weather"] == "on"
    refused = [a for a in audit_rows(service, "set_station_control") if a[3] != "done"]
    assert len(refused) == 4
    # No record from the station yet: the decision says so and nothing is sent.
    r = client.post(f"{url}/run", auth=OPERATOR)
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "no-station-record"
    record = {"mode": "local", "t_supply_c": 57.0, "t_outdoor_c": 2.0, "pump_speed_pct": 90.0}
    msg = {"ts_s": int(time.time()) - 2, "seq": 1, "valves": [], "station": record}
    board.publish(p.topic(site, GATEWAY, p.TELE), p.encode(p.TELE, msg))
    wait_until(lambda: service.ingest.latest.get((site, GATEWAY)), what="the station's record")
    r = client.post(f"{url}/run", auth=OPERATOR)
    assert r.json()["outcome"] == "published" and r.json()["supply_reason"] == "curve"
    assert r.json()["pump_speed_pct"] is None  # the pump strategy is off
    assert client.post(f"{url}/run", auth=VIEWER).status_code == 403
    decisions = client.get(f"{url}/decisions?limit=5", auth=VIEWER).json()
    assert [d["outcome"] for d in decisions] == ["published", "no-station-record"]
    latest = client.get(f"/api/v1/units/{site}/{GATEWAY}/latest", auth=VIEWER).json()
    assert latest["points"]["station"]["pump_speed_pct"] == 90.0
    desired = client.get(f"/api/v1/units/{site}/{GATEWAY}/desired", auth=VIEWER).json()
    assert desired["station"]["status"] == "pending" and desired["station"]["version"] == 1
    assert desired["station"]["payload"]["t_supply_c"] == r.json()["t_supply_c"]
    # An operator's command by hand goes through the same contract.
    hand = {"pump_speed_pct": 70.0, "dp_setpoint_kpa": 80.0}
    r = client.post(f"/api/v1/units/{site}/{GATEWAY}/desired/station", json=hand, auth=OPERATOR)
    assert (r.status_code, r.json()["error"]) == (409, "inconsistent")
    r = client.post(
        f"/api/v1/units/{site}/{GATEWAY}/desired/station",
        json={"pump_speed_pct": 70.0},
        auth=OPERATOR,
    )
    assert r.status_code == 200 and r.json()["version"] == 2
    r = client.patch(url, json={"weather": "off"}, auth=ADMIN)
    assert r.status_code == 200
    r = client.post(f"{url}/run", auth=OPERATOR)
    assert (r.status_code, r.json()["error"]) == (409, "off")
    assert client.get("/api/v1/stations/nowhere/control", auth=VIEWER).status_code == 404
