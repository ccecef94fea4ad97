"""Room mode end to end over a real Mosquitto with the real host service: a small estate
whose boards report room sensors (a quarter of the flats) and an outdoor probe; the host
links the sensors, estimates every flat's room, learns each valve's offset from its room and
pushes the targets. Simulated hardware and plant (sim/); the rooms' truth is the
simulator's, which the host never sees.
"""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from sim.demo import Demo
from sim.mosquitto import free_port
from sim.scenario import scenario_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    doc = json.loads(scenario_path("tiny").read_text())
    doc["rooms"] = {"share": 0.25}
    work = tmp_path_factory.mktemp("room-day")
    path = work / "tiny-rooms.json"
    path.write_text(json.dumps(doc))
    demo = Demo(
        str(path),
        days=1.25,
        speedup=None,
        mqtt_port=free_port(),
        api_port=None,
        workdir=work / "demo",
    )
    demo.start()
    try:
        demo.service.balancer.set_settings(demo.station, {"mode": "room"}, who="op")
        demo.simulate(threading.Event())
        truth = np.array(demo.run.out.t_room_c, dtype=float)
        yield demo, truth
    finally:
        demo.stop()


def test_every_room_is_measured_or_estimated_close_to_the_truth(day):
    demo, truth = day
    store = demo.service.storage
    net = demo.scn.estate.network
    sensed = demo.scn.rooms.mapping()
    readings = store.latest_room_readings(demo.station)
    assert set(readings) == {net.households[i].id for i in sensed}
    assert demo.service.ingest.metrics.refused_total() == 0  # every sensor linked
    estimates = store.latest_room_estimates(demo.station)
    assert len(estimates) == len(net.households)
    errors = []
    for i, h in enumerate(net.households):
        e = estimates[h.id]
        assert e["measured"] == (i in sensed) or e["method"] == "suspect-sensor"
        if i not in sensed:
            errors.append(e["t_room_c"] - truth[i])
            assert abs(e["t_room_c"] - truth[i]) <= 3.0 * e["se_c"] + 0.5, (h.id, e, truth[i])
    rms = float(np.sqrt(np.mean(np.square(errors))))
    assert rms < 1.0, errors


def test_room_mode_learns_from_the_rooms_and_records_why(day):
    demo, _ = day
    balancer = demo.service.balancer
    learned = balancer.learned_offsets(demo.station)
    assert learned and all(k.startswith(("B0E0/", "B0E1/")) for k in learned)
    last = balancer.decisions(demo.station, limit=40)
    assert {d["inputs"]["mode"] for d in last} == {"room"}
    notes = {d["inputs"].get("room_note") for d in last}
    assert notes & {"room_cold", "room_warm", "room_ok", "valve_open", "valve_shut"}
    assert all("t_room_c" in d["inputs"] for d in last if d["valve"] != "entrance")
