"""Entrances as links between the supply and the return network: valves of known opening.

An entrance joins its supply node s and its return node r. Water runs s → building (risers,
radiators or heat exchanger: the internal resistance ``S_int``) → entrance valve → r, so in
condition k, with the entrance flow ``G_k`` and the valve opening ``x_k``,

    H_s − H_r = (S_int + c·S_valve(x_k))·G_k² ,

where ``S_valve(x)`` is the valve's nominal resistance at opening x (characteristic, Kvs and
rangeability from the network file, the law of :mod:`host.models.hydraulics.valves`) and ``c`` a
calibration factor common to every entrance valve (1 when the valve data are trusted).

What is unknown (``mode``):

- ``"internal"``: ``S_int`` of every entrance (its building); the valves are known
  resistances (c = 1). With households, ``S_int`` is the whole building except the entrance
  valve (risers and households in parallel), constant while household valves stay put.
- ``"factor"``: the one factor ``c``; the buildings' S come from the file (``internal_s`` plus
  the households in parallel at the file's openings).
- ``"both"``: ``S_int`` of every entrance and ``c``.

The joint system (both sides trees, path method): one graph of supply pipes, return pipes and
entrance links (supply node → return node), reference the station supply node. Every flow is
known from the entrance flows. Per condition the rows are

- the path equation of every measured node of a side estimated jointly (as in :mod:`.partial`:
  ``H_ref − H_m = Σ ±S|G|G`` from that side's station node);
- one entrance equation per entrance: ``H_a − H_b = Σ_{a→s} S|G|G + S_e·G² + Σ_{r→b} S|G|G``
  where ``a`` is the nearest measured node on the supply path from the station to s (s itself
  when measured, else a junction or the station) and ``b`` likewise on the return side. With
  the side path equations this is the whole circuit station supply → entrance → station
  return, ``H_S0 − H_R0 = Σ_supply + (S_int + c·S_valve)G² + Σ_return``, written between the
  nearest sensors. The known part of ``S_e·G²`` moves to the left side; the rest is linear in
  the unknowns (pipe groups, ``S_int``, ``c``).

Entrance links join the series chains of :meth:`PipeGraph.series_chains`: a building whose
entrance nodes have no head sensor is in series with its service pipes (same flow in every
condition), and only the sum ``S_service,supply + S_int + S_service,return`` is identifiable.
Moving valves does not change that (``S_valve·G²`` is known), but it separates ``c``:
``c·S_valve(x_k)·G_k²`` varies like ``G_k²`` only when the openings never change.

A side whose entrance nodes all have a head takes no part in the joint system (no entrance
equation crosses it): it is estimated on its own exactly as without entrances (full, tree or
looped method), so measuring both heads of every entrance changes no pipe estimate, and the
entrance equations then give ``S_int`` (or ``c``) directly. A looped side with an unmeasured
entrance node is also estimated on its own; entrances with an unmeasured node on it get no
equation (the looped path fit with entrances is not implemented).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from host.errors import EvenheatError
from host.models.estimation.conditions import Conditions
from host.models.estimation.graph import FloatArray, IntArray, PipeGraph
from host.models.estimation.identifiability import null_groups
from host.models.estimation.partial import (
    _design,
    _finish,
    _pipe_s,
    _row_var,
    _Setup,
    _Wls,
    group_arrays,
    irls,
    path_matrix,
    series_groups,
)
from host.models.estimation.result import MAX_REL_SE, Z95, EstimationResult, Progress, Status
from host.models.estimation.weighting import SensorModel
from host.models.hydraulics.network import Network

if TYPE_CHECKING:
    from host.models.estimation.adapter import SubNetwork

#: What the entrance equations treat as unknown (see the module docstring).
ENTRANCE_MODES = ("internal", "factor", "both")
#: Null-vector components below this fraction of the vector's largest count as zero.
_NULL_TOL = 1e-8


class EntranceDataError(EvenheatError, ValueError):
    """Openings missing or out of range for the entrance equations."""

    reason = "bad-openings"


@dataclass(frozen=True)
class EntranceEstimate:
    """What the entrance equations calibrated.

    result : one row per entrance (``pipe_ids`` are entrance ids): the building's internal S
        (``"internal"``/``"both"``; the file's value, given, in ``"factor"``), its interval and
        identifiability; ``groups`` are the groups that cross sides (a building in series with
        its service pipes); rank, χ²/dof and the message describe the whole joint system.
    factor, factor_se, factor_low, factor_high : the valve factor c and its 95 % interval
        (NaN in ``"internal"`` mode, where c = 1 is assumed).
    """

    mode: str
    result: EstimationResult
    factor: float = float("nan")
    factor_se: float = float("nan")
    factor_low: float = float("nan")
    factor_high: float = float("nan")
    factor_identifiable: bool = False
    factor_reason: str = ""


def valve_s(network: Network, conditions: Conditions, *, require_all: bool = True) -> FloatArray:
    """(K, n_entrances) nominal S of every entrance valve at its recorded opening.

    Raises :class:`EntranceDataError` naming every opening outside 0..1 (entrance and
    condition) and, with ``require_all``, every entrance without openings; otherwise such an
    entrance's column is NaN (it gets no entrance equation).
    """
    k_n = conditions.n_conditions
    rho = network.mean_density_kg_m3
    out = np.full((k_n, len(network.entrances)), np.nan)
    problems: list[str] = []
    for i, e in enumerate(network.entrances):
        x = conditions.opening.get(e.id)
        if x is None:
            if not require_all:
                continue
            problems.append(
                f"entrance {e.id!r}: no opening rows (the entrance equations need every "
                "entrance valve's opening in every condition)"
            )
            continue
        x = np.asarray(x, dtype=float)
        for k in range(k_n):
            if not 0.0 <= x[k] <= 1.0:  # also NaN
                problems.append(
                    f"condition {conditions.condition_ids[k]!r}: opening {x[k]} of entrance "
                    f"{e.id!r} outside 0..1"
                )
            else:
                out[k, i] = e.valve.s_m_per_m3h2(rho, float(x[k]))
    if problems:
        shown = "\n".join(f"  - {p}" for p in problems[:50])
        more = f"\n  … and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise EntranceDataError(f"openings: {len(problems)} problem(s):\n{shown}{more}")
    return out


def building_s(network: Network) -> FloatArray:
    """S of every entrance's building without its valve: internal S plus the households in
    parallel at the file's household-valve openings, m/(m³/h)²."""
    rho = network.mean_density_kg_m3
    out = np.empty(len(network.entrances))
    for i, e in enumerate(network.entrances):
        hh = network.households_by_entrance.get(e.id, ())
        conductance = sum(
            1.0 / math.sqrt(h.s_m_per_m3h2 + (h.valve.s_m_per_m3h2(rho) if h.valve else 0.0))
            for h in hh
        )
        out[i] = e.internal_s_m_per_m3h2 + (1.0 / conductance**2 if hh else 0.0)
    return out


def _place(m: sp.spmatrix, col_offset: int, n_cols: int) -> sp.csr_matrix:
    """``m`` with its columns shifted by ``col_offset`` inside ``n_cols`` columns."""
    c = sp.coo_matrix(m)
    return sp.csr_matrix((c.data, (c.row, c.col + col_offset)), shape=(c.shape[0], n_cols))


def _nearest_measured(graph: PipeGraph, nodes: IntArray) -> IntArray:
    """For each node: itself when measured, else its nearest measured ancestor (tree)."""
    pred = graph._bfs[1]
    out = np.asarray(nodes, dtype=np.intp).copy()
    live = ~graph.head_measured[out]
    while np.any(live):
        out[live] = pred[out[live]]
        live = ~graph.head_measured[out]
    return out


@dataclass(frozen=True)
class _System:
    graph: PipeGraph  # supply pipes, return pipes, entrance links
    p: sp.csr_matrix  # (rows, links) coefficients of Δh in every row
    lhs: FloatArray  # (K, rows) measured head differences
    row_node: IntArray  # (rows,) a node of each row (for _finish's bookkeeping)
    row_label: list[str]  # (rows,) what a row measures (suspect sensors)
    row_side: list[str]  # (rows,) "supply", "return" or "entrances"
    row_heads: IntArray  # (rows, 2) the measured nodes whose head difference a row is
    flow: FloatArray  # (K, links)
    var_flow: FloatArray  # (K, links)
    q: FloatArray  # (K, nodes) entrance flows at the supply entrance nodes
    usable: IntArray  # entrances that have an equation
    ent_cols: IntArray  # link index of every entrance


def _system(
    network: Network,
    subs: Sequence[SubNetwork],
    heads: Sequence[FloatArray],
    outflows: Sequence[FloatArray],
    joint: Sequence[bool],
    flow_m3h: FloatArray,
    known_ent: FloatArray,
    has_opening: NDArray[np.bool_],
    sensors: SensorModel,
) -> _System:
    sup, ret = subs
    gs, gr = sup.graph, ret.graph
    n_s, b_s, b_r = gs.n_nodes, gs.n_pipes, gr.n_pipes
    e_n = len(network.entrances)
    b_c = b_s + b_r + e_n
    ent_cols = np.arange(b_s + b_r, b_c)
    known = np.concatenate(
        [
            np.full(b_s, np.nan) if joint[0] else sup.nominal_s,
            np.full(b_r, np.nan) if joint[1] else ret.nominal_s,
            known_ent,
        ]
    )
    graph = PipeGraph(
        node_ids=gs.node_ids + gr.node_ids,
        pipe_ids=gs.pipe_ids + gr.pipe_ids + tuple(e.id for e in network.entrances),
        pipe_from=np.concatenate([gs.pipe_from, gr.pipe_from + n_s, sup.entrance_node]),
        pipe_to=np.concatenate([gs.pipe_to, gr.pipe_to + n_s, ret.entrance_node + n_s]),
        reference=gs.reference,
        head_measured=np.concatenate([gs.head_measured, gr.head_measured]),
        outflow_node=np.zeros(n_s + gr.n_nodes, dtype=bool),
        known_s=known,
    )
    k_n = flow_m3h.shape[0]
    flow = np.zeros((k_n, b_c))
    var_flow = np.zeros((k_n, b_c))
    offsets = (0, b_s)
    blocks: list[sp.csr_matrix] = []
    lhs: list[FloatArray] = []
    row_node: list[IntArray] = []
    row_heads: list[IntArray] = []
    row_label: list[str] = []
    row_side: list[str] = []
    for i, (sub, head, q) in enumerate(zip(subs, heads, outflows, strict=True)):
        g = sub.graph
        if not joint[i]:
            continue
        cols = slice(offsets[i], offsets[i] + g.n_pipes)
        flow[:, cols] = g.tree_flows(q)
        var_flow[:, cols] = np.abs(g.tree_flows(sensors.flow_var(q))) + sensors.flow_abs_m3h**2
        meas = np.flatnonzero(g.head_measured & (np.arange(g.n_nodes) != g.reference))
        blocks.append(_place(path_matrix(g, meas), offsets[i], b_c))
        lhs.append(head[:, [g.reference]] - head[:, meas])
        row_node.append(meas + i * n_s)
        row_heads.append(
            np.column_stack([np.full(meas.size, g.reference + i * n_s), meas + i * n_s])
        )
        row_label += [f"head at node {g.node_ids[v]}" for v in meas]
        row_side += [sub.side.value] * len(meas)
    flow[:, ent_cols] = flow_m3h
    var_flow[:, ent_cols] = sensors.flow_var(flow_m3h)
    s_node, r_node = sup.entrance_node, ret.entrance_node
    usable = np.flatnonzero(
        has_opening & (joint[0] | gs.head_measured[s_node]) & (joint[1] | gr.head_measured[r_node])
    )
    if usable.size:
        s_u, r_u = s_node[usable], r_node[usable]
        a = _nearest_measured(gs, s_u) if joint[0] else s_u
        b = _nearest_measured(gr, r_u) if joint[1] else r_u
        ent = sp.csr_matrix(
            (np.ones(usable.size), (np.arange(usable.size), ent_cols[usable])),
            shape=(usable.size, b_c),
        )
        ent = ent + _place(path_matrix(gs, s_u) - path_matrix(gs, a), 0, b_c)
        ent = ent + _place(path_matrix(gr, b) - path_matrix(gr, r_u), b_s, b_c)
        blocks.append(ent.tocsr())
        lhs.append(heads[0][:, a] - heads[1][:, b])
        row_node.append(s_u)
        row_heads.append(np.column_stack([a, b + n_s]))
        row_label += [
            f"entrance {network.entrances[e].id} (heads at {gs.node_ids[a_i]}, "
            f"{gr.node_ids[b_i]}; valve opening)"
            for e, a_i, b_i in zip(usable.tolist(), a.tolist(), b.tolist(), strict=True)
        ]
        row_side += ["entrances"] * usable.size
    if lhs and not np.all(np.isfinite(np.hstack(lhs))):
        raise ValueError("measured heads must be finite")
    q_c = np.zeros((k_n, graph.n_nodes))
    q_c[:, s_node] += flow_m3h
    return _System(
        graph,
        sp.vstack(blocks).tocsr() if blocks else sp.csr_matrix((0, b_c)),
        np.hstack(lhs) if lhs else np.zeros((k_n, 0)),
        np.concatenate(row_node) if row_node else np.zeros(0, dtype=np.intp),
        row_label,
        row_side,
        np.vstack(row_heads) if row_heads else np.zeros((0, 2), dtype=np.intp),
        flow,
        var_flow,
        q_c,
        usable,
        ent_cols,
    )


def estimate_joint(
    network: Network,
    conditions: Conditions,
    subs: Sequence[SubNetwork],
    heads: Sequence[FloatArray],
    outflows: Sequence[FloatArray],
    joint: Sequence[bool],
    sensors: SensorModel | None = None,
    *,
    mode: str = "internal",
    require_all: bool = True,
    robust: bool = True,
    max_rel_se: float = MAX_REL_SE,
    progress: Progress | None = None,
) -> tuple[dict[str, EstimationResult], EntranceEstimate]:
    """The joint supply + return + entrance system (see the module docstring).

    ``subs``, ``heads``, ``outflows``: the supply and the return sub-network with their
    (K, n) heads (NaN where unmeasured) and outflows; ``joint[i]``: side i is a tree whose
    pipes are estimated here. ``require_all``: every entrance needs its openings (else an
    entrance without them gets no equation). Returns the results of the joint sides by side
    name and the entrance estimate.
    """
    if mode not in ENTRANCE_MODES:
        raise ValueError(f"entrance mode must be one of {', '.join(ENTRANCE_MODES)}, got {mode!r}")
    sensors = sensors or SensorModel()
    s_valve = valve_s(network, conditions, require_all=require_all)
    has_opening: NDArray[np.bool_] = (
        ~np.isnan(s_valve[0]) if s_valve.size else np.zeros(0, dtype=bool)
    )
    s_valve = np.nan_to_num(s_valve)
    flow_m3h = np.column_stack([conditions.flow_m3h[e.id] for e in network.entrances])
    e_n = len(network.entrances)
    has_c = mode != "internal"
    known_ent = building_s(network) if mode == "factor" else np.full(e_n, np.nan)
    sy = _system(network, subs, heads, outflows, joint, flow_m3h, known_ent, has_opening, sensors)
    graph, k_n = sy.graph, flow_m3h.shape[0]
    st = _Setup(sy.row_node, sy.lhs, sy.q, *series_groups(graph))
    # pipes that carry the same flow and sit in the same equations (a building's supply and
    # return service pipe, mirror-image mains) have identical columns: merge them like series
    groups, twins = _merge_identical(_design(graph, st, sy.p, sy.flow), st.groups)
    st = _Setup(sy.row_node, sy.lhs, sy.q, *group_arrays(graph.n_pipes, groups))
    n_g = len(groups)
    known = ~np.isnan(graph.known_s)
    ks = np.broadcast_to(np.where(known, graph.known_s, 0.0), sy.flow.shape).copy()
    v = np.zeros_like(ks)
    v[:, sy.ent_cols] = s_valve
    if not has_c:
        ks += v  # the valves are known resistances
    loss = sy.flow * np.abs(sy.flow)
    known_part = np.asarray(sy.p @ (loss * ks).T).T
    x = _design(graph, st, sy.p, sy.flow)
    if has_c:
        c_col = np.asarray(sy.p @ (loss * v).T).T.ravel()
        x = sp.hstack([x, sp.csr_matrix(c_col[:, None])]).tocsr()
    rhs = (sy.lhs - known_part).ravel()
    x, rhs, shared_per_row, n_nuisance = _shared_heads(x, rhs, sy.row_heads, k_n, sensors)
    n_meas_rows = k_n * sy.row_heads.shape[0]

    def row_var(beta: FloatArray | None) -> FloatArray:
        s_cur = ks.copy()
        if beta is not None:
            s_cur += _pipe_s(graph, st, beta[:n_g], np.zeros(graph.n_pipes))
        if has_c:
            s_cur += v * (1.0 if beta is None else max(float(beta[n_g]), 0.0))
        var = _row_var(sensors, sy.lhs, sy.p, s_cur, sy.flow, sy.var_flow).ravel()
        # a shared head's error is a column of its own (below), not part of the row's variance
        var = np.maximum(var - sensors.head_abs_m**2 * shared_per_row, 1e-30)
        return np.concatenate([var, np.ones(n_nuisance)])

    sol, resid_w, hub, n_pass = irls(x, rhs, row_var, robust, progress)
    rank_g = sol.rank - n_nuisance  # the nuisance columns are always determined (prior rows)
    hub = hub[:n_meas_rows]
    nv = sol.null / np.maximum(np.max(np.abs(sol.null), axis=0, keepdims=True), 1e-300)
    nv[np.abs(nv) < _NULL_TOL] = 0.0
    sol_g = _Wls(sol.beta[:n_g], sol.cov[:n_g], sol.rank, sol.cond, nv[:n_g], sol.col_norm[:n_g])
    res = _finish(
        graph,
        st,
        sensors,
        sol_g,
        resid_w,
        hub,
        sy.flow,
        max_rel_se,
        "partial-tree+entrances",
        n_pass,
        k_n,
    )
    constant = bool(np.all(np.ptp(s_valve, axis=0) <= 1e-12 * np.max(s_valve, axis=0)))
    constant = constant and bool(np.any(has_opening))
    factor = _factor(res, sol, nv, n_g, constant, max_rel_se) if has_c else None
    if factor is not None and not factor[4] and nv.size:
        res = _blame_factor(res, graph, groups, nv, n_g, constant)
    n_rows = len(sy.row_label)
    low = (hub.reshape(k_n, n_rows) < 0.999).mean(axis=0) if n_rows else np.zeros(0)
    res = dataclasses.replace(res, rank=rank_g)
    suspects = [(sy.row_side[i], sy.row_label[i]) for i in np.flatnonzero(low >= 0.5)]
    g_ok = _group_ok(res, graph, groups)
    n_unknown = n_g + int(has_c)
    res = dataclasses.replace(
        res,
        min_conditions=max(1, math.ceil(n_unknown / n_rows)) if n_rows else 0,
        message=(
            f"joint supply+return+entrance system ({mode}): rank {rank_g} of {n_unknown} "
            f"unknowns ({n_g} groups{', valve factor' if has_c else ''}), {n_rows} "
            f"equations per condition ({sy.usable.size} entrance); "
            f"{int(g_ok.sum())} of {n_g} groups identified"
        ),
        n_unknowns=n_unknown,
    )
    sides = {}
    sizes = (subs[0].graph.n_pipes, subs[1].graph.n_pipes)
    spans = {
        "supply": np.arange(0, sizes[0]),
        "return": np.arange(sizes[0], sizes[0] + sizes[1]),
        "entrances": sy.ent_cols,
    }
    for i, name in enumerate(("supply", "return")):
        if joint[i]:
            sides[name] = _slice(res, spans, name, groups, g_ok, suspects)
    ent_res = _slice(res, spans, "entrances", groups, g_ok, suspects)
    ent_res = _entrance_reasons(ent_res, network, subs, joint, sy.usable, has_opening, mode)
    out = EntranceEstimate(mode, ent_res)
    if factor is not None:
        out = dataclasses.replace(
            out,
            factor=factor[0],
            factor_se=factor[1],
            factor_low=factor[2],
            factor_high=factor[3],
            factor_identifiable=factor[4],
            factor_reason=factor[5],
        )
    return sides, out


def _shared_heads(
    x: sp.csr_matrix, rhs: FloatArray, row_heads: IntArray, k_n: int, sensors: SensorModel
) -> tuple[sp.csr_matrix, FloatArray, FloatArray, int]:
    """Give every head sensor that several rows share its error as an unknown per condition.

    Every row is the difference of two measured heads, and the station's heads (and a
    junction's, when it is the nearest sensor of several entrances) enter many rows: their
    errors are common to those rows. Weighting the rows as independent makes the intervals
    of what those rows determine (the return mains behind the station's return head) too
    narrow. With an unknown ``δ_k,v`` per shared sensor and condition and a prior row
    ``δ_k,v / σ_h = 0`` the least-squares solution is the generalised one for that error
    covariance, and the Huber weights of the prior rows catch a biased shared sensor.

    Returns the augmented design and right-hand side, the number of shared heads in each
    measurement row (K·rows,) and the number of nuisance unknowns.
    """
    n_r = row_heads.shape[0]
    sigma = float(sensors.head_abs_m)
    uses = np.bincount(row_heads.ravel(), minlength=int(row_heads.max(initial=-1)) + 1)
    shared = np.flatnonzero(uses > 1) if sigma > 0 else np.zeros(0, dtype=np.intp)
    if shared.size == 0 or n_r == 0:
        return x, rhs, np.zeros(k_n * n_r), 0
    col_of = np.full(uses.size, -1, dtype=np.intp)
    col_of[shared] = np.arange(shared.size)
    cols = col_of[row_heads]  # (rows, 2)
    on = cols >= 0
    r_idx = np.repeat(np.arange(n_r)[:, None], 2, axis=1)[on]
    sign = np.broadcast_to(np.array([1.0, -1.0]), (n_r, 2))[on]
    d = sp.csr_matrix((sign, (r_idx, cols[on])), shape=(n_r, shared.size))
    n_nuis = k_n * shared.size
    d_all = sp.kron(sp.identity(k_n), d, format="csr")
    prior = sp.identity(n_nuis, format="csr") / sigma
    x_aug = sp.vstack(
        [
            sp.hstack([x, d_all]),
            sp.hstack([sp.csr_matrix((n_nuis, x.shape[1])), prior]),
        ]
    ).tocsr()
    per_row = np.tile(on.sum(axis=1).astype(float), k_n)
    return x_aug, np.concatenate([rhs, np.zeros(n_nuis)]), per_row, n_nuis


def _merge_identical(
    x: sp.csr_matrix, groups: list[IntArray]
) -> tuple[list[IntArray], list[IntArray]]:
    """Merge groups whose design columns are equal (to 1e-9 relative).

    Returns the new groups (in order of first appearance) and the merged ones.
    """
    xc = sp.csc_matrix(x)
    norms = np.sqrt(np.asarray(xc.multiply(xc).sum(axis=0)).ravel())
    w = np.cos(np.arange(xc.shape[0]) * 0.7548776662) + 1.5  # fixed projection, all > 0
    proj = (w @ xc) / np.where(norms > 0, norms, 1.0)
    order = np.lexsort((proj, norms > 0))
    merged_into = np.arange(len(groups))
    i = 0
    while i < len(order):
        j = i + 1
        while j < len(order) and abs(proj[order[j]] - proj[order[i]]) <= 1e-9 * abs(
            proj[order[i]]
        ):
            j += 1
        cand = order[i:j]
        if norms[cand[0]] > 0 and len(cand) > 1:
            for a in cand[1:]:
                for b in cand:
                    if merged_into[b] != b or b == a or b > a and merged_into[a] != a:
                        continue
                    diff = xc[:, [a]] - xc[:, [b]]
                    if sp.linalg.norm(diff) <= 1e-9 * norms[b]:
                        merged_into[a] = b
                        break
        i = j
    out: dict[int, list[int]] = {}
    for gi in range(len(groups)):
        root = int(merged_into[gi])
        while merged_into[root] != root:
            root = int(merged_into[root])
        out.setdefault(root, []).append(gi)
    new = [np.concatenate([groups[g] for g in sorted(v)]) for _, v in sorted(out.items())]
    twins = [g for g, v in zip(new, sorted(out.items()), strict=True) if len(v[1]) > 1]
    return new, twins


def _factor(
    res: EstimationResult, sol: _Wls, nv: FloatArray, n_g: int, constant: bool, max_rel_se: float
) -> tuple[float, float, float, float, bool, str]:
    """(c, se, low, high, identifiable, reason) of the valve factor."""
    chi2 = res.chi2_per_dof
    scale = max(1.0, chi2) if math.isfinite(chi2) else 1.0
    c, se = float(sol.beta[n_g]), math.sqrt(float(sol.cov[n_g]) * scale)
    coupled = nv.size > 0 and bool(np.any(nv[n_g] != 0.0))
    if coupled:
        why = (
            "the openings never change: c·S_valve·G² then varies like the S·G² of the pipes "
            "and buildings in series with each valve; move some valves between conditions "
            "or measure both heads of one entrance"
            if constant
            else f"too few independent conditions ({res.n_conditions}) to separate it from "
            "the pipes and buildings in series with the valves"
        )
        return (math.nan, math.nan, math.nan, math.nan, False, why)
    low, high = max(0.0, c - Z95 * se), c + Z95 * se
    if not c > 0:
        return (c, se, low, high, False, "estimate not positive: noise exceeds the signal")
    if se > max_rel_se * c:
        return (c, se, low, high, False, f"uncertain: standard error {100 * se / c:.0f} % of c")
    return (c, se, low, high, True, "")


def _blame_factor(
    res: EstimationResult,
    graph: PipeGraph,
    groups: list[IntArray],
    nv: FloatArray,
    n_g: int,
    constant: bool,
) -> EstimationResult:
    """Say so where a coupled group is coupled with the valve factor."""
    with_c = next((g for g in null_groups(nv) if n_g in g), None)
    if with_c is None:
        return res
    pipes = {j for i in with_c if i < n_g for j in groups[i]}
    note = "coupled with the valve factor" + (" (openings never change)" if constant else "")
    reason = tuple(
        f"{r}; {note}" if j in pipes and not res.identifiable[j] else r
        for j, r in enumerate(res.reason)
    )
    ids = {graph.pipe_ids[j] for j in pipes}
    grps = tuple(
        dataclasses.replace(g, reason=f"{g.reason}; {note}")
        if g.kind != "series" and ids & set(g.pipe_ids)
        else g
        for g in res.groups
    )
    return dataclasses.replace(res, reason=reason, groups=grps)


def _group_ok(res: EstimationResult, graph: PipeGraph, groups: list[IntArray]) -> FloatArray:
    """Whether each unknown group (series chain) was identified."""
    series = {g.pipe_ids: g.identifiable for g in res.groups if g.kind == "series"}
    ok = np.zeros(len(groups), dtype=bool)
    for i, members in enumerate(groups):
        ids = tuple(graph.pipe_ids[j] for j in members)
        ok[i] = series.get(ids, False) if len(members) > 1 else bool(res.identifiable[members[0]])
    return ok


def _side_of(ids: Sequence[str], side_ids: dict[str, set[str]]) -> str:
    for name in ("supply", "return"):
        if set(ids) <= side_ids[name]:
            return name
    return "entrances"


def _slice(
    res: EstimationResult,
    spans: dict[str, IntArray],
    name: str,
    groups: list[IntArray],
    g_ok: FloatArray,
    suspects: list[tuple[str, str]],
) -> EstimationResult:
    """The rows, groups, suggestions and suspects of one side of the joint result."""
    idx = spans[name]
    side_ids = {k: {res.pipe_ids[j] for j in v} for k, v in spans.items()}
    mine = np.array(
        [_side_of([res.pipe_ids[j] for j in g], side_ids) == name for g in groups], dtype=bool
    )
    n_bad = int(np.sum(~g_ok[mine]))
    status = Status.of(n_bad, int(np.sum(mine))) if np.any(mine) else Status.UNIQUE

    def about(text: str) -> bool:
        tokens = set(re.findall(r"[^\s,:;()\[\]]+", text))
        return _side_of(sorted(tokens & set(res.pipe_ids)) or ["?"], side_ids) == name

    return dataclasses.replace(
        res,
        success=status != Status.FAILED,
        status=status,
        pipe_ids=tuple(res.pipe_ids[j] for j in idx),
        s_m_per_m3h2=res.s_m_per_m3h2[idx],
        s_se=res.s_se[idx],
        s_low=res.s_low[idx],
        s_high=res.s_high[idx],
        identifiable=res.identifiable[idx],
        reason=tuple(res.reason[j] for j in idx),
        groups=tuple(g for g in res.groups if _side_of(g.pipe_ids, side_ids) == name),
        suggestions=tuple(s for s in res.suggestions if about(s)),
        suspect_sensors=tuple(label for side, label in suspects if side == name),
    )


def _entrance_reasons(
    res: EstimationResult,
    network: Network,
    subs: Sequence[SubNetwork],
    joint: Sequence[bool],
    usable: IntArray,
    has_opening: NDArray[np.bool_],
    mode: str,
) -> EstimationResult:
    """Entrance rows: say why an entrance has no equation, and where S_int is given."""
    reason = list(res.reason)
    has_eq = np.zeros(len(network.entrances), dtype=bool)
    has_eq[usable] = True
    for i in range(len(network.entrances)):
        if mode == "factor":
            reason[i] = "building S from the network file (given)"
        elif not has_opening[i]:
            reason[i] = "no opening recorded: no entrance equation"
        elif not has_eq[i]:
            sides = [
                sub.side.value
                for sub, j in zip(subs, joint, strict=True)
                if not j and not sub.graph.head_measured[sub.entrance_node[i]]
            ]
            reason[i] = (
                f"no entrance equation: no head at its {' and '.join(sides)} node, and the "
                "joint path method needs that side to be a tree"
            )
    silent = {network.entrances[i].id for i in np.flatnonzero(~has_eq)}
    groups = tuple(g for g in res.groups if not set(g.pipe_ids) <= silent)
    return dataclasses.replace(res, reason=tuple(reason), groups=groups)


__all__ = [
    "ENTRANCE_MODES",
    "EntranceDataError",
    "EntranceEstimate",
    "building_s",
    "estimate_joint",
    "valve_s",
]
