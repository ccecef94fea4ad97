"""Room temperature routes: current value (measured, estimated, none), history as two
series, a station's overview with counts, exports; refusals. Readings arrive through the real
Mosquitto from a board of the fixture's registry."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from shared import protocol as p
from tests.api.conftest import STATION, VIEWER
from tests.host.helpers import TS0, tele, wait_until


@pytest.fixture(scope="module", autouse=True)
def rooms(service, client, mosquitto, site):
    """hh1 (u1) has sensor rs1: a plausible reading now; hh2 has an estimate only (and a
    sensor rs2 whose newest reading is flagged); e2 gets household hh5 with nothing."""
    from tests.mqtt_client import TestClient as MqttClient

    reg = service.registry
    reg.add_device("d-rs1", site, "u1", "rs1", "room_sensor", household_id="hh1")
    reg.add_device("d-rs2", site, "u1", "rs2", "room_sensor", household_id="hh2")
    reg.add_household("hh5", "e2", floor=3)
    board = MqttClient(mosquitto.host, mosquitto.port)
    rooms = [
        {"sensor": "rs1", "t_room_c": 21.5, "ts_s": TS0 - 10, "battery_pct": 77},
        {"sensor": "rs2", "t_room_c": 2.0},
    ]
    board.publish(p.topic(site, "u1", p.TELE), p.encode(p.TELE, tele(900, TS0, rooms=rooms)))
    wait_until(lambda: service.storage.latest_room_reading("hh2"), what="room readings stored")
    board.close()
    service.storage.save_room_estimates(
        STATION,
        TS0 - 600,
        [
            {"household_id": "hh1", "t_room_c": 21.0, "se_c": 0.4, "measured": False,
             "method": "heat-balance"},
            {"household_id": "hh2", "t_room_c": 17.2, "se_c": 1.4, "measured": False,
             "method": "heat-balance"},
        ],
    )  # fmt: skip


def test_a_fresh_plausible_reading_is_the_measured_value(client):
    r = client.get("/api/v1/households/hh1/room", auth=VIEWER)
    assert r.status_code == 200
    assert r.json() == {
        "household_id": "hh1",
        "measured": True,
        "t_room_c": 21.5,
        "se_c": 0.3,
        "ts_s": TS0 - 10,
        "method": "sensor",
        "sensor": "rs1",
        "flag": None,
    }


def test_without_a_plausible_reading_the_estimate_answers(client):
    r = client.get("/api/v1/households/hh2/room", auth=VIEWER)
    assert r.json() == {
        "household_id": "hh2",
        "measured": False,
        "t_room_c": 17.2,
        "se_c": 1.4,
        "ts_s": TS0 - 600,
        "method": "heat-balance",
        "sensor": "rs2",
        "flag": "range",  # why the sensor was not used
    }


def test_refusals(client):
    r = client.get("/api/v1/households/nobody/room", auth=VIEWER)
    assert (r.status_code, r.json()["error"]) == (404, "unknown-household")
    r = client.get("/api/v1/households/hh5/room", auth=VIEWER)
    assert (r.status_code, r.json()["error"]) == (404, "no-room-data")
    q = {"start_s": TS0, "end_s": TS0}
    r = client.get("/api/v1/households/hh1/room/history", params=q, auth=VIEWER)
    assert (r.status_code, r.json()["error"]) == (422, "bad-range")
    q = {"start_s": "yesterday", "end_s": TS0}
    r = client.get("/api/v1/households/hh1/room/history", params=q, auth=VIEWER)
    assert (r.status_code, r.json()["error"]) == (422, "invalid")
    q = {"start_s": 0, "end_s": TS0}
    r = client.get("/api/v1/households/nobody/room/history", params=q, auth=VIEWER)
    assert (r.status_code, r.json()["error"]) == (404, "unknown-household")
    r = client.get("/api/v1/stations/nowhere/rooms", auth=VIEWER)
    assert (r.status_code, r.json()["error"]) == (404, "unknown-station")
    assert client.get("/api/v1/households/hh1/room").status_code == 401


def test_history_has_readings_and_estimates_each_point_marked(client):
    q = {"start_s": TS0 - 3600, "end_s": TS0 + 60}
    body = client.get("/api/v1/households/hh2/room/history", params=q, auth=VIEWER).json()
    assert body == {
        "household_id": "hh2",
        "start_s": TS0 - 3600,
        "end_s": TS0 + 60,
        "max_points": None,
        "readings": [{"ts_s": TS0, "t_room_c": 2.0, "flag": "range", "measured": True}],
        "estimates": [{"ts_s": TS0 - 600, "t_room_c": 17.2, "se_c": 1.4, "measured": False}],
    }
    q["max_points"] = 10
    body = client.get("/api/v1/households/hh1/room/history", params=q, auth=VIEWER).json()
    assert body["readings"] == [
        {"ts_s": TS0 - 10, "t_room_c": 21.5, "flag": None, "measured": True}
    ]


def test_a_station_lists_every_household_with_counts(client):
    body = client.get(f"/api/v1/stations/{STATION}/rooms", auth=VIEWER).json()
    assert body["counts"] == {
        "households": 3,
        "sensed": 1,
        "estimated": 1,
        "no_data": 1,
        "poor": 1,
        "below_18": 1,
    }
    rows = {h["household_id"]: h for h in body["households"]}
    assert [h["household_id"] for h in body["households"]] == ["hh2", "hh1", "hh5"]
    assert rows["hh1"]["current"]["measured"] is True
    assert rows["hh1"]["top_floor"] == 6 and rows["hh1"]["has_room_sensor"] is True
    assert rows["hh2"]["current"]["method"] == "heat-balance"
    assert rows["hh5"]["current"] is None and rows["hh5"]["entrance_id"] == "e2"


def test_exports_carry_room_readings_and_estimates(client, site):
    q = {"site": site, "from": TS0 - 3600, "to": TS0 + 60, "tz": "UTC"}
    r = client.get("/api/v1/export/rooms", params=q, auth=VIEWER)
    assert r.status_code == 200 and "evenheat-rooms-" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][2:] == [
        "household_id",
        "unit",
        "series",
        "sensor",
        "t_room_c [°C]",
        "se_c [K]",
        "flag",
        "measured",
        "method",
    ]
    series = [(row[2], row[4], row[6]) for row in rows[1:]]
    assert series == [
        ("hh1", "estimate", "21.0"),
        ("hh2", "estimate", "17.2"),
        ("hh1", "reading", "21.5"),
        ("hh2", "reading", "2.0"),
    ]
    q |= {"format": "xlsx", "units": "u1", "points": "entrance"}
    r = client.get("/api/v1/export", params=q, auth=VIEWER)
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    assert "(rooms)" in book.sheetnames
    sheet = book["(rooms)"]
    assert sheet.max_row == 5  # header and four rows
    r = client.get("/api/v1/export/rooms", params=q | {"from": TS0, "to": TS0}, auth=VIEWER)
    assert (r.status_code, r.json()["error"]) == (400, "bad-range")
