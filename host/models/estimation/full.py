"""Every node head measured: the seed paper's linear method (Buildings 2022, 12, 743).

With ``y_j = S_j^(−1/2)`` and ``d_kj = sgn(Δh_kj)·sqrt|Δh_kj|`` every pipe flow is
``G_kj = d_kj·y_j`` and mass balance ``A·D_k·y = q_k`` is linear in y. Writing the flows as
``G_k = T q_k + C f_k`` (spanning-tree flows plus chord flows ``f_k``, see
:mod:`host.models.estimation.graph`) gives one equation per pipe and condition,

    d_kj · y_j − (C f_k)_j = (T q_k)_j ,

unknowns y (b) and f (K × n_loops): the paper's tree/cotree form. Each y_j is eliminated in
closed form (it appears only in pipe j's K equations), leaving a small dense least-squares
problem in the chord flows only (variable projection: exact, no iteration). Its SVD gives the
Moore–Penrose solution, the rank test (S is unique exactly when the stacked system has full
column rank: every pipe has a head loss in some condition and the reduced chord system has
full rank), the condition number and the null space that names the pipes the data cannot
separate. Trees need one condition; the counting bound is ``K·n ≥ b``.

Each equation is weighted by the variance the sensor model implies,
``var = y²·var(d) + var(T q)``, and re-weighted with Huber weights (IRLS) so a biased sensor
only affects the pipes it touches. Standard errors of y follow from the linear model exactly
(the eliminated y_j is uncorrelated with the projected chord fit) and map to S = 1/y².
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from host.models.estimation.graph import FloatArray, IntArray, PipeGraph
from host.models.estimation.identifiability import (
    group_kind,
    min_conditions,
    null_groups,
    proportional_conditions,
    suggestion,
)
from host.models.estimation.refine import refine_loops
from host.models.estimation.result import (
    MAX_REL_SE,
    RANK_RTOL,
    SNR_MIN,
    Z95,
    EstimationResult,
    Group,
    Progress,
    Status,
    s_interval_from_y,
)
from host.models.estimation.weighting import (
    IRLS_ITERATIONS,
    SensorModel,
    huber_weights,
    sqrt_head_var,
)

#: ... and eigenvalues of the normal matrix (large loop systems) below this fraction.
RANK_RTOL_NORMAL = 1e-14
#: Largest dense chord system (entries) solved by SVD; beyond, normal equations.
DENSE_SVD_MAX = 3_000_000
#: Linear fits with a smaller χ²/dof are noise-free: the nonlinear refinement is skipped.
CONSISTENT_CHI2 = 1e-10
#: A refinement that moves S by more than this (log) from its start is not trusted.
MAX_LOG_JUMP = float(np.log(100.0))
#: A loop pipe's linear estimate with a larger relative standard error does not start the
#: nonlinear refinement (see estimate_full).
TRUST_REL_SE = 1.0
#: The re-weighting stops when no y moves by more than this fraction (far below any error).
IRLS_RTOL = 1e-6
#: Re-weighting passes of the linear stage when the nonlinear refinement follows.
IRLS_PASSES_BEFORE_REFINE = 3
#: RMS of a pipe's whitened residuals above which it counts as inconsistent.
SUSPECT_RMS = 3.0


@dataclass(frozen=True)
class _Linear:
    """Solution of one weighted linear solve."""

    y: FloatArray  # (b,)
    flow: FloatArray  # (K, b) fitted flows
    var_y: FloatArray  # (b,) in whitened units
    rank_chords: int
    n_chord_unknowns: int
    cond: float
    null_dy: FloatArray  # (b, m)


def _solve_linear(
    graph: PipeGraph,
    d: FloatArray,
    g0: FloatArray,
    w: FloatArray,
    known_y: FloatArray,
    uncertainty: bool = True,
) -> _Linear:
    """One weighted solve; ``uncertainty=False`` skips var_y and the null space (IRLS passes)."""
    k_n, b = d.shape
    unknown = np.isnan(known_y)
    sw = np.sqrt(w)
    u = sw * d
    du = np.sum(u * u, axis=0)
    has = unknown & (du > 0)
    du_safe = np.where(du > 0, du, 1.0)
    c = graph.loop_basis
    n_l = c.shape[1]
    flow = g0.copy()
    var_y = np.where(has, 1.0 / du_safe, np.inf)
    null_dy = np.zeros((b, 0))
    rank, cond = 0, 1.0
    if n_l:
        lp, c_l = graph.loop_dense  # (p, L): loop pipes only, the other rows of C are zero
        p_n = len(lp)
        has_l = has[lp]
        u_l, sw_l = u[:, lp], sw[:, lp]
        # coef[k, kk, r] = (δ_k,kk − U_kr·U_kk,r / DU_r)·sqrt(w_kk,r): y eliminated per pipe
        proj = np.where(has_l, u_l[:, None, :] * u_l[None, :, :] / du_safe[lp], 0.0)
        coef = (np.eye(k_n)[:, :, None] - proj) * sw_l[None, :, :]
        rhs = -np.einsum("kqr,qr->kr", coef, g0[:, lp])
        rhs += np.where(~unknown[lp], u_l * np.nan_to_num(known_y[lp]), 0.0)
        a_lp = np.einsum(
            "kr,rl->rkl", np.where(has_l, w[:, lp] * d[:, lp] / du_safe[lp], 0.0), c_l
        ).reshape(p_n, k_n * n_l)
        # columns (chord flows of one condition and loop) are equilibrated before the rank
        # test: their scales differ by the weights and flows of the pipes they touch
        if k_n * p_n * k_n * n_l <= DENSE_SVD_MAX:
            m_dense = np.einsum("kqr,rl->krql", coef, c_l).reshape(k_n * p_n, k_n * n_l)
            cn = np.linalg.norm(m_dense, axis=0)
            cn = np.where(cn > 0, cn, 1.0)
            wide = m_dense.shape[0] < m_dense.shape[1]
            u_svd, sv, vt = np.linalg.svd(m_dense / cn, full_matrices=wide)
            u_svd = u_svd[:, : sv.size]
            smax = sv[0] if sv.size else 0.0
            rank = int(np.sum(sv > RANK_RTOL * smax)) if smax > 0 else 0
            zf = vt[:rank].T @ ((u_svd[:, :rank].T @ rhs.ravel()) / sv[:rank])
            cond = float(smax / sv[rank - 1]) if rank else float("inf")
        else:
            # large: normal equations from the Kronecker structure, Σ_r (coefᵀcoef)_r ⊗ c_r c_rᵀ
            pk = np.einsum("kqr,ksr->qsr", coef, coef).reshape(k_n * k_n, p_n)
            blocks = graph.loop_gram(pk).reshape(k_n, k_n, n_l, n_l).transpose(0, 2, 1, 3)
            nmat = blocks.reshape(k_n * n_l, k_n * n_l)
            cn = np.sqrt(np.clip(np.diag(nmat), 0.0, None))
            cn = np.where(cn > 0, cn, 1.0)
            mtb = np.einsum("kqr,kr,rl->ql", coef, rhs, c_l).ravel()
            n_s = nmat / np.outer(cn, cn)
            fast = None
            if not uncertainty:  # a re-weighting pass: Cholesky, no rank or null space
                try:
                    ridge = RANK_RTOL_NORMAL * float(np.max(np.diag(n_s)))
                    fast = cho_factor(n_s + ridge * np.eye(n_s.shape[0]))
                except np.linalg.LinAlgError:
                    fast = None
            if fast is not None:

                def apply(v: FloatArray) -> FloatArray:
                    out: FloatArray = cho_solve(fast, v)
                    return out

            else:
                lam, vec = np.linalg.eigh(n_s)
                order = np.argsort(lam)[::-1]
                lam, vt = np.clip(lam[order], 0.0, None), vec[:, order].T
                sv = np.sqrt(lam)
                smax = sv[0] if sv.size else 0.0
                rank = int(np.sum(lam > RANK_RTOL_NORMAL * lam[0])) if smax > 0 else 0
                # in scaled unknowns z = cn·f
                pinv: FloatArray = (vt[:rank].T / lam[:rank]) @ vt[:rank]

                def apply(v: FloatArray) -> FloatArray:
                    return pinv @ v

            z = apply(mtb / cn)
            for _ in range(2):  # iterative refinement: normal equations square the condition
                cf = c_l @ (z / cn).reshape(k_n, n_l).T  # (p, K)
                resid = rhs - np.einsum("kqr,rq->kr", coef, cf)
                z = z + apply(np.einsum("kqr,kr,rl->ql", coef, resid, c_l).ravel() / cn)
            if fast is not None:  # a re-weighting pass: neither rank nor condition number
                zf, rank, cond = z, 0, float("nan")
            else:
                zf = vt[:rank].T @ (vt[:rank] @ z)
                cond = float(smax / sv[rank - 1]) if rank else float("inf")
        f = (zf / cn).reshape(k_n, n_l)  # back to unscaled chord flows
        flow = g0 + (c @ f.T).T
        if uncertainty:
            vs = vt[:rank] / cn  # back to unscaled chord flows
            cov_f = (vs.T / sv[:rank] ** 2) @ vs
            var_y[lp] += np.where(has_l, np.sum((a_lp @ cov_f) * a_lp, axis=1), 0.0)
            null_dy = np.zeros((b, vt.shape[0] - rank))
            null_dy[lp] = a_lp @ (vt[rank:] / cn).T
    y = np.where(has, np.sum(w * d * flow, axis=0) / du_safe, np.nan)
    y = np.where(unknown, y, known_y)
    return _Linear(y, flow, var_y, rank, n_l * k_n, cond, null_dy)


def _equivalent(
    graph: PipeGraph,
    pipes: IntArray,
    ends: tuple[int, int],
    dh: FloatArray,
    flow: FloatArray,
    var_flow: FloatArray,
    var_dh: FloatArray,
) -> tuple[float, float, float]:
    """Equivalent S (and 95 % interval) between the two end nodes of a pipe group."""
    u_node, v_node = ends
    pot = {u_node: np.zeros(dh.shape[0])}
    todo = [u_node]
    members = set(pipes.tolist())
    while todo:
        node = todo.pop()
        for j in members:
            a, bb = int(graph.pipe_from[j]), int(graph.pipe_to[j])
            if a == node and bb not in pot:
                pot[bb] = pot[node] - dh[:, j]
                todo.append(bb)
            elif bb == node and a not in pot:
                pot[a] = pot[node] + dh[:, j]
                todo.append(a)
    dh_uv = -pot.get(v_node, np.full(dh.shape[0], np.nan))  # head loss u → v
    out = np.zeros(dh.shape[0])
    for j in pipes:
        if graph.pipe_from[j] == u_node:
            out += flow[:, j]
        elif graph.pipe_to[j] == u_node:
            out -= flow[:, j]
    x = out * np.abs(out)
    denom = float(np.sum(x * x))
    if denom <= 0 or not np.all(np.isfinite(dh_uv)):
        return float("nan"), float("nan"), float("nan")
    s_eq = float(np.sum(dh_uv * x) / denom)
    vf = float(np.max(var_flow[:, pipes]))
    rel = np.sqrt(4 * vf / np.maximum(out**2, 1e-300) + np.max(var_dh[:, pipes]) / dh_uv**2)
    rel_se = float(1.0 / np.sqrt(np.sum(1.0 / rel**2)))
    return s_eq, s_eq * max(0.0, 1 - Z95 * rel_se), s_eq * (1 + Z95 * rel_se)


def estimate_full(
    graph: PipeGraph,
    dh_m: FloatArray,
    outflow_m3h: FloatArray,
    sensors: SensorModel | None = None,
    *,
    robust: bool = True,
    refine: bool = True,
    max_rel_se: float = MAX_REL_SE,
    s_design: FloatArray | None = None,
    progress: Progress | None = None,
) -> EstimationResult:
    """Estimate S of every pipe from head losses and outflows of K conditions.

    Parameters
    ----------
    graph : PipeGraph
    dh_m : ndarray, shape (K, n_pipes)
        Head loss ``P[from] − P[to]`` of every pipe in every condition, m.
    outflow_m3h : ndarray, shape (K, n_nodes)
        Node outflows, m³/h (the reference's entry is ignored: it balances the rest).
    sensors : SensorModel
        Measurement accuracies that set the weights and the uncertainty.
    robust : bool
        Huber re-weighting against outliers.
    refine : bool
        Finish the loop pipes with the nonlinear maximum-likelihood fit of
        :mod:`host.models.estimation.refine` (removes the errors-in-variables bias of noisy data).
    max_rel_se : float
        Estimates with a larger relative standard error are flagged not identifiable.
    s_design : ndarray, shape (n_pipes,), optional
        Design S (the network file's): a second start of the loop refinement, and its start
        for loop pipes the linear stage cannot pin.

    Returns
    -------
    EstimationResult
    """
    sensors = sensors or SensorModel()
    dh = np.atleast_2d(np.asarray(dh_m, dtype=float))
    q = np.atleast_2d(np.asarray(outflow_m3h, dtype=float)).copy()
    k_n, b = dh.shape
    if b != graph.n_pipes or q.shape != (k_n, graph.n_nodes):
        raise ValueError(
            f"dh_m must be (K, {graph.n_pipes}) and outflow_m3h (K, {graph.n_nodes}); "
            f"got {dh.shape} and {q.shape}"
        )
    if not (np.all(np.isfinite(dh)) and np.all(np.isfinite(q))):
        raise ValueError("head losses and outflows must be finite")
    if s_design is not None:
        s_design = np.asarray(s_design, dtype=float)  # checked once, used as an array below
        bad = ~(np.isfinite(s_design) & (s_design > 0)) if s_design.shape == (b,) else None
        if bad is None or np.any(bad & np.isnan(graph.known_s)):
            where = (
                ""
                if bad is None
                else ": " + ", ".join(graph.pipe_ids[j] for j in np.flatnonzero(bad)[:10])
            )
            raise ValueError(f"s_design must be ({b},) finite and > 0 for every pipe{where}")
    q[:, graph.reference] = 0.0
    q[:, graph.reference] = -q.sum(axis=1)
    g0 = graph.tree_flows(q)
    # chord flows are unknowns, not measurements: only the absolute floor applies to them
    var_floor = sensors.flow_abs_m3h**2 + 1e-24
    var_g0 = np.abs(graph.tree_flows(sensors.flow_var(q))) + var_floor
    d = np.sign(dh) * np.sqrt(np.abs(dh))
    var_dh = sensors.dh_var(dh)
    var_d = sqrt_head_var(dh, var_dh)
    known_y = 1.0 / np.sqrt(graph.known_s)
    # first weights: flows approximated by the tree flows
    g_abs = np.maximum(np.abs(g0), np.mean(np.abs(g0), axis=1, keepdims=True))
    w_model = 1.0 / (var_g0 + g_abs**2 * var_d / np.maximum(d * d, var_d))
    hub = np.ones_like(w_model)
    lin = _solve_linear(graph, d, g0, w_model, known_y, uncertainty=False)
    # with the refinement after it (which re-weights in head-loss space) the linear stage only
    # needs to start it, name the null space and flag sensors: a few passes do
    n_pass = (IRLS_PASSES_BEFORE_REFINE if refine else IRLS_ITERATIONS) if robust else 2
    for it in range(n_pass):
        if progress:
            progress((it + 1) / (n_pass + 1), "weighted fit")
        y_w = np.where(np.isfinite(lin.y), lin.y, 0.0)
        w_model = 1.0 / (y_w**2 * var_d + var_g0)
        resid = (d * y_w - lin.flow) * np.sqrt(w_model)
        new_hub = huber_weights(resid) if robust else hub
        y_old = lin.y
        lin = _solve_linear(graph, d, g0, w_model * new_hub, known_y, uncertainty=False)
        change = np.nanmax(np.abs(lin.y - y_old) / np.maximum(np.abs(lin.y), 1e-300), initial=0)
        hub = new_hub
        if it >= 1 and change < IRLS_RTOL:
            break
    lin = _solve_linear(graph, d, g0, w_model * hub, known_y)
    y_w = np.where(np.isfinite(lin.y), lin.y, 0.0)
    w_final = w_model * hub
    resid_w = (d * y_w - lin.flow) * np.sqrt(w_final)
    unknown = np.isnan(graph.known_s)
    has = unknown & np.any(d != 0, axis=0)
    rank = int(has.sum()) + lin.rank_chords
    n_unknowns = int(unknown.sum()) + lin.n_chord_unknowns
    dof = k_n * (graph.n_nodes - 1) - rank
    chi2 = float(np.sum(resid_w**2))
    chi2_dof = chi2 / dof if dof > 0 else float("nan")
    scale = max(1.0, chi2_dof) if dof > 0 else 1.0
    y_se = np.sqrt(lin.var_y * scale)
    s, s_se, s_lo, s_hi = s_interval_from_y(lin.y, y_se)
    s = np.where(unknown, s, graph.known_s)
    s_se = np.where(unknown, s_se, 0.0)
    s_lo = np.where(unknown, s_lo, graph.known_s)
    s_hi = np.where(unknown, s_hi, graph.known_s)
    ident = np.ones(b, dtype=bool)
    reason = ["" if u_ else "known S (given)" for u_ in unknown]
    prop = proportional_conditions(q[:, graph.free_nodes])
    groups: list[Group] = []
    suggestions: list[str] = []
    short_by = max(0, min_conditions(graph, int(unknown.sum()), graph.n_nodes - 1) - k_n)
    var_flow = var_g0
    for gi, pipes in enumerate(null_groups(lin.null_dy)):
        kind, ends = group_kind(graph, pipes)
        name = f"G{gi + 1}"
        end_idx = graph.boundary_nodes(pipes)
        if kind == "parallel":
            s_eq, lo, hi = _equivalent(
                graph, pipes, (int(end_idx[0]), int(end_idx[1])), dh, lin.flow, var_flow, var_dh
            )
            why = f"parallel: only the equivalent S between {ends[0]} and {ends[1]} ({name})"
        else:
            s_eq = lo = hi = float("nan")
            why = (
                "conditions only scale one flow distribution"
                if prop
                else f"too few independent conditions ({k_n})"
            )
        groups.append(
            Group(
                name=name,
                kind=kind,
                pipe_ids=tuple(graph.pipe_ids[j] for j in pipes),
                end_nodes=ends,
                s_m_per_m3h2=s_eq,
                s_low=lo,
                s_high=hi,
                identifiable=kind == "parallel" and np.isfinite(s_eq),
                reason="" if kind == "parallel" else why,
            )
        )
        suggestions.append(suggestion(graph, pipes, kind, proportional=prop, short_by=short_by))
        for j in pipes:
            ident[j] = False
            reason[j] = f"{why}" if kind == "parallel" else f"{why} ({name})"
        s[pipes] = s_se[pipes] = s_lo[pipes] = s_hi[pipes] = np.nan
    n_refine = 0
    consistent = dof > 0 and chi2_dof < CONSISTENT_CHI2
    if refine and not consistent:
        # tree pipes: effective-variance fit in head-loss space (no square root of noise)
        tp = np.flatnonzero(unknown & ~graph.in_loop & has & ident)
        x_t = np.abs(g0[:, tp]) * g0[:, tp]
        guess = np.sum(x_t * dh[:, tp], axis=0) / np.maximum(np.sum(x_t * x_t, axis=0), 1e-300)
        start = np.where(np.isfinite(s[tp]) & (s[tp] > 0), s[tp], guess)
        tp, start = tp[start > 0], start[start > 0]  # noise may leave no positive start
        if tp.size:
            s_t, se_t = _tree_pipes_in_dh_space(
                start, dh[:, tp], g0[:, tp], var_dh[:, tp], var_g0[:, tp], robust
            )
            sane = np.isfinite(s_t) & (s_t > 0) & (np.abs(np.log(s_t / start)) < MAX_LOG_JUMP)
            tp, s_t, se_t = tp[sane], s_t[sane], se_t[sane] * np.sqrt(scale)
            s[tp], s_se[tp] = s_t, s_t * se_t
            with np.errstate(over="ignore"):  # a pipe without signal: upper bound infinite
                s_lo[tp], s_hi[tp] = s_t * np.exp(-Z95 * se_t), s_t * np.exp(Z95 * se_t)
    if refine and graph.n_loops and lin.rank_chords and not consistent:
        s_lin = np.where(unknown, s_interval_from_y(lin.y, y_se)[0], graph.known_s)
        # the fit starts from the linear S where the linear stage has a hold on it; where it
        # has none (noise flipped y, or y ≈ 0: S ≈ 1e26 for a loop pipe of small flow whose
        # chord flow the noise cannot pin) from the design value, or without one from the
        # pipe's Δh and the linear stage's flows; such a start would otherwise stall the fit
        trusted = np.isfinite(s_lin) & (s_lin > 0) & (s_se <= TRUST_REL_SE * s_lin)
        redo = graph.in_loop & unknown & ~trusted
        if np.any(redo):
            if s_design is not None:
                s_lin[redo] = s_design[redo]
            else:  # a flow near zero makes the guess absurd: keep it within the trusted range
                x = np.abs(lin.flow[:, redo]) * lin.flow[:, redo]
                guess = np.sum(x * dh[:, redo], axis=0) / np.maximum(np.sum(x * x, axis=0), 1e-300)
                ok = trusted & graph.in_loop
                lo, hi = (np.min(s_lin[ok]), np.max(s_lin[ok])) if np.any(ok) else (1.0, 1.0)
                s_lin[redo] = np.clip(np.where(guess > 0, guess, hi), lo, hi)
        design = None
        if s_design is not None:
            design = np.where(unknown, s_design, graph.known_s)
        # every loop pipe with a head loss is fitted, also those of unidentifiable groups: their
        # S shape the flows of the others (the prior holds the group's free direction)
        free = unknown & has
        ref = refine_loops(
            graph, s_lin, dh, g0, var_dh, var_g0, free, robust, design, flow_start=lin.flow
        )
        if ref is not None:
            n_refine = ref.n_iter
            j_r = np.flatnonzero(ref.refined & ident & np.isfinite(ref.s) & (ref.s > 0))
            se_log = ref.se_log[j_r] * np.sqrt(scale)
            s[j_r] = ref.s[j_r]
            s_se[j_r] = ref.s[j_r] * se_log
            with np.errstate(over="ignore"):
                s_lo[j_r] = ref.s[j_r] * np.exp(-Z95 * se_log)
                s_hi[j_r] = ref.s[j_r] * np.exp(Z95 * se_log)
    max_dh = np.max(np.abs(dh), axis=0)
    sigma_dh = np.sqrt(np.max(var_dh, axis=0))
    for j in np.flatnonzero(unknown & ident):
        if not has[j]:
            ident[j], reason[j] = False, "no head loss in any condition"
        elif max_dh[j] < SNR_MIN * sigma_dh[j]:
            ident[j] = False
            reason[j] = (
                f"head loss below sensor error (max {1e3 * max_dh[j]:.1f} mm, "
                f"σ {1e3 * sigma_dh[j]:.1f} mm)"
            )
        elif not np.isfinite(s[j]):
            ident[j], reason[j] = False, "estimate not positive: noise exceeds the signal"
        elif s_se[j] > max_rel_se * s[j]:
            ident[j] = False
            reason[j] = f"uncertain: standard error {100 * s_se[j] / s[j]:.0f} % of S"
    suspects = _suspect_heads(graph, (d * y_w - lin.flow) * np.sqrt(w_model))
    n_bad = int(np.sum(unknown & ~ident))
    status = Status.of(n_bad, int(unknown.sum()))
    message = (
        f"rank {rank} of {n_unknowns} unknowns; "
        + ("S unique" if rank == n_unknowns else f"{n_unknowns - rank} direction(s) undetermined")
        + f"; {int(np.sum(unknown & ident))} of {int(unknown.sum())} pipes identified"
    )
    return EstimationResult(
        method="full",
        success=status != Status.FAILED,
        status=status,
        message=message,
        pipe_ids=graph.pipe_ids,
        s_m_per_m3h2=s,
        s_se=s_se,
        s_low=s_lo,
        s_high=s_hi,
        identifiable=ident,
        reason=tuple(reason),
        groups=tuple(groups),
        rank=rank,
        n_unknowns=n_unknowns,
        condition_number=lin.cond,
        n_conditions=k_n,
        min_conditions=min_conditions(graph, int(unknown.sum()), graph.n_nodes - 1),
        chi2_per_dof=chi2_dof,
        n_iter=n_pass + n_refine,
        suspect_sensors=suspects,
        suggestions=tuple(suggestions),
    )


def _suspect_heads(graph: PipeGraph, resid_w: FloatArray) -> tuple[str, ...]:
    """Head sensors that explain the pipes with inconsistent residuals.

    A pipe is inconsistent when its whitened residuals have an RMS above ``SUSPECT_RMS``.
    Greedily, the node touching the most inconsistent pipes (at least two, and at least half
    of its pipes) is named and its pipes are explained; a leaf cannot be told from its pipe.
    """
    rms = np.sqrt(np.mean(resid_w**2, axis=0))
    bad = rms > SUSPECT_RMS
    found: list[str] = []
    deg = graph.degree
    while np.any(bad):
        n = graph.n_nodes
        count = np.bincount(graph.pipe_from[bad], minlength=n) + np.bincount(
            graph.pipe_to[bad], minlength=n
        )
        node = int(np.argmax(count))
        if count[node] < max(2, 0.5 * deg[node]):
            break
        found.append(f"head at node {graph.node_ids[node]}")
        bad &= (graph.pipe_from != node) & (graph.pipe_to != node)
    return tuple(found)


def _tree_pipes_in_dh_space(
    s0: FloatArray,
    dh: FloatArray,
    g0: FloatArray,
    var_dh: FloatArray,
    var_g0: FloatArray,
    robust: bool,
) -> tuple[FloatArray, FloatArray]:
    """Per-pipe fit of ``Δh = S·x`` (x = |G|G from the outflows) with effective variances.

    For pipes outside every loop the flow is known from the outflows, so each S is a
    one-parameter regression; in head-loss space no square root of a noisy head loss is
    taken. Weights ``1/(var Δh + S²·var x)`` with ``var x = (2|G|)²·var G``, re-solved a few
    times (and Huber-weighted). Returns S and the standard error of log S, shapes (p,).
    """
    x = np.abs(g0) * g0
    var_x = (2.0 * np.abs(g0)) ** 2 * var_g0
    s = s0.copy()
    hub = np.ones_like(dh)
    for _ in range(IRLS_ITERATIONS):
        w = hub / (var_dh + s**2 * var_x)
        s_new = np.sum(w * x * dh, axis=0) / np.maximum(np.sum(w * x * x, axis=0), 1e-300)
        s_new = np.where(s_new > 0, s_new, s)
        if robust:
            hub = huber_weights((s_new * x - dh) / np.sqrt(var_dh + s_new**2 * var_x))
        done = np.max(np.abs(s_new - s) / s) < 1e-12
        s = s_new
        if done:
            break
    w = hub / (var_dh + s**2 * var_x)
    se_log = 1.0 / np.sqrt(np.maximum(np.sum(w * x * x, axis=0), 1e-300)) / s
    return s, se_log


def dh_from_heads(graph: PipeGraph, head_m: FloatArray) -> FloatArray:
    """Head losses ``P[from] − P[to]`` (K, n_pipes) from node heads (K, n_nodes)."""
    h = np.atleast_2d(np.asarray(head_m, dtype=float))
    dh: FloatArray = h[:, graph.pipe_from] - h[:, graph.pipe_to]
    return dh
