"""Model-based balancing (host/control/strategy/feed_forward.py): from the network file and
the friction the estimator identified on measured conditions, the openings and the lowest pump
speed that give every wanted flow, checked by solving the true network forward; and no plan,
with the reason, from a model that should not be trusted.

The "measured" conditions are solved on a network whose true friction differs from its
file's (hydraulic truth, not hardware); the estimator identifies it from them as it would
from boards' readings."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from host.control.strategy.feed_forward import (
    FeedForwardError,
    FeedForwardSettings,
    FrictionEstimate,
    load_estimate,
    plan,
)
from host.models.estimation.adapter import estimate_network, nominal_s
from host.models.estimation.report import estimate_to_dict
from host.models.hydraulics.inverse import valve_openings
from host.models.hydraulics.results import solve_network
from sim.scenario import load_scenario
from tests.estimation.hydraulic_data import conditions_from_solver

NOW_S = 1_800_000_000.0


@pytest.fixture(scope="module")
def estate():
    """The compact estate's network (every flat valved, design flows) as filed, and its
    truth: every pipe's friction off by up to +-40 % (seeded), lumped."""
    net = load_scenario("compact", days=1).estate.network
    filed = dataclasses.replace(
        net,
        pipes=tuple(
            dataclasses.replace(
                p, s_m_per_m3h2=float(s), length_m=None, diameter_mm=None, roughness_mm=None
            )
            for p, s in zip(net.pipes, nominal_s(net), strict=True)
        ),
    )
    rng = np.random.default_rng(5)
    truth = dataclasses.replace(
        filed,
        pipes=tuple(
            dataclasses.replace(p, s_m_per_m3h2=p.s_m_per_m3h2 * float(rng.uniform(0.6, 1.4)))
            for p in filed.pipes
        ),
    )
    return filed, truth


def _household_flows(net, res, speed):
    solved = solve_network(
        net.with_pump_speed(speed).with_openings(
            {k: v / 100.0 for k, v in res.entrance_opening_pct.items()},
            {k: v / 100.0 for k, v in res.household_opening_pct.items()},
        )
    )
    assert solved.success
    return dict(zip((h.id for h in net.households), solved.household_flow_m3h, strict=True))


def _trusted(net, scale=1.0, rel_se=0.05, when=NOW_S - 86400.0):
    ids = [p.id for p in net.pipes]
    s = {p.id: p.s_m_per_m3h2 * scale for p in net.pipes}
    return FrictionEstimate(
        True, when, s, {i: rel_se * s[i] for i in ids}, dict.fromkeys(ids, True)
    )


def test_the_identified_model_gives_the_wanted_flows_at_the_lowest_speed(estate, tmp_path):
    filed, truth = estate
    cond = conditions_from_solver(truth, 8, seed=3)
    doc = estimate_to_dict(estimate_network(filed, cond))
    doc["estimated_s"] = NOW_S - 3 * 86400.0
    path = tmp_path / "estimate.json"
    path.write_text(json.dumps(doc))
    est = load_estimate(path)
    assert est.success
    settings = FeedForwardSettings(flow_share=0.9, speed_max=1.3)
    p = plan(filed, est, NOW_S, settings)
    assert p.ok, p.detail
    wanted = {h.id: 0.9 * h.design_flow_m3h for h in filed.households}
    got = _household_flows(truth, p, p.pump_speed)
    worst = max(abs(got[k] / wanted[k] - 1.0) for k in wanted)
    assert worst < 0.02, worst  # the true network gives every flat its flow
    # the lowest speed: a little less and the wanted flows cannot be had
    assert settings.speed_min < p.pump_speed < settings.speed_max
    slower = valve_openings(truth.with_pump_speed(p.pump_speed - 0.02), None, wanted)
    assert not slower.success
    # the file's own friction would have missed: the identification is what makes it right
    naive = plan(filed, _trusted(filed), NOW_S, settings)
    assert naive.ok
    missed = _household_flows(truth, naive, naive.pump_speed)
    naive_worst = max(abs(missed[k] / wanted[k] - 1.0) for k in wanted)
    print(f"worst flow error: identified {worst:.4f}, as filed {naive_worst:.4f}")
    assert naive_worst > 3 * worst


def test_no_plan_from_a_model_that_should_not_be_trusted(estate):
    filed, _ = estate
    s = FeedForwardSettings(speed_max=1.3)
    assert plan(filed, _trusted(filed, when=NOW_S - 200 * 86400.0), NOW_S, s).reason == "stale"
    failed = dataclasses.replace(_trusted(filed), success=False)
    assert plan(filed, failed, NOW_S, s).reason == "estimate-failed"
    vague = _trusted(filed, rel_se=0.5)
    p = plan(filed, vague, NOW_S, s)
    assert p.reason == "uncertain" and not p.entrance_opening_pct and p.pump_speed is None
    one_unknown = _trusted(filed)
    pid = filed.pipes[3].id
    one_unknown = dataclasses.replace(
        one_unknown, identifiable={**one_unknown.identifiable, pid: False}
    )
    p = plan(filed, one_unknown, NOW_S, s)
    assert p.reason == "uncertain" and pid in p.detail
    other = dataclasses.replace(
        _trusted(filed), s_m_per_m3h2={**_trusted(filed).s_m_per_m3h2, "P-elsewhere": 1.0}
    )
    assert plan(filed, other, NOW_S, s).reason == "unknown-pipe"
    weak = FeedForwardSettings(speed_min=0.2, speed_max=0.3)
    assert plan(filed, _trusted(filed), NOW_S, weak).reason == "unreachable"


def test_bad_settings_and_files_are_refused(tmp_path):
    with pytest.raises(FeedForwardError):
        FeedForwardSettings(flow_share=3.0)
    with pytest.raises(FeedForwardError):
        FeedForwardSettings(speed_min=1.2, speed_max=1.0)
    bad = tmp_path / "bad.json"
    bad.write_text('{"sides": 3}')
    with pytest.raises(FeedForwardError) as exc:
        load_estimate(bad)
    assert "not an estimate file" in str(exc.value)
    with pytest.raises(FeedForwardError):
        load_estimate(tmp_path / "missing.json")
