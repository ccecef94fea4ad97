"""Which pipes or groups the data can identify, why not, and what extra data would help.

The linear systems of :mod:`host.models.estimation.full` and
:mod:`host.models.estimation.partial` have a null space when the data cannot fix every unknown.
Each null vector moves some pipes' S while keeping every measurement unchanged; pipes moved
together form a group. Groups are localised by reducing the null basis to row echelon form (one
pivot pipe per vector), so independent defects (two separate parallel pairs) stay separate
groups.

Reasons a pipe is not identifiable, in the words the report uses:

- ``parallel``: same two end nodes, or a loop that meets the network at only two nodes: the
  pipes always see the same head difference; only their equivalent S is identifiable;
- ``series``: no head sensor between them: only the sum of S is identifiable;
- ``proportional``: all conditions are scaled copies of one flow distribution;
- ``too few conditions``: fewer independent equations than unknowns;
- ``head loss below sensor error``: the pipe's head loss never exceeds the sensor noise.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import scipy.linalg as sla

from host.models.estimation.graph import FloatArray, IntArray, PipeGraph

#: Relative threshold below which a null vector's component counts as zero.
_NULL_TOL = 1e-8
#: Second singular value of the normalised outflow matrix below which conditions are
#: considered proportional.
PROPORTIONAL_TOL = 1e-6


def null_groups(null_vectors: FloatArray) -> list[IntArray]:
    """Groups of unknowns moved together by a null space basis (rows: unknowns).

    Returns index arrays, one per group, in order of first index.
    """
    nv = np.atleast_2d(np.asarray(null_vectors, dtype=float))
    if nv.size == 0 or nv.shape[1] == 0:
        return []
    scale = np.max(np.abs(nv), axis=0, keepdims=True)
    nv = nv / np.where(scale > 0, scale, 1.0)
    touched = np.flatnonzero(np.max(np.abs(nv), axis=1) > _NULL_TOL)
    if touched.size == 0:
        return []
    sub = nv[touched]  # (t, m)
    # pivots: column-pivoted QR of subᵀ picks m well-conditioned pivot rows
    _, _, piv = sla.qr(sub.T, pivoting=True, mode="economic")
    m = min(sub.shape[1], sub.shape[0])
    pivots = piv[:m]
    basis = np.linalg.lstsq(sub[pivots].T, sub.T, rcond=None)[0].T  # (t, m): identity at pivots
    parent = list(range(len(touched)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for col in range(m):
        members = np.flatnonzero(np.abs(basis[:, col]) > _NULL_TOL)
        for a in members[1:]:
            ra, rb = find(int(members[0])), find(int(a))
            if ra != rb:
                parent[rb] = ra
    groups: dict[int, list[int]] = {}
    for i in range(len(touched)):
        groups.setdefault(find(i), []).append(int(touched[i]))
    return sorted((np.array(v, dtype=np.intp) for v in groups.values()), key=lambda g: g[0])


def proportional_conditions(outflow_m3h: FloatArray) -> bool:
    """True when every condition's outflows are a scalar multiple of one distribution."""
    q = np.atleast_2d(np.asarray(outflow_m3h, dtype=float))
    if q.shape[0] < 2:
        return False
    norms = np.linalg.norm(q, axis=1, keepdims=True)
    qn = q / np.where(norms > 0, norms, 1.0)
    sv = np.linalg.svd(qn, compute_uv=False)
    return bool(sv[1] <= PROPORTIONAL_TOL * sv[0])


def group_kind(graph: PipeGraph, pipes: IntArray) -> tuple[str, tuple[str, ...]]:
    """("parallel", end nodes) when the group meets the rest at two nodes, else "coupled"."""
    ends = graph.boundary_nodes(pipes)
    names = tuple(graph.node_ids[i] for i in ends)
    return ("parallel" if len(ends) == 2 else "coupled"), names


def min_conditions(graph: PipeGraph, n_unknown_pipes: int, n_equations_per_condition: int) -> int:
    """Fewest conditions that can make the system square: ⌈unknowns / equations⌉, at least 1.

    For the full method the unknowns are the b unknown y's and every condition adds n node
    equations (the paper's K·n ≥ b). For path equations, one equation per measured head.
    """
    if n_unknown_pipes == 0:
        return 1
    if n_equations_per_condition <= 0:
        return 0
    return max(1, math.ceil(n_unknown_pipes / n_equations_per_condition))


def nearest_outflow_nodes(graph: PipeGraph, pipes: IntArray, limit: int = 3) -> list[str]:
    """Entrances (outflow nodes) closest to a pipe set, by breadth-first search."""
    start = np.unique(np.concatenate([graph.pipe_from[pipes], graph.pipe_to[pipes]]))
    adj: dict[int, list[int]] = {}
    for a, b in zip(graph.pipe_from.tolist(), graph.pipe_to.tolist(), strict=True):
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    seen = set(start.tolist())
    queue = deque(start.tolist())
    found: list[str] = []
    while queue and len(found) < limit:
        v = queue.popleft()
        if graph.outflow_node[v]:
            found.append(graph.node_ids[v])
        for w in adj.get(v, []):
            if w not in seen:
                seen.add(w)
                queue.append(w)
    return found


def suggestion(
    graph: PipeGraph, pipes: IntArray, kind: str, *, proportional: bool, short_by: int
) -> str:
    """One sentence telling the operator what extra data would identify a group."""
    ids = ", ".join(graph.pipe_ids[j] for j in pipes[:6]) + (" …" if len(pipes) > 6 else "")
    if kind == "parallel":
        return (
            f"pipes {ids} always see the same head difference: no valve move separates them; "
            "only their equivalent S is reported (a flow meter in one of them would split it)"
        )
    if kind == "series":
        inner = sorted(
            {graph.node_ids[i] for j in pipes for i in (graph.pipe_from[j], graph.pipe_to[j])}
            - set(graph.node_ids[i] for i in graph.boundary_nodes(pipes))
        )
        where = ", ".join(inner[:4]) or "between them"
        return f"pipes {ids} are in series: a pressure sensor at {where} would separate them"
    near = nearest_outflow_nodes(graph, pipes)
    valves = ", ".join(near) if near else "any entrance"
    if proportional:
        return (
            f"pipes {ids}: all conditions scale one flow distribution; record a condition with "
            f"the entrance valve(s) at {valves} closed by 30–50 % while the others stay put"
        )
    extra = f"{short_by} more condition(s)" if short_by > 0 else "another condition"
    return (
        f"pipes {ids}: record {extra} that change(s) the flow split around them, e.g. the "
        f"entrance valve(s) at {valves} closed by 30–50 % while the others stay put"
    )
