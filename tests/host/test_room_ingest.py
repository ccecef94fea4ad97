"""Room sensors as devices: linking in the registry and the network import, and the ingest of
`rooms` (stored under their household, judged, unlinked sensors refused, rooms-only records
kept out of the balancer's latest valve data). Ingest is called directly (both backends);
one test goes through the real Mosquitto."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from host.assets.network_import import import_network
from host.assets.registry import Registry, RegistryError
from host.service.mqtt_link import Delivery
from host.service.runtime import Service
from shared import protocol as p
from tests.host.helpers import TS0, make_config, new_site, tele, wait_until

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "sim" / "networks" / "tiny.json"


def _registry(reg: Registry, site: str) -> None:
    """st1 > bl1 > e1 (unit b1: households hh1, hh2 with room sensors rs1, rs2 on the
    board; hh3 whose sensor rs9 a gateway, the station unit gw, relays)."""
    reg.add_station("st1", site)
    reg.add_building("bl1", "st1", floors=6)
    reg.add_entrance("e1", "bl1", site, "b1")
    reg.add_household("hh1", "e1", floor=6, point="h0")
    reg.add_household("hh2", "e1", floor=1, point="h1")
    reg.add_household("hh3", "e1", floor=3)
    reg.add_device("d-rs1", site, "b1", "rs1", "room_sensor", household_id="hh1")
    reg.add_device("d-rs2", site, "b1", "rs2", "room_sensor", household_id="hh2")
    reg.add_station_unit("st1", "gw")
    reg.add_device("d-rs9", site, "gw", "rs9", "room_sensor", household_id="hh3")


@pytest.fixture
def station(mosquitto, db_url):
    """A service on each backend, not started: the tests call its ingest directly."""
    site = new_site()
    svc = Service(make_config(mosquitto, db_url, site))
    _registry(svc.registry, site)
    yield svc, site
    svc.storage.close()


def deliver(svc: Service, site: str, unit: str, *msgs: dict) -> None:
    topic = p.topic(site, unit, p.TELE)
    now = time.time()
    svc.ingest.process(
        [Delivery(1, i + 1, 1, topic, p.encode(p.TELE, m), False, now) for i, m in enumerate(msgs)]
    )


def rooms_record(seq: int, ts_s: int, rooms: list[dict], **extra) -> dict:
    return {"v": 1, "ts_s": ts_s, "seq": seq, "valves": [], "rooms": rooms, **extra}


def test_room_readings_are_stored_under_their_household(station):
    svc, site = station
    rooms = [
        {"sensor": "rs1", "t_room_c": 20.5, "ts_s": TS0 - 30, "battery_pct": 80, "rssi_dbm": -71},
        {"sensor": "rs2", "t_room_c": 3.0},  # out of range: stored, flagged
    ]
    deliver(svc, site, "b1", tele(1, TS0, rooms=rooms))
    latest = svc.storage.latest_room_readings("st1")
    assert latest["hh1"] == {
        "ts_s": TS0 - 30,  # the reading's own time
        "t_room_c": 20.5,
        "flag": None,
        "sensor": "rs1",
        "site": site,
        "unit": "b1",
        "battery_pct": 80.0,
        "rssi_dbm": -71.0,
    }
    assert (latest["hh2"]["ts_s"], latest["hh2"]["flag"]) == (TS0, "range")  # the record's
    assert [a["kind"] for a in svc.storage.alarms(open_only=True)] == ["room_sensor_range"]
    assert svc.ingest.latest_rooms[(site, "b1")]["rs1"].t_room_c == 20.5
    assert svc.ingest.metrics.room_readings == 2
    # the valves of the same record are stored as always
    assert svc.storage.query(site, "b1", "h1", "t_return_c", 0, 2**40) == [(TS0, 39.0)]
    # a replayed record stores its rooms no second time
    deliver(svc, site, "b1", tele(1, TS0, rooms=rooms))
    assert svc.storage.refusals() == {(site, "b1", "replayed"): 1}
    assert len(svc.storage.room_reading_history("hh1", 0, 2**40)) == 1


def test_a_rooms_only_record_does_not_replace_the_balancers_valve_data(station):
    svc, site = station
    deliver(svc, site, "b1", tele(1, TS0))
    deliver(svc, site, "b1", rooms_record(2, TS0 + 60, [{"sensor": "rs1", "t_room_c": 21.0}]))
    latest = svc.ingest.latest[(site, "b1")]
    assert latest["seq"] == 1 and len(latest["valves"]) == 3
    assert svc.storage.latest_room_reading("hh1")["ts_s"] == TS0 + 60
    deliver(svc, site, "b1", tele(3, TS0 + 120))
    assert svc.ingest.latest[(site, "b1")]["seq"] == 3
    # a gateway (station unit) drives no valve: its newest record is its latest
    deliver(svc, site, "gw", rooms_record(1, TS0, [{"sensor": "rs9", "t_room_c": 19.0}]))
    deliver(svc, site, "gw", rooms_record(2, TS0 + 60, [{"sensor": "rs9", "t_room_c": 19.1}]))
    assert svc.ingest.latest[(site, "gw")]["seq"] == 2
    assert svc.storage.latest_room_reading("hh3")["unit"] == "gw"
    # a record with valves, even an older one, replaces a latest that has none
    deliver(svc, site, "gw", tele(3, TS0 - 60, n_households=0))
    assert svc.ingest.latest[(site, "gw")]["seq"] == 3
    deliver(svc, site, "gw", rooms_record(4, TS0 + 120, [{"sensor": "rs9", "t_room_c": 19.2}]))
    assert svc.ingest.latest[(site, "gw")]["seq"] == 3


def test_an_unlinked_sensor_is_refused_and_the_rest_of_its_record_stored(station):
    svc, site = station
    rooms = [{"sensor": "rs1", "t_room_c": 21.0}, {"sensor": "stray", "t_room_c": 22.0}]
    deliver(svc, site, "b1", tele(1, TS0, rooms=rooms))
    assert svc.storage.refusals() == {(site, "b1", "unlinked-sensor"): 1}
    assert svc.ingest.metrics.refused[(site, "b1", "unlinked-sensor")] == 1
    detail = svc.storage.fetch_one("SELECT last_detail FROM refusals")
    assert detail == (f"{site}/b1 sensor 'stray' is linked to no household",)
    assert svc.storage.message_seqs(site, "b1") == [(1, TS0)]
    assert svc.storage.query(site, "b1", "entrance", "t_return_c", 0, 2**40) == [(TS0, 40.0)]
    assert set(svc.storage.latest_room_readings("st1")) == {"hh1"}
    # rs9 belongs to the gateway, not to b1
    deliver(svc, site, "b1", tele(2, TS0 + 60, rooms=[{"sensor": "rs9", "t_room_c": 21.0}]))
    assert svc.storage.refusals()[(site, "b1", "unlinked-sensor")] == 2
    assert 'reason="unlinked-sensor"} 2' in svc.metrics_text()


def test_the_outdoor_temperature_reaches_the_station(station):
    svc, site = station
    deliver(svc, site, "b1", tele(1, TS0, entrance={"t_supply_c": 55.0, "t_outdoor_c": -7.5}))
    assert svc.storage.station_outdoor_c("st1") == (TS0, -7.5)


def test_room_sensor_devices_are_checked(station):
    svc, site = station
    reg = svc.registry
    with pytest.raises(RegistryError) as err:
        reg.add_device("d-x", site, "b1", "rsx", "room_sensor")
    assert err.value.reason == "missing-household"
    with pytest.raises(RegistryError) as err:
        reg.update_device("d-rs1", household_id=None)
    assert err.value.reason == "missing-household"
    with pytest.raises(RegistryError) as err:
        reg.add_device("d-y", site, "b1", "rsy", "room_sensor", household_id="nobody")
    assert err.value.reason == "missing"
    with pytest.raises(RegistryError) as err:
        reg.add_device("d-z", site, "nowhere", "rsz", "room_sensor", household_id="hh1")
    assert err.value.reason == "missing"
    # another device kind still needs no household, and a room sensor marks its household
    reg.add_device("d-hm", site, "b1", "hm", "heat_meter")
    assert reg.household("hh1")["has_room_sensor"] is True
    assert reg.household("hh3")["has_room_sensor"] is True  # through the gateway


def test_network_import_registers_room_sensors(storage, tmp_path):
    doc = json.loads(TINY.read_text())
    doc["meta"] = {
        "registry": {
            "site": "estate-7",
            "units": {"E3": "b3-e1"},
            "households": {
                "E3-4": {"household_type": "top", "room_sensor": "rs-304"},
                "E3-1": {"position": "east"},
            },
        }
    }
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(doc))
    reg = Registry(storage)
    counts = import_network(reg, path)
    assert counts["devices"] == 1
    assert storage.room_sensor_links("estate-7", "b3-e1") == {"rs-304": "E3-4"}
    assert storage.device("E3-4:room") == ("room_sensor", "E3", "E3-4")
    assert reg.household("E3-4")["has_room_sensor"] is True
    assert reg.household("E3-1")["has_room_sensor"] is False


def test_a_non_string_room_sensor_in_the_network_file_is_refused(storage, tmp_path):
    doc = json.loads(TINY.read_text())
    doc["meta"] = {"registry": {"households": {"E3-4": {"room_sensor": 42}}}}
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(RegistryError) as err:
        import_network(Registry(storage), path)
    assert err.value.reason == "type"
    assert storage.registry_counts()["stations"] == 0  # all or nothing


def test_a_board_publishes_rooms_through_mosquitto(service, mosquitto, site):
    """The `service` fixture (started, on both backends) with a registered room sensor."""
    from tests.mqtt_client import TestClient

    reg = service.registry
    reg.add_station("st-m", site)
    reg.add_building("bl-m", "st-m")
    reg.add_entrance("e-m", "bl-m", site, "bm")
    reg.add_household("hh-m", "e-m", floor=2)
    reg.add_device("d-m", site, "bm", "rs-m", "room_sensor", household_id="hh-m")
    board = TestClient(mosquitto.host, mosquitto.port)
    try:
        msg = rooms_record(1, TS0, [{"sensor": "rs-m", "t_room_c": 19.8, "sensor_ok": True}])
        board.publish(p.topic(site, "bm", p.TELE), p.encode(p.TELE, msg))
        wait_until(
            lambda: service.storage.latest_room_reading("hh-m"), what="the room reading stored"
        )
    finally:
        board.close()
    assert service.storage.latest_room_reading("hh-m")["t_room_c"] == 19.8
    assert (site, "bm") in service.ingest.latest_rooms
