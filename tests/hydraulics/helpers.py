"""Shared checks for the hydraulics tests: invariants judged by the worst element."""

from __future__ import annotations

from collections import deque

import numpy as np

from host.models.hydraulics.solver import SolveResult, head_loss_m
from host.models.hydraulics.system import HydraulicSystem


def mass_balance_worst_rel(system: HydraulicSystem, flow_m3_s: np.ndarray) -> float:
    """Worst |inflow − outflow − demand| over nodes of unknown head, relative to max |Q|."""
    n = system.n_nodes
    net_out = np.bincount(system.start, flow_m3_s, minlength=n) - np.bincount(
        system.end, flow_m3_s, minlength=n
    )
    free = np.isnan(system.fixed_head_m)
    imbalance = np.abs(net_out + system.demand_m3_s)[free]
    return float(imbalance.max(initial=0.0) / np.max(np.abs(flow_m3_s)))


def loop_head_sums_worst_m(system: HydraulicSystem, flow_m3_s: np.ndarray) -> float:
    """Worst |Σ head loss| around every fundamental cycle (and path between fixed heads).

    Potentials are integrated from the laws alone along a BFS spanning tree rooted at the
    fixed-head nodes (each tree seeded with its known head), never from the solver's heads;
    every non-tree link then closes one cycle.
    """
    h, _ = head_loss_m(system, flow_m3_s)
    adj: list[list[tuple[int, int, float]]] = [[] for _ in range(system.n_nodes)]
    for k, (a, b) in enumerate(zip(system.start, system.end, strict=True)):
        adj[a].append((b, k, -h[k]))  # potential drops by h going start → end
        adj[b].append((a, k, h[k]))
    pot = np.full(system.n_nodes, np.nan)
    fixed = np.flatnonzero(~np.isnan(system.fixed_head_m))
    pot[fixed] = system.fixed_head_m[fixed]
    queue = deque(int(i) for i in fixed)
    tree: set[int] = set()
    while queue:
        u = queue.popleft()
        for v, k, dh in adj[u]:
            if np.isnan(pot[v]):
                pot[v] = pot[u] + dh
                tree.add(k)
                queue.append(v)
    closing = [k for k in range(system.n_links) if k not in tree]
    if not closing:
        return 0.0
    ks = np.array(closing)
    sums = h[ks] - (pot[system.start[ks]] - pot[system.end[ks]])
    return float(np.max(np.abs(sums)))


def assert_invariants(result: SolveResult, head_tol_m: float = 1e-6) -> None:
    """Mass balance to 1e-9 relative and loop head sums to the solver tolerance."""
    assert result.success, result.message
    system = result.system
    assert mass_balance_worst_rel(system, result.flow_m3_s) <= 1e-9
    assert loop_head_sums_worst_m(system, result.flow_m3_s) <= head_tol_m
    assert np.all(np.isfinite(result.head_m))
