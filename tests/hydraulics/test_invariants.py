"""Invariants on every solve of generated networks, judged by the worst element."""

from __future__ import annotations

import numpy as np
import pytest

from host.models.hydraulics.errors import NotConvergedError
from host.models.hydraulics.generate import generate_network
from host.models.hydraulics.results import solve_network
from host.models.hydraulics.solver import SolverOptions, Status, prepare, solve_system
from host.models.hydraulics.system import compile_network
from tests.hydraulics.helpers import (
    assert_invariants,
    loop_head_sums_worst_m,
    mass_balance_worst_rel,
)


@pytest.mark.parametrize(
    ("n_nodes", "seed", "households"),
    [(60, 1, True), (200, 2, False), (400, 3, True), (1500, 4, False)],
)
def test_invariants_on_generated_networks(n_nodes: int, seed: int, households: bool) -> None:
    net = generate_network(n_nodes, seed=seed, with_households=households)
    sol = solve_network(net)
    assert_invariants(sol.solve)
    assert np.all(sol.entrance_flow_m3h > 0.0)
    assert np.all(sol.entrance_dp_kpa > 0.0)


def test_invariants_with_random_openings_including_closed() -> None:
    net = generate_network(300, seed=5, with_households=True)
    rng = np.random.default_rng(11)
    openings = {e.id: float(rng.choice([0.0, 0.05, 0.3, 1.0])) for e in net.entrances}
    hh = {h.id: float(rng.choice([0.0, 0.5, 1.0])) for h in net.households}
    sol = solve_network(net.with_openings(openings, hh))
    assert_invariants(sol.solve)
    closed = np.array([openings[e.id] == 0.0 for e in net.entrances])
    assert closed.any()
    # A closed valve passes only its leakage: Kv = 1e-5·Kvs.
    assert np.max(np.abs(sol.entrance_flow_m3h[closed])) < 1e-3


def test_converges_from_cold_start_in_few_iterations() -> None:
    net = generate_network(2000, seed=6)
    sol = solve_network(net)
    assert sol.success
    assert sol.n_iter <= 15


def test_failed_solve_returns_nan_not_partial_results() -> None:
    system = compile_network(generate_network(100, seed=7))
    res = solve_system(system, SolverOptions(max_iter=1))
    assert not res.success
    assert res.status is Status.MAX_ITER
    assert np.all(np.isnan(res.flow_m3_s)) and np.all(np.isnan(res.head_m))
    assert "no convergence" in res.message
    sol = solve_network(generate_network(100, seed=7), SolverOptions(max_iter=1))
    assert not sol.success and np.all(np.isnan(sol.entrance_flow_m3h))
    with pytest.raises(NotConvergedError, match="no convergence"):
        sol.require_success()


def test_prepared_structure_is_reusable() -> None:
    net = generate_network(300, seed=8)
    system = compile_network(net)
    prep = prepare(system)
    first = solve_system(system, prepared=prep)
    again = solve_system(system, prepared=prep)
    assert np.array_equal(first.flow_m3_s, again.flow_m3_s)
    assert mass_balance_worst_rel(system, first.flow_m3_s) <= 1e-9
    assert loop_head_sums_worst_m(system, first.flow_m3_s) <= 1e-6


def test_generator_is_seeded_and_realistic() -> None:
    a = generate_network(500, seed=9)
    b = generate_network(500, seed=9)
    c = generate_network(500, seed=10)
    assert a == b and a != c
    assert 500 <= len(a.nodes) <= 520
    floors = [e.floors for e in a.entrances]
    assert min(floors) >= 4 and max(floors) <= 18
    per_building: dict[str, int] = {}
    for e in a.entrances:
        per_building[e.building] = per_building.get(e.building, 0) + 1
    assert 1 <= min(per_building.values()) and max(per_building.values()) <= 6
    # Pipes shrink towards the ends: the station's mains are the largest.
    diam = {p.id: p.diameter_mm for p in a.pipes}
    assert diam["S-M1"] == max(diam.values())
    # A few loops: more pipes than a tree would need.
    assert len(a.pipes) > len(a.nodes) - 2
