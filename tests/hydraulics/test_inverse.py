"""Inverse problem: openings for wanted flows, and a clear answer when unreachable."""

from __future__ import annotations

import numpy as np
import pytest

from host.models.hydraulics.errors import UnreachableFlowError
from host.models.hydraulics.generate import generate_network
from host.models.hydraulics.inverse import valve_openings
from host.models.hydraulics.results import solve_network


@pytest.mark.parametrize("households", [False, True])
def test_round_trip_design_flows(households: bool) -> None:
    net = generate_network(250, seed=21, with_households=households)
    wanted = {e.id: float(e.design_flow_m3h or 0.0) for e in net.entrances}
    inv = valve_openings(net, wanted)
    assert inv.success, inv.message
    assert inv.network is not None
    sol = solve_network(inv.network)
    got = sol.entrance_flow_m3h
    want = np.array([wanted[e.id] for e in net.entrances])
    assert np.max(np.abs(got / want - 1.0)) < 1e-7
    assert all(0.0 < x <= 1.0 for x in inv.entrance_opening.values())
    assert all(0.0 < x <= 1.0 for x in inv.household_opening.values())


def test_round_trip_recovers_the_openings_that_made_the_flows() -> None:
    net = generate_network(200, seed=22)
    rng = np.random.default_rng(3)
    openings = {e.id: float(rng.uniform(0.3, 1.0)) for e in net.entrances}
    sol = solve_network(net.with_openings(openings))
    inv = valve_openings(net, sol.entrance_flows())
    assert inv.success
    for e in net.entrances:
        assert inv.entrance_opening[e.id] == pytest.approx(openings[e.id], abs=1e-6)


def test_household_flows_round_trip() -> None:
    net = generate_network(80, seed=23, with_households=True)
    rng = np.random.default_rng(4)
    wanted = {
        h.id: float(h.design_flow_m3h or 0.1) * rng.uniform(0.8, 1.0) for h in net.households
    }
    inv = valve_openings(net, wanted_household_flow_m3h=wanted)
    assert inv.success, inv.message
    assert inv.network is not None
    got = solve_network(inv.network).household_flows()
    worst = max(abs(got[k] / v - 1.0) for k, v in wanted.items())
    assert worst < 1e-6


def test_unreachable_flow_is_named_with_its_shortfall() -> None:
    net = generate_network(150, seed=24)
    far = net.entrances[-1].id
    wanted = {e.id: float(e.design_flow_m3h or 0.0) for e in net.entrances}
    wanted[far] *= 3.0
    inv = valve_openings(net, wanted)
    assert not inv.success
    assert far in inv.unreachable
    assert inv.shortfall_m[far] > 0.0
    assert np.isnan(inv.entrance_opening[far])
    assert far in inv.message and "short by" in inv.message
    with pytest.raises(UnreachableFlowError):
        inv.raise_if_unreachable()


def test_more_than_the_pump_can_deliver() -> None:
    net = generate_network(100, seed=25)
    wanted = {e.id: 5.0 * float(e.design_flow_m3h or 0.0) for e in net.entrances}
    inv = valve_openings(net, wanted)
    assert not inv.success
    assert "pump cannot deliver" in inv.message
    assert set(inv.unreachable) == {e.id for e in net.entrances}
