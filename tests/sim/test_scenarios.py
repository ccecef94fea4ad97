"""Scenarios: seeded and reproducible; the typical estate is unbalanced as it claims."""

import json

import numpy as np
import pytest

from sim.runner import run
from sim.scenario import ScenarioError, available, build_scenario, load_scenario


def test_bundled_scenarios_have_the_sizes_they_claim():
    assert {"tiny", "compact", "typical", "large"} <= set(available())
    tiny = load_scenario("tiny").estate.network
    assert len({e.building for e in tiny.entrances}) == 1 and len(tiny.entrances) == 2
    typ = load_scenario("typical").estate.network
    assert 18 <= len({e.building for e in typ.entrances}) <= 22
    assert 50 <= len(typ.entrances) <= 70 and 600 <= len(typ.households) <= 800
    large = load_scenario("large").estate.network
    assert len({e.building for e in large.entrances}) >= 200


def test_same_seed_same_run_and_another_seed_another():
    a = run(load_scenario("tiny", days=0.2))
    b = run(load_scenario("tiny", days=0.2))
    c = run(load_scenario("tiny", seed=2, days=0.2))
    for name, x in vars(a.series).items():
        np.testing.assert_array_equal(x, getattr(b.series, name), err_msg=name)
    assert a.metrics == b.metrics
    assert not np.array_equal(a.series.t_room_c, c.series.t_room_c)


def test_typical_unbalanced_reproduces_the_claimed_imbalance():
    scn = load_scenario("typical", days=1.5)
    assert scn.control == "none"
    res = run(scn)
    m = res.metrics
    # horizontal: entrance returns spread by several kelvin
    assert m["entrance_return_spread_c"] > 4.0
    # cold flats although the pump runs above its design speed and many flats overheat
    assert m["pump_speed_mean"] > 1.1
    assert m["share_below_18"] > 0.02
    assert m["share_above_22"] > 0.25
    # who is cold: exposed flats; who is warm: buildings near the station
    room = res.series.t_room_c[-1]
    types = np.array(scn.estate.household_type)
    assert room[types == "top_gable"].mean() < room[types == "middle"].mean() - 2.0
    net = scn.estate.network
    e_index = {e.id: i for i, e in enumerate(net.entrances)}
    hh_e = np.array([e_index[h.entrance] for h in net.households])
    flow_ratio = res.series.entrance_flow_m3h[-1] / np.array(
        [e.design_flow_m3h for e in net.entrances]
    )
    assert flow_ratio.max() > 1.5 * flow_ratio.min()
    near = np.argsort(flow_ratio)[-10:]
    far = np.argsort(flow_ratio)[:10]
    assert room[np.isin(hh_e, near)].mean() > room[np.isin(hh_e, far)].mean() + 0.5


def test_a_bad_scenario_is_refused_naming_the_field(tmp_path):
    with pytest.raises(ScenarioError, match="estate: unknown field"):
        build_scenario({"estate": {"n_bulidings": 3}})
    with pytest.raises(ScenarioError, match="control"):
        build_scenario({"control": "magic"})
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"name": "x", "days": -1}))
    with pytest.raises(ScenarioError, match="days"):
        load_scenario(str(p))
    with pytest.raises(ScenarioError, match="bundled scenarios"):
        load_scenario("no-such-scenario")


class PumpDown:
    """A bad strategy: saves pump energy by slowing the pump, balances nothing."""

    period_s = 1800.0
    sensors: dict[int, tuple[str, str]] = {}  # noqa: RUF012 - the scenario's room sensors

    def decide(self, now_s, records, meter_flow_m3h):
        from sim.host_strategy import HostDecision

        assert records  # it sees the boards' telemetry...
        for unit, rec in records.items():  # ...which holds probe readings, never the plant's
            assert "t_room_c" not in repr(rec["valves"]) + repr(rec["entrance"])
            # room temperatures only as the room sensors of that board report them
            sensors = {r["sensor"] for r in rec.get("rooms", [])}
            assert sensors == {s for u, s in self.sensors.values() if u == unit}
        return HostDecision(pump_speed=0.6)


def test_a_bad_strategy_looks_bad():
    base = run(load_scenario("compact", days=1.0), warmup_s=6 * 3600.0)
    scn = load_scenario("compact", days=1.0)
    pump_down = PumpDown()
    pump_down.sensors = scn.room_sensors()
    bad = run(scn, strategy=pump_down, warmup_s=6 * 3600.0)
    assert bad.metrics["pump_electricity_kwh"] < 0.6 * base.metrics["pump_electricity_kwh"]
    # within a day the building mass still holds much of the heat: the harm is already clear
    assert bad.metrics["share_hours_below_18"] > base.metrics["share_hours_below_18"] + 0.05
    assert bad.metrics["degree_hours_under_18_kh"] > 2.5 * base.metrics["degree_hours_under_18_kh"]
