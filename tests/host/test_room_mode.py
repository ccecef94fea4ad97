"""Room mode end to end in the host over a real Mosquitto: room readings and water
temperatures in, every household's room estimated and stored, offsets learned from the
rooms (kept across a restart), every decision recording the room it used; return mode
unchanged; bad settings refused.

The boards are test clients publishing protocol messages (simulated hardware). Against the
simulator's truth: tests/rooms/test_estimate_sim.py and bench/rooms.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from host.control.balancer import Balancer, BalancerError
from host.service.runtime import Service
from shared import protocol as p
from tests.host.helpers import add_room_entrance, make_config, wait_until
from tests.mqtt_client import TestClient

VALVES = {  # valve: (household type, return degC, room sensor and its reading, or None)
    "h1": ("top", 38.0, ("r1", 17.0)),
    "h2": ("middle", 36.0, ("r2", 20.0)),
    "h3": ("gable", 37.0, ("r3", 22.5)),
    "h4": ("middle", 36.5, None),
    "h5": ("top", 38.5, None),
    "h6": ("gable", 36.8, ("r6", 19.5)),
}


@pytest.fixture
def station(mosquitto, tmp_path, site) -> Iterator[Service]:
    svc = Service(make_config(mosquitto, f"sqlite:///{tmp_path}/rooms.db", site))
    flats = [(vid, kind, sensor and sensor[0]) for vid, (kind, _t, sensor) in VALVES.items()]
    add_room_entrance(svc.registry, site, flats)
    svc.start()
    assert svc.link.connected.wait(10)
    yield svc
    svc.stop()


def _tele(seq: int, ts_s: int) -> bytes:
    valves = [{"id": "entrance", "t_return_c": 37.0, "opening_cmd_pct": 80.0}]
    rooms = []
    for vid, (_kind, t_c, sensor) in VALVES.items():
        valves.append({"id": vid, "t_return_c": t_c, "opening_cmd_pct": 60.0, "target_c": 37.0})
        if sensor is not None:
            rooms.append({"sensor": sensor[0], "t_room_c": sensor[1], "sensor_ok": True})
    msg = {
        "v": 1,
        "ts_s": ts_s,
        "seq": seq,
        "valves": valves,
        "rooms": rooms,
        "entrance": {"t_supply_c": 55.0, "t_return_c": 37.0, "flow_m3h": 3.0, "t_outdoor_c": -5.0},
    }
    return p.encode(p.TELE, msg)


def _report(svc: Service, mosquitto, site: str) -> None:
    board = TestClient(mosquitto.host, mosquitto.port)
    try:
        now = int(time.time())
        for seq, ago in enumerate((7200, 5400, 3600, 1800, 10), start=1):
            board.publish(p.topic(site, "b1", p.TELE), _tele(seq, now - ago))
        wait_until(
            lambda: svc.ingest.metrics.stored_messages[p.TELE] == 5, what="five records stored"
        )
    finally:
        board.close()


def test_room_mode_estimates_every_room_and_learns_offsets_from_them(station, mosquitto, site):
    _report(station, mosquitto, site)
    station.balancer.set_settings("st1", {"mode": "room"}, "admin")
    run = station.balancer.run_station("st1", who="alice")
    by_valve = {d["valve"]: d for d in run["decisions"]}
    # Every household has a room, measured where sensed and estimated elsewhere.
    estimates = station.storage.latest_room_estimates("st1")
    assert len(estimates) == len(VALVES)
    assert estimates["hh1"]["measured"] and estimates["hh1"]["t_room_c"] == 17.0
    assert not estimates["hh4"]["measured"] and 10.0 < estimates["hh4"]["t_room_c"] < 30.0
    assert estimates["hh4"]["se_c"] > estimates["hh1"]["se_c"]
    # Each decision says which room it used and what room mode learned.
    h1, h3, h4 = by_valve["h1"]["inputs"], by_valve["h3"]["inputs"], by_valve["h4"]["inputs"]
    assert h1["mode"] == "room" and h1["room_measured"] and h1["t_room_c"] == 17.0
    assert h1["room_note"] == "room_cold" and h3["room_note"] == "room_warm"
    assert h4["room_measured"] is False and h4["room_se_c"] > 0.3
    learned = station.balancer.learned_offsets("st1")
    # a period's worth of the gain (K per K per hour), doubled below the 18 degC floor (3 K cold),
    # from the household-type offset (the default table's: top +10, gable +7); the entrance
    # has rooms on both sides of the target, so it learns
    settings = station.balancer.settings("st1")
    dt_h = settings["period_s"] / 3600.0
    prior = settings["household_type_offsets"]
    gain = settings["room_offset_gain_c_per_k_h"]
    assert learned["b1/h1"] == pytest.approx(prior["top"] + gain * dt_h * 2 * 3.0, abs=1e-3)
    assert learned["b1/h3"] == pytest.approx(prior["gable"] - gain * dt_h * 2.5, abs=1e-3)
    assert "b1/entrance" in learned
    # The cold flat's target rises relative to the warm one's.
    assert by_valve["h1"]["new_target_c"] > by_valve["h3"]["new_target_c"]
    # What was learned survives a restart of the balancer (it is stored).
    again = Balancer(
        station.storage,
        station.desired,
        lambda s, u: station.ingest.latest.get((s, u)),
        station.cfg.strategy,
        station.clock,
    )
    assert again.learned_offsets("st1") == learned
    assert "room_offsets" not in again.settings("st1")


def test_an_uncertain_estimate_learns_from_its_types_mean_and_says_so(station, mosquitto, site):
    _report(station, mosquitto, site)
    rooms = station.balancer.rooms.run("st1")
    assert rooms.estimates is not None
    own = rooms.by_household()
    t4, se4, measured4, shared4 = own["hh4"]
    assert not measured4 and 0.0 < shared4 <= se4
    # middle flats: hh2 measured (20.0 degC, se 0.3, nothing shared), hh4 estimated
    pooled_se = ((shared4**2 / 2) + (0.3**2 + se4**2 - shared4**2) / 4) ** 0.5
    assert pooled_se < se4
    limit = round((pooled_se + se4) / 2, 3)
    station.balancer.set_settings("st1", {"mode": "room", "room_max_se_c": limit}, "admin")
    run = station.balancer.run_station("st1", who="alice")
    h4 = {d["valve"]: d for d in run["decisions"]}["h4"]["inputs"]
    assert h4["room_pooled_by_type"] is True and h4["room_measured"] is False
    assert h4["t_room_c"] == pytest.approx((20.0 + t4) / 2, abs=0.01)
    assert h4["room_se_c"] == pytest.approx(pooled_se, abs=0.01)
    assert h4["room_note"] in ("room_warm", "room_cold", "room_ok")


def test_return_mode_learns_nothing_and_says_so(station, mosquitto, site):
    _report(station, mosquitto, site)
    run = station.balancer.run_station("st1", who="alice")
    assert {d["inputs"]["mode"] for d in run["decisions"]} == {"return"}
    assert station.balancer.learned_offsets("st1") == {}
    assert len(station.storage.latest_room_estimates("st1")) == len(VALVES)  # estimates anyway


def test_room_mode_per_building_and_bad_modes_refused(station, mosquitto, site):
    _report(station, mosquitto, site)
    station.balancer.set_settings("st1", {"building_modes": {"bd1": "room"}}, "admin")
    run = station.balancer.run_station("st1", who="alice")
    assert {d["inputs"]["mode"] for d in run["decisions"]} == {"room"}
    before = station.balancer.settings("st1")
    for bad in ({"mode": "roomy"}, {"building_modes": {"bd1": "warm"}}, {"building_modes": 3}):
        with pytest.raises(BalancerError) as err:
            station.balancer.set_settings("st1", bad, "admin")
        assert err.value.reason == "bad-value"
    assert station.balancer.settings("st1") == before
