"""A room sensor the estimator cannot explain raises `room_sensor_suspect`, and the alarm
clears once the sensor is believed again, over a real Mosquitto.

Eight middle flats of one entrance with the same water; six carry a sensor, and one of those
reads a steady, plausible 27 degC (no rule of the plausibility checks catches it: in range,
not stuck, no swings) where its type-mates read 20. The boards are test clients publishing
protocol messages (simulated hardware).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from host.service.runtime import Service
from shared import protocol as p
from tests.host.helpers import add_room_entrance, make_config, wait_until
from tests.mqtt_client import TestClient

SENSED = {"h1": 20.0, "h2": 20.2, "h3": 19.9, "h4": 20.1, "h5": 20.0, "h6": 27.0}
FLATS = [f"h{i}" for i in range(1, 9)]


@pytest.fixture
def station(mosquitto, tmp_path, site) -> Iterator[Service]:
    svc = Service(make_config(mosquitto, f"sqlite:///{tmp_path}/suspect.db", site))
    flats = [(vid, "middle", f"r{vid[1:]}" if vid in SENSED else None) for vid in FLATS]
    add_room_entrance(svc.registry, site, flats)
    svc.start()
    assert svc.link.connected.wait(10)
    svc.balancer.rooms.every_s = 0.0  # estimate on every call, not hourly
    svc.balancer.rooms.fresh_s = 7200.0  # the first readings are 1.5 h old (see the test)
    yield svc
    svc.stop()


def _report(
    svc: Service, mosquitto, site: str, rooms: dict[str, float], first_seq: int, ages_s: tuple
) -> None:
    board = TestClient(mosquitto.host, mosquitto.port)
    try:
        now = int(time.time())
        for k, ago in enumerate(ages_s):
            valves = [{"id": "entrance", "t_return_c": 37.0, "opening_cmd_pct": 80.0}]
            valves += [{"id": v, "t_return_c": 37.0, "opening_cmd_pct": 60.0} for v in FLATS]
            # a real room drifts: a few hundredths per reading keep the stuck rule quiet
            readings = [
                {"sensor": f"r{v[1:]}", "t_room_c": round(t + 0.03 * (k % 2), 2)}
                for v, t in rooms.items()
            ]
            msg = {
                "v": 1,
                "ts_s": now - ago,
                "seq": first_seq + k,
                "valves": valves,
                "rooms": readings,
                "entrance": {"t_supply_c": 55.0, "t_return_c": 37.0, "t_outdoor_c": -5.0},
            }
            board.publish(p.topic(site, "b1", p.TELE), p.encode(p.TELE, msg))
        wait_until(
            lambda: svc.ingest.metrics.stored_messages[p.TELE] == first_seq + 4,
            what="the records stored",
        )
    finally:
        board.close()


def _suspects(svc: Service) -> list[dict]:
    return [a for a in svc.storage.alarms(open_only=True) if a["kind"] == "room_sensor_suspect"]


def test_a_sensor_its_type_mates_contradict_raises_an_alarm_that_clears(station, mosquitto, site):
    _report(station, mosquitto, site, SENSED, 1, (12600, 10800, 9000, 7200, 5400))
    rooms = station.balancer.rooms.run("st1")
    assert rooms.estimates is not None
    methods = dict(
        zip((h["household_id"] for h in rooms.households), rooms.estimates.method, strict=True)
    )
    assert methods["hh6"] == "suspect-sensor"
    assert {methods[f"hh{i}"] for i in range(1, 6)} == {"measured"}
    station.wake()
    wait_until(lambda: _suspects(station), what="a room_sensor_suspect alarm")
    (alarm,) = _suspects(station)
    assert alarm["point"] == "r6" and alarm["unit"] == "b1" and alarm["severity"] == "warning"
    assert "27.0" in alarm["message"]
    # the plausibility rules raised nothing: only the estimator saw it
    assert {a["kind"] for a in station.storage.alarms(open_only=True)} == {"room_sensor_suspect"}
    # the sensor moved to where it belongs (its jump is a swing, and then it reads plausibly
    # for over half an hour): believed, the alarm clears
    _report(station, mosquitto, site, {**SENSED, "h6": 20.05}, 6, (3600, 2700, 1800, 900, 10))
    rooms = station.balancer.rooms.run("st1")
    assert rooms.estimates is not None and rooms.estimates.method[5] == "measured"
    station.wake()
    wait_until(lambda: not _suspects(station), what="the alarm cleared")
