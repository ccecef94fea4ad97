"""The estimator's graph, its forward model and the selection of conditions."""

from __future__ import annotations

import numpy as np
import pytest

from host.models.estimation.conditions import Conditions
from host.models.estimation.forward import head_sensitivity, solve_flows
from host.models.estimation.graph import GraphError, PipeGraph, graph_from_edges
from host.models.estimation.identifiability import proportional_conditions
from host.models.estimation.selection import select_distinct, steady_conditions
from tests.estimation.nets import add_loops, outflows, random_tree


def _graph(seed: int = 0) -> PipeGraph:
    rng = np.random.default_rng(seed)
    return graph_from_edges(add_loops(random_tree(30, rng), 4, rng), "R")


def test_tree_flows_balance_and_loop_basis_is_circulation() -> None:
    g = _graph()
    rng = np.random.default_rng(1)
    q = outflows(g, 3, rng)
    q[:, g.reference] = -q.sum(axis=1)
    flows = g.tree_flows(q)
    np.testing.assert_allclose(g.incidence @ flows.T, q.T, atol=1e-12)
    assert g.loop_basis.shape == (g.n_pipes, g.n_loops) == (g.n_pipes, 4)
    assert np.abs(g.incidence @ g.loop_basis).max() == 0.0
    assert len(g.chords) == 4 and g.in_loop[g.chords].all()


def test_forward_model_satisfies_both_laws() -> None:
    g = _graph(2)
    rng = np.random.default_rng(2)
    s = rng.uniform(0.1, 3.0, g.n_pipes)
    q = outflows(g, 2, rng)
    fr = solve_flows(g, s, q, 30.0)
    q_bal = q.copy()
    q_bal[:, g.reference] = -q[:, 1:].sum(axis=1)
    np.testing.assert_allclose((g.incidence @ fr.flow_m3h.T).T, q_bal, atol=1e-10)
    dh = fr.head_m[:, g.pipe_from] - fr.head_m[:, g.pipe_to]
    law = s * np.abs(fr.flow_m3h) * fr.flow_m3h
    assert np.max(np.abs(dh - law)) < 1e-10 * np.max(np.abs(law))


def test_head_sensitivity_matches_finite_differences() -> None:
    g = _graph(3)
    rng = np.random.default_rng(3)
    s = rng.uniform(0.1, 3.0, g.n_pipes)
    q = outflows(g, 1, rng)
    fr = solve_flows(g, s, q)
    nodes = np.arange(1, g.n_nodes, 3)
    jac = head_sensitivity(g, s, fr.flow_m3h[0], nodes)
    for j in rng.choice(g.n_pipes, 6, replace=False):
        s2 = s.copy()
        s2[j] *= 1 + 1e-6
        fd = (solve_flows(g, s2, q).head_m[0, nodes] - fr.head_m[0, nodes]) / (s[j] * 1e-6)
        np.testing.assert_allclose(jac[:, j], fd, rtol=1e-4, atol=1e-6 * np.abs(jac).max())


def test_series_chains_merge_through_plain_junctions() -> None:
    g = graph_from_edges(
        [("a", "R", "x"), ("b", "x", "y"), ("c", "y", "E1"), ("d", "y", "E2")],
        "R",
        measured=["R", "E1", "E2"],
        outflow_nodes=["E1", "E2"],
    )
    chains = {tuple(g.pipe_ids[j] for j in c) for c in g.series_chains()}
    assert chains == {("a", "b"), ("c",), ("d",)}


def test_graph_errors_are_named() -> None:
    with pytest.raises(GraphError, match=r"2 node\(s\) not connected to the reference: y, z"):
        graph_from_edges([("a", "R", "x"), ("b", "y", "z")], "R")
    with pytest.raises(GraphError, match="starts and ends at the same node"):
        graph_from_edges([("a", "R", "R")], "R")
    with pytest.raises(GraphError, match="known S that is not > 0"):
        graph_from_edges([("a", "R", "x")], "R", known_s={"a": -1.0})


def _conds(flows: np.ndarray) -> Conditions:
    k_n = flows.shape[0]
    return Conditions(
        tuple(f"c{k}" for k in range(k_n)),
        tuple(f"t{k}" for k in range(k_n)),
        {"S0": np.full(k_n, 40.0)},
        {f"E{i}": flows[:, i] for i in range(flows.shape[1])},
    )


def test_select_distinct_drops_proportional_conditions() -> None:
    rng = np.random.default_rng(4)
    base = rng.uniform(1, 5, (3, 6))
    flows = np.vstack([base, 1.5 * base[0], 0.8 * base[1], base[2] * 1.1])
    chosen = select_distinct(_conds(flows), max_conditions=10)
    assert len(chosen) == 3
    assert not proportional_conditions(flows[chosen])
    assert proportional_conditions(np.vstack([base[0], 2 * base[0]]))


def test_steady_windows_only() -> None:
    flows = np.ones((12, 2))
    flows[4:6, 0] = [1.5, 0.7]  # a transient
    c = steady_conditions(_conds(flows), window=3)
    assert c.n_conditions == 3
    assert all("c4" not in cid and "c5" not in cid for cid in c.condition_ids)
