"""The host's balancing loop over a real Mosquitto: telemetry in, decisions recorded, targets
out through the desired state, stale boards held, overrides respected, bad settings refused.

The boards here are test clients publishing protocol messages (simulated hardware); the
full loop with virtual boards and the plant is tests/test_demo.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from host.control.balancer import BalancerError
from host.service.runtime import Service
from shared import protocol as p
from tests.host.helpers import make_config, wait_until
from tests.mqtt_client import TestClient

UNITS = ("b1", "b2", "b3")


def _register(svc: Service, site: str) -> None:
    reg = svc.registry
    reg.add_station("st1", site)
    reg.add_building("bd1", "st1", floors=6)
    for unit in UNITS:
        reg.add_entrance(f"e-{unit}", "bd1", site, unit)
    reg.add_household("hh1", "e-b3", point="h1", household_type="top_floor")
    reg.add_household("hh2", "e-b3", point="h2", household_type="middle")


@pytest.fixture
def station(mosquitto, tmp_path, site) -> Iterator[Service]:
    """A service with one station of three entrances (b3 with two household valves)."""
    svc = Service(make_config(mosquitto, f"sqlite:///{tmp_path}/bal.db", site))
    _register(svc, site)
    svc.start()
    assert svc.link.connected.wait(10)
    yield svc
    svc.stop()


def _tele(seq: int, ts_s: int, t_c: float, opening: float = 60.0, flow: float = 3.0, hh=None):
    valves = [{"id": "entrance", "t_return_c": t_c, "opening_cmd_pct": opening}]
    for vid, t in (hh or {}).items():
        valves.append({"id": vid, "t_return_c": t, "opening_cmd_pct": 50.0})
    return p.encode(
        p.TELE,
        {"v": 1, "ts_s": ts_s, "seq": seq, "valves": valves, "entrance": {"flow_m3h": flow}},
    )


def _report(board: TestClient, site: str, returns: dict[str, float], ts_s: int, seq: int):
    for unit, t_c in returns.items():
        hh = {"h1": t_c - 2.0, "h2": t_c + 2.0} if unit == "b3" else None
        board.publish(p.topic(site, unit, p.TELE), _tele(seq, ts_s, t_c, hh=hh))


def test_a_run_equalises_returns_publishes_targets_and_records_why(station, mosquitto, site):
    board = TestClient(mosquitto.host, mosquitto.port)
    try:
        now = int(time.time())
        _report(board, site, {"b1": 36.0, "b2": 40.0, "b3": 44.0}, now - 5, 1)
        wait_until(lambda: len(station.ingest.latest) == 3, what="three boards' telemetry")
        run = station.balancer.run_station("st1", who="alice")
        by_valve = {(d["unit"], d["valve"]): d for d in run["decisions"]}
        # Equal flows: the mean is 40 degC; every valve is 60 % open, so the level trim lifts
        # the group (most-open-valve below 90 %) by min(max_step, 0.1 * 30) = 2 K.
        ent = by_valve[("b1", "entrance")]
        assert ent["group_mean_c"] == pytest.approx(40.0)
        assert ent["new_target_c"] == pytest.approx(42.0)
        assert by_valve[("b2", "entrance")]["new_target_c"] == pytest.approx(42.0)
        # Vertical: b3's households equalise on their own mean (44 degC) plus the trim.
        assert by_valve[("b3", "h1")]["group_mean_c"] == pytest.approx(44.0)
        assert run["published"] == {"b1": 1, "b2": 1, "b3": 1}
        # The targets reach the boards, retained, each with the board's complete set.
        for topic in p.board_subscriptions(site, "b3"):
            board.subscribe(topic)
        got = board.receive(5)
        msg = p.decode(p.TARGETS, got.payload)
        assert got.retain and set(msg["targets"]) == {"entrance", "h1", "h2"}
        # Every decision is recorded with its inputs, newest first.
        rows = station.balancer.decisions("st1")
        assert len(rows) == 5 and all(r["run_id"] == run["run_id"] for r in rows)
        b1 = next(r for r in rows if r["unit"] == "b1")
        assert b1["inputs"]["t_return_c"] == 36.0 and b1["reason"] == "equalise"
        assert b1["desired_version"] == 1 and b1["trigger"] == "manual"
        # An ack comes back and the desired state records it.
        board.publish(
            p.topic(site, "b3", p.ACK),
            p.encode(p.ACK, {"ts_s": now, "of": "targets", "version": 1, "result": "applied"}),
        )
        wait_until(lambda: station.desired.status(site, "b3")["targets"]["status"] == "applied")
    finally:
        board.close()
    audit = [(who, action) for _, who, action, *_ in station.storage.audit_log()]
    assert ("alice", "balance_station") in audit


def test_old_records_do_not_replace_newer_ones_and_targets_do_not_chase_noise(
    station, mosquitto, site
):
    board = TestClient(mosquitto.host, mosquitto.port)
    try:
        now = int(time.time())
        _report(board, site, {"b1": 36.0, "b2": 40.0, "b3": 44.0}, now - 5, 1)
        wait_until(lambda: len(station.ingest.latest) == 3)
        first = station.balancer.run_station("st1", who="t")
        # b1 goes silent for an hour; the others report nearly the same again.
        board.publish(p.topic(site, "b1", p.TELE), _tele(2, now - 4000, 20.0))
        _report(board, site, {"b2": 40.1, "b3": 43.9}, now - 2, 3)
        wait_until(lambda: station.ingest.latest[(site, "b2")]["seq"] == 3)
        second = station.balancer.run_station("st1", who="t")
    finally:
        board.close()
    d1 = {(d["unit"], d["valve"]): d for d in first["decisions"]}
    d2 = {(d["unit"], d["valve"]): d for d in second["decisions"]}
    # The out-of-order old record did not replace b1's newest one; b1 still counts as fresh.
    assert station.ingest.latest[(site, "b1")]["seq"] == 1
    assert d2[("b2", "entrance")]["old_target_c"] == d1[("b2", "entrance")]["new_target_c"]
    # Changes of 0.1 K are under the hysteresis: nothing moves, nothing is published.
    assert {d["reason"] for d in second["decisions"]} == {"hysteresis"}
    assert second["published"] == {}


def test_a_board_whose_data_are_stale_is_held(station, mosquitto, site):
    board = TestClient(mosquitto.host, mosquitto.port)
    try:
        now = int(time.time())
        _report(board, site, {"b1": 36.0, "b2": 40.0}, now - 5, 1)
        _report(board, site, {"b3": 44.0}, now - 7200, 1)  # two hours old
        wait_until(lambda: len(station.ingest.latest) == 3)
        run = station.balancer.run_station("st1", who="t")
    finally:
        board.close()
    b3 = [d for d in run["decisions"] if d["unit"] == "b3"]
    assert b3 and all(d["reason"] == "stale" and not d["changed"] for d in b3)
    assert "b3" not in run["published"] and set(run["published"]) == {"b1", "b2"}
    # The mean uses only fresh data: (36 + 40) / 2.
    assert run["decisions"][0]["group_mean_c"] == pytest.approx(38.0)


def test_overridden_valves_are_left_alone_until_released(station, mosquitto, site):
    board = TestClient(mosquitto.host, mosquitto.port)
    try:
        now = int(time.time())
        _report(board, site, {"b1": 36.0, "b2": 40.0, "b3": 44.0}, now - 5, 1)
        wait_until(lambda: len(station.ingest.latest) == 3)
        v = station.balancer.override(site, "b2", "entrance", who="op", target_c=50.0)
        assert v == 1 and station.desired.payload(site, "b2", "targets")["targets"] == {
            "entrance": {"t_return_c": 50.0}
        }
        run = station.balancer.run_station("st1", who="t")
        assert not [d for d in run["decisions"] if d["unit"] == "b2"]
        assert station.desired.payload(site, "b2", "targets")["version"] == 1
        assert [o["valve"] for o in station.balancer.overrides()] == ["entrance"]
        station.balancer.release(site, "b2", "entrance", who="op")
        run = station.balancer.run_station("st1", who="t")
        assert [d for d in run["decisions"] if d["unit"] == "b2"]
    finally:
        board.close()
    with pytest.raises(BalancerError) as err:
        station.balancer.override(site, "b2", "nope", who="op", target_c=40.0)
    assert err.value.reason == "unknown-valve"
    with pytest.raises(BalancerError) as err:
        station.balancer.override(site, "b2", "entrance", who="op", target_c=40, opening_pct=5)
    assert err.value.reason == "bad-value"
    with pytest.raises(BalancerError) as err:
        station.balancer.release(site, "b2", "entrance", who="op")
    assert err.value.reason == "not-overridden"


def test_settings_are_checked_stored_and_bad_ones_change_nothing(station):
    bal = station.balancer
    before = bal.settings("st1")
    assert before["period_s"] == station.cfg.strategy.period_s and before["offsets"] == {}
    new = bal.set_settings("st1", {"hysteresis_c": 0.5, "offsets": {"b1/entrance": -1}}, "adm")
    assert new["hysteresis_c"] == 0.5 and bal.settings("st1")["offsets"] == {"b1/entrance": -1}
    for bad, reason in (
        ({"hysteresis_c": "x"}, "bad-value"),
        ({"target_min_c": 70.0}, "bad-value"),  # above target_max_c
        ({"nonsense": 1}, "unknown-setting"),
        ({"offsets": {"b1/entrance": 50}}, "bad-value"),
        ({"period_s": 1}, "bad-value"),
        ({"hysteresis_c": float("nan")}, "bad-value"),
    ):
        with pytest.raises(BalancerError) as err:
            bal.set_settings("st1", bad, "adm")
        assert err.value.reason == reason, bad
    assert bal.settings("st1") == new
    with pytest.raises(BalancerError) as err:
        bal.settings("nowhere")
    assert err.value.reason == "unknown-station"
    refused = [r for _, _, a, _, _, r in station.storage.audit_log() if a == "set_strategy"]
    assert sum(r.startswith("refused") for r in refused) == 6


def test_the_periodic_loop_runs_each_station_on_its_own_period(station, mosquitto, site):
    station.balancer.set_settings("st1", {"period_s": 60.0}, "adm")
    board = TestClient(mosquitto.host, mosquitto.port)
    try:
        now = time.time()
        _report(board, site, {"b1": 36.0, "b2": 40.0, "b3": 44.0}, int(now) - 5, 1)
        wait_until(lambda: len(station.ingest.latest) == 3)
        # Drive the loop's clock directly: the first tick starts the period, the next due
        # tick runs it, an early one does not.
        station.balancer.tick(now)
        station.balancer.tick(now + 30)
        assert station.balancer.decisions("st1") == []
        station.balancer.tick(now + 61)
        rows = station.balancer.decisions("st1")
        assert rows and {r["trigger"] for r in rows} == {"period"}
    finally:
        board.close()


def test_settings_overrides_and_decisions_survive_a_restart_and_nothing_moves_blind(
    mosquitto, db_url, site
):
    """On both databases: what the balancer stored is there after a restart, and until the
    boards report again the first run holds every target instead of deciding from nothing."""
    cfg = make_config(mosquitto, db_url, site)
    svc = Service(cfg)
    _register(svc, site)
    svc.start()
    board = TestClient(mosquitto.host, mosquitto.port)
    try:
        assert svc.link.connected.wait(10)
        _report(board, site, {"b1": 36.0, "b2": 40.0, "b3": 44.0}, int(time.time()) - 5, 1)
        wait_until(lambda: len(svc.ingest.latest) == 3)
        svc.balancer.set_settings("st1", {"max_step_c": 1.0}, "adm")
        svc.balancer.override(site, "b1", "entrance", who="op", target_c=45.0)
        first = svc.balancer.run_station("st1", who="t")
    finally:
        board.close()
        svc.stop()
    svc = Service(cfg)
    svc.start()
    try:
        assert svc.balancer.settings("st1")["max_step_c"] == 1.0
        assert [(o["unit"], o["target_c"]) for o in svc.balancer.overrides()] == [("b1", 45.0)]
        assert len(svc.balancer.decisions("st1")) == len(first["decisions"])
        again = svc.balancer.run_station("st1", who="t")
        assert again["decisions"] == [] and again["published"] == {}
        assert svc.desired.payload(site, "b2", "targets")["version"] == first["published"]["b2"]
    finally:
        svc.stop()
