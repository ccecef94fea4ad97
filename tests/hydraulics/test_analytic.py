"""Analytic cases: a pump on one resistance, series, parallel, one loop, Darcy pipes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from host.models.hydraulics.friction import head_loss_m, resistance_s2_m5
from host.models.hydraulics.network import Pump, Side
from host.models.hydraulics.results import solve_network
from host.models.hydraulics.system import compile_network
from host.models.hydraulics.valves import Valve
from host.models.hydraulics.water import density_kg_m3, kinematic_viscosity_m2_s
from tests.hydraulics.helpers import assert_invariants
from tests.hydraulics.nets import BIG_VALVE, PUMP, entrance, lumped, network

A_M, C_M = 20.0, -0.05  # PUMP: h = 20 − 0.05·G²
REL = 1e-9


def valve_s(valve: Valve = BIG_VALVE) -> float:
    """S of the nearly-free valve at the test density."""
    return valve.s_m_per_m3h2(density_kg_m3(47.5))


def test_pump_on_single_resistance() -> None:
    s = 0.3
    net = network(("S0", "R0"), (), (entrance("E", "S0", "R0", s),))
    sol = solve_network(net)
    s_total = s + valve_s()
    g = math.sqrt(A_M / (s_total - C_M))
    assert sol.pump_flow_m3h == pytest.approx(g, rel=REL)
    assert sol.pump_head_m == pytest.approx(s_total * g * g, rel=REL)
    assert sol.entrance_flow_m3h[0] == pytest.approx(g, rel=REL)
    assert_invariants(sol.solve)


def test_affinity_laws_scale_flow_with_speed() -> None:
    net = network(("S0", "R0"), (), (entrance("E", "S0", "R0", 0.3),))
    g1 = solve_network(net).pump_flow_m3h
    g07 = solve_network(net.with_pump_speed(0.7)).pump_flow_m3h
    # With b = 0 and a purely quadratic system, flow scales exactly with speed.
    assert g07 == pytest.approx(0.7 * g1, rel=REL)


def test_series() -> None:
    s1, s2, s3, se = 0.05, 0.08, 0.11, 0.4
    net = network(
        ("S0", "S1", "S2", "R2", "R0"),
        (
            lumped("a", "S0", "S1", s1),
            lumped("b", "S1", "S2", s2),
            lumped("c", "R2", "R0", s3, Side.RETURN),
        ),
        (entrance("E", "S2", "R2", se),),
    )
    sol = solve_network(net)
    s_total = s1 + s2 + s3 + se + valve_s()
    g = math.sqrt(A_M / (s_total - C_M))
    assert np.allclose(sol.pipe_flow_m3h, g, rtol=REL)
    heads = dict(zip((n.id for n in net.nodes), sol.node_head_m, strict=True))
    assert heads["S0"] - heads["S1"] == pytest.approx(s1 * g * g, rel=1e-8)
    assert heads["S1"] - heads["S2"] == pytest.approx(s2 * g * g, rel=1e-8)
    assert_invariants(sol.solve)


def test_parallel_entrances() -> None:
    s_a, s_b, s_c = 0.2, 0.45, 1.3
    net = network(
        ("S0", "R0"),
        (),
        (
            entrance("A", "S0", "R0", s_a),
            entrance("B", "S0", "R0", s_b),
            entrance("C", "S0", "R0", s_c),
        ),
    )
    sol = solve_network(net)
    s_each = np.array([s_a, s_b, s_c]) + valve_s()
    s_eq = 1.0 / np.sum(1.0 / np.sqrt(s_each)) ** 2
    g = math.sqrt(A_M / (s_eq - C_M))
    expected = g * (1.0 / np.sqrt(s_each)) / np.sum(1.0 / np.sqrt(s_each))
    assert np.allclose(sol.entrance_flow_m3h, expected, rtol=REL)
    assert_invariants(sol.solve)


def test_single_loop() -> None:
    # S0 → B directly (s_b) or S0 → A → B (s_a + s_ab): two parallel paths, one loop.
    s_a, s_ab, s_b, se = 0.05, 0.07, 0.2, 0.5
    net = network(
        ("S0", "A", "B", "R0"),
        (lumped("a", "S0", "A", s_a), lumped("ab", "A", "B", s_ab), lumped("b", "S0", "B", s_b)),
        (entrance("E", "B", "R0", se),),
    )
    sol = solve_network(net)
    p1, p2 = s_b, s_a + s_ab
    s_par = 1.0 / (1.0 / math.sqrt(p1) + 1.0 / math.sqrt(p2)) ** 2
    g = math.sqrt(A_M / (s_par + se + valve_s() - C_M))
    g_b = g * (1.0 / math.sqrt(p1)) / (1.0 / math.sqrt(p1) + 1.0 / math.sqrt(p2))
    flows = dict(zip((p.id for p in net.pipes), sol.pipe_flow_m3h, strict=True))
    assert flows["b"] == pytest.approx(g_b, rel=REL)
    assert flows["a"] == pytest.approx(g - g_b, rel=REL)
    assert flows["ab"] == pytest.approx(g - g_b, rel=REL)
    assert_invariants(sol.solve)


def _swamee_jain(re: float, rel_rough: float) -> float:
    return 0.25 / math.log10(rel_rough / 3.7 + 5.74 / re**0.9) ** 2


@pytest.mark.parametrize("flow_m3_s", [1e-6, 2e-4, 5e-3, -5e-3])
def test_darcy_laws_against_textbook(flow_m3_s: float) -> None:
    length, d, eps, t_c = 120.0, 0.0531, 1e-4, 55.0
    nu = kinematic_viscosity_m2_s(t_c)
    g = 9.80665
    r = resistance_s2_m5(np.array([length]), np.array([d]), g)
    h, dh = head_loss_m(np.array([flow_m3_s]), r, np.array([eps / d]), np.array([nu * d]))
    q = abs(flow_m3_s)
    re = 4.0 * q / (math.pi * nu * d)
    v = q / (math.pi * d * d / 4.0)
    f = 64.0 / re if re <= 2000 else _swamee_jain(re, eps / d)
    assert re <= 2000 or re >= 4000  # the chosen flows avoid the transition zone
    expected = math.copysign(f * length / d * v * v / (2 * g), flow_m3_s)
    assert h[0] == pytest.approx(expected, rel=1e-12)
    # The analytic gradient matches a central difference.
    step = 1e-7 * q
    hp, _ = head_loss_m(np.array([flow_m3_s + step]), r, np.array([eps / d]), np.array([nu * d]))
    hm, _ = head_loss_m(np.array([flow_m3_s - step]), r, np.array([eps / d]), np.array([nu * d]))
    assert dh[0] == pytest.approx((hp[0] - hm[0]) / (2 * step), rel=1e-5)


def test_transition_zone_is_continuous() -> None:
    d, nu = 0.05, 5e-7
    r = resistance_s2_m5(np.array([1.0]), np.array([d]), 9.80665)
    for re in (2000.0, 4000.0):
        q = re * math.pi * nu * d / 4.0
        lo, _ = head_loss_m(np.array([q * (1 - 1e-9)]), r, np.array([0.002]), np.array([nu * d]))
        hi, _ = head_loss_m(np.array([q * (1 + 1e-9)]), r, np.array([0.002]), np.array([nu * d]))
        assert hi[0] == pytest.approx(lo[0], rel=1e-6)


def test_closed_valve_and_zero_flow_branch_do_not_break_newton() -> None:
    # E2 fully closed; pipe "dead" leads to a node with no consumer (zero flow).
    shut = Valve(kvs_m3h=4.0, opening=0.0)
    net = network(
        ("S0", "S1", "D", "R0"),
        (lumped("a", "S0", "S1", 0.05), lumped("dead", "S1", "D", 0.02)),
        (entrance("E1", "S1", "R0", 0.5), entrance("E2", "S1", "R0", 0.5, shut)),
    )
    sol = solve_network(net)
    assert sol.success
    assert abs(sol.entrance_flow_m3h[1]) < 1e-3  # a closed valve passes only its leakage
    assert abs(sol.pipe_flow_m3h[1]) < 1e-12
    assert_invariants(sol.solve)


def test_pump_curve_single_point_rule() -> None:
    pump = Pump((10.0,), (15.0,), 1.0)
    a, b, c = pump.coefficients
    assert (a, b) == (20.0, 0.0)
    assert pump.head_m(10.0) == pytest.approx(15.0)
    assert PUMP.head_m(10.0) == pytest.approx(15.0)


def test_compile_adds_internal_household_nodes() -> None:
    from host.models.hydraulics.network import Household

    net = network(
        ("S0", "R0"),
        (),
        (entrance("E", "S0", "R0", 0.1),),
        (Household("h1", "E", 20.0), Household("h2", "E", 30.0, BIG_VALVE)),
    )
    system = compile_network(net)
    assert "E/hs" in system.node_ids and "E/hr" in system.node_ids
    sol = solve_network(net)
    # Two households in parallel share one head: flows in ratio sqrt(S2/S1).
    q1, q2 = sol.household_flow_m3h
    assert q1 / q2 == pytest.approx(math.sqrt((30.0 + valve_s()) / 20.0), rel=1e-7)
    assert q1 + q2 == pytest.approx(sol.entrance_flow_m3h[0], rel=1e-12)
