"""Test networks and synthetic conditions for the estimation tests.

Networks are built directly as :class:`PipeGraph` s; exact conditions come from the
estimator's own forward model (heads and flows consistent to ~1e-13), the hydraulics
package's closed-loop solver, or EPANET through WNTR. Conditions vary the flow distribution
(different entrance flows per condition), never only the total.
"""

from __future__ import annotations

import numpy as np

from host.models.estimation.forward import solve_flows
from host.models.estimation.graph import PipeGraph, graph_from_edges

Edges = list[tuple[str, str, str]]


def random_tree(n_nodes: int, rng: np.random.Generator) -> Edges:
    """A random tree: node i attaches to a random earlier node."""
    edges = []
    for i in range(1, n_nodes):
        parent = int(rng.integers(max(0, i - 4), i))
        edges.append((f"p{i}", "R" if parent == 0 else f"n{parent}", f"n{i}"))
    return edges


def add_loops(edges: Edges, n_loops: int, rng: np.random.Generator) -> Edges:
    """Extra pipes between random distinct nodes (no parallel duplicates)."""
    nodes = sorted({e[1] for e in edges} | {e[2] for e in edges})
    pairs = {frozenset((a, b)) for _, a, b in edges}
    out = list(edges)
    while len(out) < len(edges) + n_loops:
        a, b = rng.choice(nodes, 2, replace=False)
        if frozenset((a, b)) in pairs:
            continue
        pairs.add(frozenset((a, b)))
        out.append((f"c{len(out)}", str(a), str(b)))
    return out


def outflows(graph: PipeGraph, k_n: int, rng: np.random.Generator) -> np.ndarray:
    """K conditions of outflows at the outflow nodes, each with its own distribution."""
    q = np.zeros((k_n, graph.n_nodes))
    mask = graph.outflow_node.copy()
    mask[graph.reference] = False
    q[:, mask] = rng.uniform(0.5, 5.0, (k_n, int(mask.sum())))
    return q


def synthetic(
    graph: PipeGraph, s: np.ndarray, k_n: int, rng: np.random.Generator, h_ref: float = 40.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(heads (K, n), flows (K, b), outflows (K, n)) solved exactly for S."""
    q = outflows(graph, k_n, rng)
    fr = solve_flows(graph, s, q, h_ref)
    return fr.head_m, fr.flow_m3h, q


def looped_graph(seed: int, n_nodes: int = 14, n_loops: int = 3) -> PipeGraph:
    rng = np.random.default_rng(seed)
    return graph_from_edges(add_loops(random_tree(n_nodes, rng), n_loops, rng), "R")


def tree_with_entrances(seed: int, n_junctions: int = 10) -> tuple[PipeGraph, list[str]]:
    """A branched main (junctions, unmeasured) with one entrance on every junction, plus a
    series chain R → a → J1 so a series group exists."""
    rng = np.random.default_rng(seed)
    edges: Edges = [("m0a", "R", "a"), ("m0b", "a", "J1")]
    for i in range(2, n_junctions + 1):
        edges.append((f"m{i}", f"J{int(rng.integers(max(1, i - 3), i))}", f"J{i}"))
    ents = []
    for i in range(1, n_junctions + 1):
        edges.append((f"e{i}", f"J{i}", f"E{i}"))
        ents.append(f"E{i}")
    graph = graph_from_edges(edges, "R", measured=["R", *ents], outflow_nodes=ents)
    return graph, ents
