"""Model-based balancing in the host over a real Mosquitto: a network file imported into the
registry, an estimate of its friction (as `evenheat estimate --json` writes it), every
valve's modelled opening pushed as its feed-forward in its board's targets (targets
unchanged), the pump's modelled speed handed to the station control; a new estimate file
re-plans by itself; a model that should not be trusted sends nothing and says why.

The boards are test clients publishing protocol messages (simulated hardware). The plan's
hydraulics are checked against a forward solve in tests/strategy/test_feed_forward.py.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator

import pytest

from host.assets.network_import import import_network
from host.control.balancer import BalancerError
from host.control.strategy.feed_forward import FeedForwardSettings, load_estimate, plan
from host.models.estimation.adapter import nominal_s
from host.models.hydraulics.writer import save_network
from host.service.runtime import Service
from shared import protocol as p
from sim.scenario import load_scenario
from tests.host.helpers import make_config, wait_until
from tests.mqtt_client import TestClient


def _estimate_doc(net, rel_se: float, estimated_s: float) -> dict:
    """An estimate file as `evenheat estimate --json` writes it (one side holds all pipes)."""
    pipes = [
        {
            "id": pipe.id,
            "s_m_per_m3h2": float(s),
            "s_se_m_per_m3h2": rel_se * float(s),
            "s_low_m_per_m3h2": 0.9 * float(s),
            "s_high_m_per_m3h2": 1.1 * float(s),
            "identifiable": True,
            "reason": "",
        }
        for pipe, s in zip(net.pipes, nominal_s(net), strict=True)
    ]
    return {
        "network": net.name,
        "success": True,
        "estimated_s": estimated_s,
        "sides": {"supply": {"pipes": pipes}},
        "entrances": None,
    }


@pytest.fixture
def estate(mosquitto, tmp_path, site) -> Iterator[tuple[Service, object, object]]:
    net = load_scenario("compact", days=1).estate.network
    points = {h.id: {"point": h.id.removeprefix(h.entrance)} for h in net.households}
    meta = {"registry": {"site": site, "households": points}}
    net = dataclasses.replace(net, meta=meta)
    net_file = tmp_path / "network.json"
    save_network(net, net_file)
    svc = Service(make_config(mosquitto, f"sqlite:///{tmp_path}/model.db", site))
    import_network(svc.registry, net_file)
    svc.registry.add_station_unit(svc.storage.station_ids()[0], "gw")
    svc.start()
    assert svc.link.connected.wait(10)
    yield svc, net, net_file
    svc.stop()


def _report(svc: Service, mosquitto, site: str, net) -> None:
    board = TestClient(mosquitto.host, mosquitto.port)
    try:
        now = int(time.time()) - 5
        for k, e in enumerate(net.entrances, start=1):
            valves = [
                {"id": "entrance", "t_return_c": 40.0, "target_c": 40.0, "opening_cmd_pct": 60.0}
            ]
            for h in net.households_by_entrance.get(e.id, ()):
                valves.append(
                    {
                        "id": h.id.removeprefix(e.id),
                        "t_return_c": 38.0,
                        "target_c": 38.5,
                        "opening_cmd_pct": 50.0,
                    }
                )
            msg = {"ts_s": now, "seq": k, "valves": valves}
            board.publish(p.topic(site, e.id, p.TELE), p.encode(p.TELE, msg))
        wait_until(lambda: len(svc.ingest.latest) == len(net.entrances), what="every board")
    finally:
        board.close()


def test_the_identified_openings_reach_every_board_as_feed_forward(estate, mosquitto, site):
    svc, net, net_file = estate
    station = svc.storage.station_ids()[0]
    _report(svc, mosquitto, site, net)
    with pytest.raises(BalancerError) as exc:
        svc.model_balancing.run(station, "olga")
    assert exc.value.reason == "no-model"
    est_file = net_file.parent / "estimate.json"
    est_file.write_text(json.dumps(_estimate_doc(net, 0.05, time.time() - 86400)))
    svc.station_control.set_settings(station, {"unit": "gw", "pump": "on"}, "admin")
    svc.balancer.set_settings(
        station,
        {
            "feed_forward": {
                "network_file": str(net_file),
                "estimate_file": str(est_file),
                "speed_max": 1.0,
                "flow_share": 0.8,
            }
        },
        "admin",
    )
    done = svc.model_balancing.run(station, "olga")
    assert done["reason"] == "ok", done
    settings = FeedForwardSettings(flow_share=0.8, speed_max=1.0)
    expected = plan(net, load_estimate(est_file), time.time(), settings)
    n_valves = len(net.entrances) + len(net.households)
    assert done["valves"] == n_valves and len(done["published"]) == len(net.entrances)
    e0 = net.entrances[0]
    targets = svc.desired.payload(site, e0.id, "targets")["targets"]
    assert targets["entrance"]["opening_ff_pct"] == expected.entrance_opening_pct[e0.id]
    h0 = net.households_by_entrance[e0.id][0]
    point = h0.id.removeprefix(e0.id)
    assert targets[point]["opening_ff_pct"] == expected.household_opening_pct[h0.id]
    assert targets[point]["t_return_c"] == 38.5  # the target in force stays
    decisions = svc.balancer.decisions(station, limit=1000)
    assert {d["reason"] for d in decisions} == {"feed_forward"}
    # the pump starts from the modelled speed: stored, and held like a change of its own
    row = svc.station_control.decisions(station)[-1]
    assert row["pump_reason"] == "feed_forward"
    assert row["pump_speed_pct"] == pytest.approx(100.0 * done["pump_speed"], abs=0.06)
    # A new estimate file re-plans on the next tick; one too vague sends nothing.
    est_file.write_text(json.dumps(_estimate_doc(net, 0.6, time.time())))
    # (the service's own tick plans too, and may have planned the first files already)
    svc.model_balancing.tick(time.time())

    def fallbacks():
        rows = svc.storage.audit_rows(who="strategy")
        return [r for r in rows if r["result"].startswith("fallback")]

    wait_until(fallbacks, what="the re-plan")
    assert [r["result"] for r in fallbacks()] == ["fallback: uncertain"]
    svc.model_balancing.tick(time.time())  # unchanged files: nothing again
    time.sleep(0.5)  # a few of the service's ticks
    assert len(fallbacks()) == 1


def test_bad_model_settings_are_refused(estate):
    svc, _net, net_file = estate
    station = svc.storage.station_ids()[0]
    for changes, reason in (
        ({"feed_forward": {"network_file": "/nowhere.json"}}, "bad-value"),
        ({"feed_forward": {"flow_share": 9.0}}, "bad-value"),
        ({"feed_forward": {"colour": 1}}, "unknown-setting"),
        ({"feed_forward": 3}, "bad-value"),
    ):
        with pytest.raises(BalancerError) as exc:
            svc.balancer.set_settings(station, changes, "admin")
        assert exc.value.reason == reason, changes
    assert svc.balancer.settings(station)["feed_forward"]["network_file"] is None
