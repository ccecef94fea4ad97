"""Heads only at the station and the entrances: path equations, series groups, loops."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from host.models.estimation.graph import graph_from_edges
from host.models.estimation.partial import estimate_partial, path_matrix
from host.models.estimation.result import Status
from host.models.estimation.weighting import SensorModel
from tests.estimation.nets import looped_graph, synthetic, tree_with_entrances

EXACT = 1e-9


def _hide(graph, heads):
    h = heads.copy()
    h[:, ~graph.head_measured] = np.nan
    return h


def test_path_matrix_sums_head_losses() -> None:
    graph, _ = tree_with_entrances(0)
    rng = np.random.default_rng(0)
    s = rng.uniform(0.1, 2.0, graph.n_pipes)
    heads, flows, _ = synthetic(graph, s, 2, rng)
    pi = path_matrix(graph, np.arange(graph.n_nodes))
    dh = s * np.abs(flows) * flows
    np.testing.assert_allclose((pi @ dh.T).T, heads[:, [0]] - heads, atol=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_tree_exact_with_minimum_conditions_and_series_group(seed: int) -> None:
    graph, ents = tree_with_entrances(seed)
    rng = np.random.default_rng(seed)
    s = rng.uniform(0.05, 2.0, graph.n_pipes)
    chains = graph.series_chains()
    k_min = int(np.ceil(len(chains) / len(ents)))  # one equation per entrance and condition
    heads, _, q = synthetic(graph, s, k_min, rng)
    res = estimate_partial(graph, _hide(graph, heads), q)
    assert res.min_conditions == k_min
    assert res.rank == res.n_unknowns == len(chains), res.message
    series = {g.pipe_ids: g for g in res.groups if g.kind == "series"}
    assert ("m0a", "m0b") in series
    assert len(series) == sum(len(c) > 1 for c in chains)
    for ids, grp in series.items():
        total = sum(s[graph.pipe_index[p]] for p in ids)
        assert abs(grp.s_m_per_m3h2 / total - 1) < EXACT
        assert all(not res.identifiable[graph.pipe_index[p]] for p in ids)
    single = np.isfinite(res.s_m_per_m3h2)
    assert single.sum() == sum(len(c) == 1 for c in chains)
    assert np.max(np.abs(res.s_m_per_m3h2[single] / s[single] - 1)) < EXACT
    assert any("pressure sensor at a" in t for t in res.suggestions)


def test_tree_too_few_conditions_detected() -> None:
    graph, ents = tree_with_entrances(5)
    rng = np.random.default_rng(5)
    s = rng.uniform(0.05, 2.0, graph.n_pipes)
    heads, _, q = synthetic(graph, s, 1, rng)
    res = estimate_partial(graph, _hide(graph, heads), q)
    assert res.rank < res.n_unknowns
    assert res.status in (Status.PARTIAL, Status.FAILED)
    assert any("too few independent conditions" in r for r in res.reason)
    assert res.suggestions


def test_tree_proportional_conditions_detected() -> None:
    graph, _ = tree_with_entrances(6)
    rng = np.random.default_rng(6)
    s = rng.uniform(0.05, 2.0, graph.n_pipes)
    heads, _, q = synthetic(graph, s, 1, rng)
    q3 = np.vstack([q, 1.3 * q, 0.7 * q])
    h3 = np.vstack([heads, 40 + 1.3**2 * (heads - 40), 40 + 0.49 * (heads - 40)])
    res = estimate_partial(graph, _hide(graph, h3), q3)
    assert res.rank < res.n_unknowns
    assert any("scale one flow distribution" in r for r in res.reason)


def test_biased_entrance_sensor_does_not_spoil_the_others() -> None:
    graph, ents = tree_with_entrances(7, n_junctions=12)
    rng = np.random.default_rng(7)
    s = rng.uniform(0.05, 1.0, graph.n_pipes)
    heads, _, q = synthetic(graph, s, 10, rng)
    noisy = heads + 0.005 * rng.standard_normal(heads.shape)
    bad = graph.node_index["E5"]
    noisy[:, bad] -= 1.5  # biased transducer
    sensors = SensorModel(head_abs_m=0.005, flow_rel=1e-4)
    res = estimate_partial(graph, _hide(graph, noisy), q, sensors)
    plain = estimate_partial(graph, _hide(graph, noisy), q, sensors, robust=False)
    own = graph.pipe_index["e5"]  # only the biased sensor sees this leaf pipe
    others = np.isfinite(res.s_m_per_m3h2)
    others[own] = False
    rel = np.abs(res.s_m_per_m3h2[others] / s[others] - 1)
    rel_plain = np.abs(plain.s_m_per_m3h2[others] / s[others] - 1)
    assert np.max(rel) < 0.03
    assert np.max(rel_plain) > 2 * np.max(rel)  # without Huber the bias leaks
    assert "head at node E5" in res.suspect_sensors


def test_unmeasured_leaf_is_blind() -> None:
    graph, ents = tree_with_entrances(8)
    measured = ["R", *ents[1:]]  # E1 has no pressure sensor
    edges = list(
        zip(
            graph.pipe_ids,
            [graph.node_ids[i] for i in graph.pipe_from],
            [graph.node_ids[i] for i in graph.pipe_to],
            strict=True,
        )
    )
    g2 = graph_from_edges(edges, "R", measured=measured, outflow_nodes=ents)
    rng = np.random.default_rng(8)
    s = rng.uniform(0.05, 2.0, g2.n_pipes)
    heads, _, q = synthetic(g2, s, 4, rng)
    res = estimate_partial(g2, _hide(g2, heads), q)
    j = g2.pipe_index["e1"]
    assert not res.identifiable[j]
    assert "no measured head depends on it" in res.reason[j]
    assert any("pressure sensor at" in t and "E1" in t for t in res.suggestions)


def _looped_entrances(seed: int):
    rng = np.random.default_rng(seed)
    edges = [
        ("m1", "R", "J1"),
        ("m2", "J1", "J2"),
        ("m3", "J2", "J3"),
        ("m4", "J3", "J4"),
        ("b1", "J1", "E1"),
        ("b2", "J2", "E2"),
        ("b3", "J3", "E3"),
        ("b4", "J4", "E4"),
        ("b5", "J4", "E5"),
        ("x1", "E1", "E2"),
        ("x2", "E4", "E5"),
        ("m5", "J2", "J5"),
        ("b6", "J5", "E6"),
        ("b7", "J5", "E7"),
    ]
    ents = [f"E{i}" for i in range(1, 8)]
    graph = graph_from_edges(edges, "R", measured=["R", *ents], outflow_nodes=ents)
    return graph, rng.uniform(0.2, 2.0, graph.n_pipes), rng


@pytest.mark.parametrize("seed", [0, 2, 3])
def test_looped_iterative_fit_exact_from_design_values(seed: int) -> None:
    graph, s, rng = _looped_entrances(seed)
    heads, _, q = synthetic(graph, s, 5, rng, h_ref=0.0)
    design = s * rng.uniform(0.7, 1.4, graph.n_pipes)  # design values within ±40 %
    res = estimate_partial(graph, _hide(graph, heads), q, s_start=design)
    assert res.method == "partial-loop"
    assert res.rank == res.n_unknowns
    # condition number ~1e6 here (5 mm sensors would leave most pipes uncertain): the
    # data's 1e-13 consistency gives ~1e-7, not the 1e-9 of the linear methods
    assert np.max(np.abs(res.s_m_per_m3h2 / s - 1)) < 1e-6


def test_looped_side_with_only_the_station_head_reports_instead_of_crashing() -> None:
    """A looped side whose only measured head is the reference has no equation: every pipe is
    reported as seen by no head (it used to raise numpy's zero-size reduction error)."""
    graph = looped_graph(3, n_nodes=20, n_loops=3)
    rng = np.random.default_rng(1)
    s = rng.uniform(0.1, 2.0, graph.n_pipes)
    heads, _, q = synthetic(graph, s, 3, rng)
    only_ref = np.zeros(graph.n_nodes, dtype=bool)
    only_ref[graph.reference] = True
    blind = dataclasses.replace(graph, head_measured=only_ref)
    res = estimate_partial(blind, np.where(only_ref, heads, np.nan), q, s_start=1.1 * s)
    assert res.status == Status.FAILED and not np.any(res.identifiable)
    assert all("no measured head depends on it" in r for r in res.reason)
