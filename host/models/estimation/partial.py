"""Heads measured only at the station and the entrances (the real case).

Interior junctions have no sensor, so the per-pipe head losses of :mod:`.full` are unknown.
What is measured is the head loss from the reference (station) to every measured node.

Branched networks (trees): the flows follow from the entrance flows alone (``G = T q``), and
the path equation of measured node m in condition k,

    P_ref − P_m = Σ_{j on path(m)} ±S_j·|G_kj|·G_kj ,

is linear in S (the Energies 2020 approach). Pipes in series through unmeasured, outflow-free
junctions carry the same flow and have identical columns: they are merged into one group
whose sum of S is the unknown (``series`` groups). The stacked, weighted system is solved by
SVD (Moore–Penrose, rank test, null space) or, beyond ``DENSE_LIMIT`` groups, by the sparse
normal equations.

Looped networks: the chord flows depend on S, so the path equations are no longer linear;
:mod:`.partial_loops` fits them iteratively with the forward model. Identifiability and
uncertainty then come from the Jacobian at the solution (local), through the same
:func:`_finish` as the tree method.

Both fits weight each equation by the variance the sensor model implies and apply Huber
re-weighting, so one biased head sensor only affects the groups it alone observes; sensors
down-weighted in most conditions are reported as suspect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import cho_factor, cho_solve
from scipy.sparse.linalg import splu

from host.models.estimation.graph import FloatArray, IntArray, PipeGraph
from host.models.estimation.identifiability import (
    group_kind,
    min_conditions,
    null_groups,
    proportional_conditions,
    suggestion,
)
from host.models.estimation.result import (
    MAX_REL_SE,
    RANK_RTOL,
    SNR_MIN,
    Z95,
    EstimationResult,
    Group,
    Progress,
    Status,
)
from host.models.estimation.weighting import IRLS_ITERATIONS, SensorModel, huber_weights

#: Groups beyond which the dense SVD gives way to sparse normal equations.
DENSE_LIMIT = 2500
#: Ridge (relative to the equilibrated normal matrix's unit diagonal) of re-weighting passes.
RIDGE = 1e-12
#: Re-weighting stops when no Huber weight and no row variance moves by more than this.
IRLS_WEIGHT_TOL = 1e-4


@dataclass(frozen=True)
class _Setup:
    measured: IntArray  # measured non-reference nodes
    path_loss: FloatArray  # (K, n_meas) P_ref − P_m
    q: FloatArray  # (K, n_nodes), reference balanced
    group_of: IntArray  # (b,) group index of unknown pipes, −1 for known pipes
    groups: list[IntArray]
    member: sp.csr_matrix  # (b, g): 1 where pipe j belongs to group
    rep: IntArray  # (g,) one representative pipe per group


def _setup(graph: PipeGraph, head_m: FloatArray, outflow_m3h: FloatArray) -> _Setup:
    h = np.atleast_2d(np.asarray(head_m, dtype=float))
    q = np.atleast_2d(np.asarray(outflow_m3h, dtype=float)).copy()
    if h.shape != q.shape or h.shape[1] != graph.n_nodes:
        raise ValueError(f"head_m and outflow_m3h must both be (K, {graph.n_nodes})")
    meas = np.flatnonzero(graph.head_measured & (np.arange(graph.n_nodes) != graph.reference))
    if not np.all(np.isfinite(h[:, meas])) or not np.all(np.isfinite(h[:, graph.reference])):
        raise ValueError("measured heads must be finite")
    if not np.all(np.isfinite(q[:, graph.free_nodes])):
        raise ValueError("outflows must be finite")
    q[:, graph.reference] = 0.0
    q[:, graph.reference] = -q.sum(axis=1)
    path_loss = h[:, [graph.reference]] - h[:, meas]
    return _Setup(meas, path_loss, q, *series_groups(graph))


def series_groups(
    graph: PipeGraph,
) -> tuple[IntArray, list[IntArray], sp.csr_matrix, IntArray]:
    """(group_of, groups, member, rep): the unknown pipes merged by :meth:`series_chains`.

    group_of : (b,) group index of each unknown pipe, −1 for known pipes; member : (b, g)
    membership matrix; rep : (g,) one representative pipe per group.
    """
    unknown = np.isnan(graph.known_s)
    groups: list[IntArray] = []
    for chain in graph.series_chains():
        members = chain[unknown[chain]]
        if members.size:
            groups.append(members)
    return group_arrays(graph.n_pipes, groups)


def group_arrays(
    n_pipes: int, groups: list[IntArray]
) -> tuple[IntArray, list[IntArray], sp.csr_matrix, IntArray]:
    """(group_of, groups, member, rep) of a list of pipe groups (see :func:`series_groups`)."""
    group_of = np.full(n_pipes, -1, dtype=np.intp)
    for gi, members in enumerate(groups):
        group_of[members] = gi
    rows = np.flatnonzero(group_of >= 0)
    member = sp.csr_matrix(
        (np.ones(len(rows)), (rows, group_of[rows])), shape=(n_pipes, len(groups))
    )
    rep = np.array([g[0] for g in groups], dtype=np.intp)
    return group_of, groups, member, rep


def path_matrix(graph: PipeGraph, nodes: IntArray) -> sp.csr_matrix:
    """Π (len(nodes) × n_pipes): ±1 on the tree pipes from the reference to each node.

    ``P_ref − P_m = Σ_j Π_mj·Δh_j`` along the spanning tree (+1 where the pipe points away
    from the reference).
    """
    order, pred, tree_pipe = graph._bfs
    del order
    cur = np.asarray(nodes, dtype=np.intp).copy()
    rows_l, cols_l, vals_l = [], [], []
    row_id = np.arange(len(cur))
    live = cur != graph.reference
    while np.any(live):
        v = cur[live]
        j = tree_pipe[v]
        rows_l.append(row_id[live])
        cols_l.append(j)
        vals_l.append(np.where(graph.pipe_to[j] == v, 1.0, -1.0))
        cur[live] = pred[v]
        live = cur != graph.reference
    if not rows_l:
        return sp.csr_matrix((len(cur), graph.n_pipes))
    return sp.csr_matrix(
        (np.concatenate(vals_l), (np.concatenate(rows_l), np.concatenate(cols_l))),
        shape=(len(cur), graph.n_pipes),
    )


@dataclass(frozen=True)
class _Wls:
    beta: FloatArray
    cov: FloatArray  # diagonal of the unit covariance
    rank: int
    cond: float
    null: FloatArray  # (g, m)
    col_norm: FloatArray  # (g,) column norms of the whitened design


def _wls(x: sp.csr_matrix | FloatArray, rhs: FloatArray, analyse: bool = True) -> _Wls:
    """Moore–Penrose solution of the whitened system with rank test and null space.

    ``analyse=False`` (a re-weighting pass): only β, from the normal equations with a tiny
    ridge (the minimum-norm solution up to round-off); no rank, interval or null space. The
    rank and the null space do not depend on positive row weights, so the passes between the
    first and the last need no SVD.
    """
    g = x.shape[1]
    if g == 0:
        return _Wls(np.zeros(0), np.zeros(0), 0, 1.0, np.zeros((0, 0)), np.zeros(0))
    if not analyse:
        xs = sp.csr_matrix(x)
        norms = np.sqrt(np.asarray(xs.multiply(xs).sum(axis=0)).ravel())
        cn = np.where(norms > 0, norms, 1.0)
        xl = xs @ sp.diags(1.0 / cn)
        nmat = sp.csr_matrix(xl.T @ xl).toarray()
        nmat[np.diag_indices_from(nmat)] += RIDGE
        beta = cho_solve(cho_factor(nmat), xl.T @ rhs) / cn
        return _Wls(beta, np.zeros(g), -1, float("nan"), np.zeros((g, 0)), norms)
    if g <= DENSE_LIMIT:
        xd = np.asarray(x) if isinstance(x, np.ndarray) else x.toarray()
        # equilibrate the columns (a main pipe's G² dwarfs a branch's) before the rank test
        norms = np.linalg.norm(xd, axis=0)
        cn = np.where(norms > 0, norms, 1.0)
        # full V when there are fewer equations than unknowns: the null space needs it
        u, sv, vt = np.linalg.svd(xd / cn, full_matrices=xd.shape[0] < g)
        u = u[:, : sv.size]
        smax = sv[0] if sv.size else 0.0
        rank = int(np.sum(sv > RANK_RTOL * smax)) if smax > 0 else 0
        beta = (vt[:rank].T @ ((u[:, :rank].T @ rhs) / sv[:rank])) / cn
        cov = np.sum((vt[:rank] / sv[:rank, None]) ** 2, axis=0) / cn**2
        cond = float(smax / sv[rank - 1]) if rank else float("inf")
        return _Wls(beta, cov, rank, cond, (vt[rank:] / cn).T, norms)
    # large: sparse normal equations; zero columns are the only rank defect detected
    xs = sp.csr_matrix(x)
    norms = np.sqrt(np.asarray(xs.multiply(xs).sum(axis=0)).ravel())
    live = norms > RANK_RTOL * norms.max()
    xl = xs[:, live] @ sp.diags(1.0 / norms[live])
    nmat = (xl.T @ xl).tocsc()
    lu = splu(nmat, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0)
    beta = np.zeros(g)
    beta[live] = lu.solve(xl.T @ rhs) / norms[live]
    # diagonal of the inverse by Hutchinson-free exact solves would be costly: use the
    # Jacobi bound 1/diag(N), exact for columns without overlap and a lower bound otherwise
    cov = np.full(g, np.inf)
    cov[live] = 1.0 / (norms[live] ** 2 * np.maximum(nmat.diagonal(), 1e-300))
    diag_u = np.abs(lu.U.diagonal())
    cond = float(diag_u.max() / max(diag_u.min(), 1e-300)) ** 0.5
    null = np.zeros((g, int((~live).sum())))
    null[np.flatnonzero(~live), np.arange(null.shape[1])] = 1.0
    return _Wls(beta, cov, int(live.sum()), cond, null, norms)


def _row_var(
    sensors: SensorModel,
    path_loss: FloatArray,
    pi: sp.csr_matrix,
    s_cur: FloatArray,
    flow: FloatArray,
    var_flow: FloatArray,
) -> FloatArray:
    """Variance of each path equation (K, n_meas): head sensors plus propagated flow errors."""
    var = 2.0 * sensors.head_abs_m**2 + (sensors.dh_rel * path_loss) ** 2
    sens = (2.0 * s_cur * np.abs(flow)) ** 2 * var_flow  # (K, b)
    out: FloatArray = var + np.asarray(abs(pi) @ sens.T).T + 1e-30
    return out


def estimate_partial(
    graph: PipeGraph,
    head_m: FloatArray,
    outflow_m3h: FloatArray,
    sensors: SensorModel | None = None,
    *,
    robust: bool = True,
    max_rel_se: float = MAX_REL_SE,
    s_start: FloatArray | None = None,
    progress: Progress | None = None,
) -> EstimationResult:
    """Estimate S from heads at the measured nodes only (``graph.head_measured``).

    Parameters
    ----------
    graph : PipeGraph
    head_m : ndarray, shape (K, n_nodes)
        Heads in m; only the measured nodes' columns are read (others may be NaN).
    outflow_m3h : ndarray, shape (K, n_nodes)
        Outflows in m³/h (entrances; zero at junctions; the reference is balanced).
    sensors : SensorModel
    robust : bool
        Huber re-weighting against biased or stuck sensors.
    s_start : ndarray, shape (n_pipes,), optional
        Starting S for looped networks (e.g. the design values); default: tree solution.
    """
    sensors = sensors or SensorModel()
    st = _setup(graph, head_m, outflow_m3h)
    if graph.n_loops == 0 or st.measured.size == 0:
        # no head but the reference's: no equation at all, loops or not; the tree method
        # reports every pipe as seen by no measured head
        return _tree(graph, st, sensors, robust, max_rel_se, progress)
    from host.models.estimation.partial_loops import fit_looped  # noqa: PLC0415 - circular

    return fit_looped(graph, st, sensors, robust, max_rel_se, s_start, progress)


def _design(graph: PipeGraph, st: _Setup, pi: sp.csr_matrix, flow: FloatArray) -> sp.csr_matrix:
    """Rows (k, m) of Π·diag(G_k|G_k|), columns the groups."""
    k_n = flow.shape[0]
    blocks = [pi @ sp.diags(flow[k] * np.abs(flow[k])) for k in range(k_n)]
    x = sp.vstack(blocks).tocsr()
    rep_cols = sp.csr_matrix(
        (np.ones(len(st.rep)), (st.rep, np.arange(len(st.rep)))),
        shape=(graph.n_pipes, len(st.rep)),
    )
    return (x @ rep_cols).tocsr()


def _tree(
    graph: PipeGraph,
    st: _Setup,
    sensors: SensorModel,
    robust: bool,
    max_rel_se: float,
    progress: Progress | None,
) -> EstimationResult:
    k_n = st.q.shape[0]
    flow = graph.tree_flows(st.q)
    var_flow = np.abs(graph.tree_flows(sensors.flow_var(st.q))) + sensors.flow_abs_m3h**2
    pi = path_matrix(graph, st.measured)
    x = _design(graph, st, pi, flow)
    known = ~np.isnan(graph.known_s)
    known_part = np.zeros((k_n, len(st.measured)))
    if np.any(known):
        ks = np.where(known, graph.known_s, 0.0)
        known_part = np.asarray((pi @ (flow * np.abs(flow) * ks).T).T)
    rhs = (st.path_loss - known_part).ravel()
    s_base = np.where(known, graph.known_s, 0.0)

    def row_var(beta: FloatArray | None) -> FloatArray:
        s_pipe = s_base if beta is None else _pipe_s(graph, st, beta, s_base)
        return _row_var(sensors, st.path_loss, pi, s_pipe, flow, var_flow).ravel()

    sol, resid_w, hub, n_pass = irls(x, rhs, row_var, robust, progress)
    return _finish(
        graph, st, sensors, sol, resid_w, hub, flow, max_rel_se, "partial-tree", n_pass, k_n
    )


def irls(
    x: sp.csr_matrix,
    rhs: FloatArray,
    row_var: Callable[[FloatArray | None], FloatArray],
    robust: bool,
    progress: Progress | None,
) -> tuple[_Wls, FloatArray, FloatArray, int]:
    """Weighted least squares of ``x·β = rhs`` with Huber re-weighting (IRLS).

    ``row_var(β)`` gives the variance of every row at the current estimate (``None``: before
    the first solve). Returns the solution, the whitened residuals, the Huber weights and
    the number of passes.
    """
    hub = np.ones(rhs.size)
    var = row_var(None)
    dense = x.shape[1] <= DENSE_LIMIT  # passes without SVD only pay off where it is dense
    sol = _wls(sp.diags(1.0 / np.sqrt(var)) @ x, rhs / np.sqrt(var), analyse=not dense)
    n_pass = IRLS_ITERATIONS if robust else 2
    it = 0
    for it in range(n_pass):  # noqa: B007 - the count is returned
        if progress:
            progress((it + 1) / (n_pass + 1), "path equations")
        var_old, hub_old = var, hub
        var = row_var(sol.beta)
        resid = (x @ sol.beta - rhs) / np.sqrt(var)
        hub = huber_weights(resid) if robust else hub
        wsq = np.sqrt(hub / var)
        last = it == n_pass - 1 or (
            it > 0
            and np.max(np.abs(hub - hub_old), initial=0.0) < IRLS_WEIGHT_TOL
            and np.max(np.abs(var / var_old - 1.0), initial=0.0) < IRLS_WEIGHT_TOL
        )
        sol = _wls(sp.diags(wsq) @ x, rhs * wsq, analyse=last or not dense)
        if last:
            break
    resid_w = (x @ sol.beta - rhs) * np.sqrt(hub / var)
    return sol, resid_w, hub, it + 1


def _pipe_s(graph: PipeGraph, st: _Setup, beta: FloatArray, base: FloatArray) -> FloatArray:
    """Spread group sums over their pipes (equally) for variance propagation only."""
    s = base.copy()
    for gi, members in enumerate(st.groups):
        s[members] = max(float(beta[gi]), 0.0) / len(members)
    return s


def _finish(
    graph: PipeGraph,
    st: _Setup,
    sensors: SensorModel,
    sol: _Wls,
    resid_w: FloatArray,
    hub: FloatArray,
    flow: FloatArray,
    max_rel_se: float,
    method: str,
    n_iter: int,
    k_n: int,
) -> EstimationResult:
    b = graph.n_pipes
    n_g = len(st.groups)
    dof = resid_w.size - sol.rank
    chi2_dof = float(np.sum(resid_w**2) / dof) if dof > 0 else float("nan")
    scale = max(1.0, chi2_dof) if dof > 0 else 1.0
    g_s = sol.beta
    g_se = np.sqrt(sol.cov * scale)
    g_ok = np.ones(n_g, dtype=bool)
    g_reason = [""] * n_g
    prop = proportional_conditions(st.q[:, graph.free_nodes])
    n_unknown = n_g
    kmin = min_conditions(graph, n_unknown, len(st.measured))
    short_by = max(0, kmin - k_n)
    suggestions: list[str] = []
    out_groups: list[Group] = []
    coupled_of = np.full(n_g, -1)
    for ci, members in enumerate(null_groups(sol.null)):
        pipes = np.concatenate([st.groups[i] for i in members])
        kind, ends = group_kind(graph, pipes)
        why = (
            "conditions only scale one flow distribution"
            if prop
            else f"too few independent conditions ({k_n})"
        )
        if kind == "parallel":
            why = f"parallel between {ends[0]} and {ends[1]}: not separable from the heads"
        blind = len(members) == 1 and sol.col_norm[members[0]] <= RANK_RTOL * max(
            float(sol.col_norm.max()), 1e-300
        )
        if blind:
            far = [
                graph.node_ids[v]
                for v in np.unique(np.concatenate([graph.pipe_from[pipes], graph.pipe_to[pipes]]))
                if not graph.head_measured[v]
            ]
            why = "no measured head depends on it"
            kind = "blind"
        name = f"C{ci + 1}"
        coupled_of[members] = ci
        for i in members:
            g_ok[i] = False
            g_reason[i] = f"{why} ({name})"
        out_groups.append(
            Group(
                name,
                kind if kind in ("parallel", "blind") else "coupled",
                tuple(graph.pipe_ids[j] for j in pipes),
                ends,
                float("nan"),
                float("nan"),
                float("nan"),
                False,
                why,
            )
        )
        if blind:
            ids = ", ".join(graph.pipe_ids[j] for j in pipes)
            suggestions.append(
                f"pipes {ids}: a pressure sensor at {', '.join(far[:3])} "
                "would make them identifiable"
            )
        else:
            suggestions.append(
                suggestion(graph, pipes, kind, proportional=prop, short_by=short_by)
            )
    max_loss = g_s * np.max(flow[:, st.rep] ** 2, axis=0)
    sigma_h = np.sqrt(2.0) * sensors.head_abs_m
    for i in np.flatnonzero(g_ok):
        if np.all(flow[:, st.rep[i]] == 0):
            g_ok[i], g_reason[i] = False, "no flow in any condition"
        elif not np.isfinite(g_s[i]) or g_s[i] <= 0:
            g_ok[i], g_reason[i] = False, "estimate not positive: noise exceeds the signal"
        elif max_loss[i] < SNR_MIN * sigma_h:
            g_ok[i] = False
            g_reason[i] = (
                f"head loss below sensor error (max {1e3 * max_loss[i]:.1f} mm, "
                f"σ {1e3 * sigma_h:.1f} mm)"
            )
        elif g_se[i] > max_rel_se * g_s[i]:
            g_ok[i] = False
            g_reason[i] = f"uncertain: standard error {100 * g_se[i] / g_s[i]:.0f} % of S"
    s = np.full(b, np.nan)
    se = np.full(b, np.nan)
    lo = np.full(b, np.nan)
    hi = np.full(b, np.nan)
    ident = np.zeros(b, dtype=bool)
    reason = [""] * b
    known = ~np.isnan(graph.known_s)
    s[known] = lo[known] = hi[known] = graph.known_s[known]
    se[known] = 0.0
    ident[known] = True
    for j in np.flatnonzero(known):
        reason[j] = "known S (given)"
    for i, members in enumerate(st.groups):
        val_ok = np.isfinite(g_s[i]) and g_s[i] > 0 and coupled_of[i] < 0
        g_lo = max(0.0, g_s[i] - Z95 * g_se[i]) if val_ok else np.nan
        g_hi = g_s[i] + Z95 * g_se[i] if val_ok else np.nan
        if len(members) == 1:
            j = members[0]
            if val_ok:
                s[j], se[j], lo[j], hi[j] = g_s[i], g_se[i], g_lo, g_hi
            ident[j], reason[j] = g_ok[i], g_reason[i]
            continue
        name = f"S{i + 1}"
        ends = tuple(graph.node_ids[v] for v in graph.boundary_nodes(members))
        out_groups.append(
            Group(
                name,
                "series",
                tuple(graph.pipe_ids[j] for j in members),
                ends,
                float(g_s[i]) if val_ok else float("nan"),
                g_lo,
                g_hi,
                bool(g_ok[i]),
                g_reason[i],
            )
        )
        for j in members:
            reason[j] = f"series: only the sum of S is identifiable ({name})"
            if not g_ok[i]:
                reason[j] += f"; {g_reason[i]}"
        if g_ok[i]:
            suggestions.append(
                suggestion(graph, members, "series", proportional=False, short_by=0)
            )
    suspects = _suspects(graph, st, hub, k_n)
    n_bad = int(np.sum(~g_ok))
    status = Status.of(n_bad, n_g)
    message = (
        f"rank {sol.rank} of {n_g} groups ({b} pipes, {sum(len(g) > 1 for g in st.groups)} "
        f"series groups); {int(g_ok.sum())} of {n_g} groups identified"
    )
    return EstimationResult(
        method=method,
        success=status != Status.FAILED,
        status=status,
        message=message,
        pipe_ids=graph.pipe_ids,
        s_m_per_m3h2=s,
        s_se=se,
        s_low=lo,
        s_high=hi,
        identifiable=ident,
        reason=tuple(reason),
        groups=tuple(out_groups),
        rank=sol.rank,
        n_unknowns=n_g,
        condition_number=sol.cond,
        n_conditions=k_n,
        min_conditions=kmin,
        chi2_per_dof=chi2_dof,
        n_iter=n_iter,
        suspect_sensors=suspects,
        suggestions=tuple(suggestions),
    )


def _suspects(graph: PipeGraph, st: _Setup, hub: FloatArray, k_n: int) -> tuple[str, ...]:
    low = (hub.reshape(k_n, len(st.measured)) < 0.999).mean(axis=0)
    bad = np.flatnonzero(low >= 0.5)
    return tuple(f"head at node {graph.node_ids[st.measured[i]]}" for i in bad)
