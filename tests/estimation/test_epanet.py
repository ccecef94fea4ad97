"""Measurements produced by EPANET (through WNTR), not by our own solvers, estimated back.

EPANET's Chezy–Manning head loss ``h = k·n²·L·Q²/d^5.33`` is exactly quadratic in the flow,
so every pipe has one true S. The truth is read from EPANET's own link flows and head
differences (S = Δh/Q², identical across conditions); the estimator sees only node heads and
node demands. EPANET stops at ACCURACY 1e-5 (plus our HEADERROR 1e-6 m), so agreement is to
about 1e-4, not to machine precision.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import wntr  # the independent solver: a missing install fails, never skips

from host.models.estimation.full import dh_from_heads, estimate_full
from host.models.estimation.graph import PipeGraph, graph_from_edges
from host.models.estimation.partial import estimate_partial
from host.models.estimation.weighting import SensorModel
from tests.estimation.nets import add_loops, random_tree, tree_with_entrances

M3H_PER_M3S = 3600.0


def _run_epanet(graph: PipeGraph, q_m3h: np.ndarray, workdir: Path, seed: int):
    rng = np.random.default_rng(seed)
    length = rng.uniform(20.0, 200.0, graph.n_pipes)
    diam = rng.choice([0.05, 0.08, 0.1, 0.125, 0.15], graph.n_pipes)
    heads, flows = [], []
    for k in range(q_m3h.shape[0]):
        wn = wntr.network.WaterNetworkModel()
        opts = wn.options.hydraulic
        opts.headloss = "C-M"
        opts.inpfile_units = "CMH"
        opts.accuracy = 1e-5
        opts.headerror = 1e-6
        opts.trials = 1000
        wn.options.time.duration = 0
        for i, nid in enumerate(graph.node_ids):
            if i == graph.reference:
                wn.add_reservoir(nid, base_head=60.0)
            else:
                wn.add_junction(nid, base_demand=float(q_m3h[k, i]) / M3H_PER_M3S, elevation=0.0)
        for j, pid in enumerate(graph.pipe_ids):
            wn.add_pipe(
                pid,
                graph.node_ids[graph.pipe_from[j]],
                graph.node_ids[graph.pipe_to[j]],
                length=float(length[j]),
                diameter=float(diam[j]),
                roughness=0.012,
                minor_loss=0.0,
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = wntr.sim.EpanetSimulator(wn).run_sim(
                file_prefix=str(workdir / f"epanet{k}"), version=2.2
            )
        heads.append(res.node["head"].iloc[0].reindex(list(graph.node_ids)).to_numpy(float))
        flows.append(
            res.link["flowrate"].iloc[0].reindex(list(graph.pipe_ids)).to_numpy(float)
            * M3H_PER_M3S
        )
    heads_a, flows_a = np.array(heads), np.array(flows)
    s_true_k = dh_from_heads(graph, heads_a) / (np.abs(flows_a) * flows_a)
    s_true = np.median(s_true_k, axis=0)
    return heads_a, s_true, s_true_k


def test_full_measurement_from_epanet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(1)
    graph = graph_from_edges(add_loops(random_tree(25, rng), 3, rng), "R")
    q = np.zeros((3, graph.n_nodes))
    q[:, 1:] = rng.uniform(1.0, 8.0, (3, graph.n_nodes - 1))
    heads, s_true, s_true_k = _run_epanet(graph, q, tmp_path, 1)
    flowing = np.min(np.abs(s_true_k / s_true - 1), axis=0) < 1e-3  # exact quadratic law
    assert flowing.mean() > 0.9
    res = estimate_full(
        graph, dh_from_heads(graph, heads), q, SensorModel(head_abs_m=1e-5, flow_rel=1e-5)
    )
    assert res.rank == res.n_unknowns
    ok = res.identifiable
    rel = np.abs(res.s_m_per_m3h2[ok] / s_true[ok] - 1)
    assert ok.mean() > 0.8
    assert np.median(rel) < 1e-4 and np.max(rel) < 2e-2  # EPANET itself: ~1e-2 worst


def test_station_and_entrances_from_epanet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    graph, ents = tree_with_entrances(3, n_junctions=10)
    rng = np.random.default_rng(3)
    q = np.zeros((5, graph.n_nodes))
    for e in ents:
        q[:, graph.node_index[e]] = rng.uniform(1.0, 8.0, 5)
    heads, s_true, _ = _run_epanet(graph, q, tmp_path, 3)
    h = heads.copy()
    h[:, ~graph.head_measured] = np.nan
    res = estimate_partial(graph, h, q, SensorModel(head_abs_m=1e-5, flow_rel=1e-5))
    assert res.rank == res.n_unknowns
    singles = np.isfinite(res.s_m_per_m3h2) & res.identifiable
    rel = np.abs(res.s_m_per_m3h2[singles] / s_true[singles] - 1)
    assert singles.sum() >= 5 and np.max(rel) < 1e-3
    for g in res.groups:
        if g.kind == "series" and g.identifiable:
            total = sum(s_true[graph.pipe_index[p]] for p in g.pipe_ids)
            assert abs(g.s_m_per_m3h2 / total - 1) < 1e-3
