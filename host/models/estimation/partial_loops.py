"""Heads at some nodes only, looped network: the iterative fit with the forward model.

The chord flows depend on S, so the path equations are no longer linear. Levenberg–Marquardt
on log S (Gauss–Newton step first, step limited to a factor e) with the model heads of
:mod:`.forward` and the implicit-function sensitivities ``dP/dS`` as Jacobian; Huber weights
every few steps. Started from the design S of the network file or, without it, from
alternating linear solves (flows fixed → path and loop equations linear in S → new flows).
It is a local method. Rank, null space and uncertainty come from the Jacobian at the solution
(:func:`.partial._finish`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from host.models.estimation.forward import ForwardError, head_sensitivity, solve_flows
from host.models.estimation.graph import FloatArray, PipeGraph
from host.models.estimation.partial import (
    Progress,
    _finish,
    _row_var,
    _Setup,
    _Wls,
    _wls,
    path_matrix,
)
from host.models.estimation.result import EstimationResult
from host.models.estimation.weighting import SensorModel, huber_weights

#: Levenberg–Marquardt limits.
LM_MAX_ITER = 60
LM_STEP_TOL = 1e-13
#: Largest change of log S in one step (a factor e).
MAX_LOG_STEP = 1.0
#: Alternating linear sweeps that produce the starting point without design values.
START_SWEEPS = 12


def _jacobian(
    graph: PipeGraph, st: _Setup, s_full: FloatArray, flow: FloatArray, share: FloatArray
) -> FloatArray:
    """d(P_ref − P_m)/d(group S) for every condition and measured node, (K·m, groups)."""
    rows = [
        -(head_sensitivity(graph, s_full, flow[k], st.measured) * share) @ st.member
        for k in range(flow.shape[0])
    ]
    return np.vstack(rows)


def fit_looped(
    graph: PipeGraph,
    st: _Setup,
    sensors: SensorModel,
    robust: bool,
    max_rel_se: float,
    s_start: FloatArray | None,
    progress: Progress | None,
) -> EstimationResult:
    k_n = st.q.shape[0]
    known = ~np.isnan(graph.known_s)
    if s_start is None:
        s_pipe = _tree_start(graph, st, sensors)
    else:
        s_pipe = np.where(known, graph.known_s, np.asarray(s_start, dtype=float))
    # group parameters as sums; pipes inside a series group keep their share of the sum
    share = np.zeros(graph.n_pipes)
    theta = np.zeros(len(st.groups))
    for gi, members in enumerate(st.groups):
        tot = float(np.sum(s_pipe[members]))
        share[members] = s_pipe[members] / tot
        theta[gi] = np.log(tot)
    var_flow_q = sensors.flow_var(st.q)
    hub = np.ones(k_n * len(st.measured))
    lam = 1e-4
    n_iter = 0

    def evaluate(th: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        s_full = np.where(known, graph.known_s, 0.0) + share * (st.member @ np.exp(th))
        fr = solve_flows(graph, s_full, st.q, 0.0)
        model_loss = -fr.head_m[:, st.measured]  # reference head 0
        return s_full, fr.flow_m3h, model_loss

    s_full, flow, model = evaluate(theta)
    pi = path_matrix(graph, st.measured)
    var_flow = np.abs(graph.tree_flows(var_flow_q)) + sensors.flow_abs_m3h**2
    var = _row_var(sensors, st.path_loss, pi, s_full, flow, var_flow).ravel()
    resid = (model - st.path_loss).ravel()
    cost = float(np.sum(hub * resid**2 / var))
    for it in range(LM_MAX_ITER):
        n_iter = it + 1
        if progress:
            progress(min(0.95, (it + 1) / 20), "iterative fit (loops)")
        jac = _jacobian(graph, st, s_full, flow, share)
        jac_th = jac * np.exp(theta)[None, :]
        wsq = np.sqrt(hub / var)
        jw = jac_th * wsq[:, None]
        rw = resid * wsq
        a = jw.T @ jw
        grad = jw.T @ rw
        improved = False
        step = np.linalg.lstsq(jw, -rw, rcond=None)[0]  # Gauss–Newton first
        for attempt in range(14):
            if attempt:
                step = -np.linalg.solve(a + lam * np.diag(np.diag(a) + 1e-300), grad)
                lam *= 10
            step *= min(1.0, MAX_LOG_STEP / max(float(np.max(np.abs(step))), 1e-300))
            cand = theta + step
            try:
                s_c, flow_c, model_c = evaluate(cand)
            except ForwardError:
                continue
            resid_c = (model_c - st.path_loss).ravel()
            cost_c = float(np.sum(hub * resid_c**2 / var))
            if cost_c <= cost:
                theta, s_full, flow, model = cand, s_c, flow_c, model_c
                resid, cost = resid_c, cost_c
                lam = max(lam / 100, 1e-6)
                improved = True
                break
        converged = not improved or np.max(np.abs(step)) < LM_STEP_TOL
        if robust and (converged or it % 3 == 2):
            new_hub = huber_weights(resid / np.sqrt(var))
            if np.max(np.abs(new_hub - hub)) > 1e-6:
                hub = new_hub
                cost = float(np.sum(hub * resid**2 / var))
                converged = False
        var = _row_var(sensors, st.path_loss, pi, s_full, flow, var_flow).ravel()
        cost = float(np.sum(hub * resid**2 / var))
        if converged:
            break
    # linearised problem at the solution (in S-group units) for rank and uncertainty
    jac = _jacobian(graph, st, s_full, flow, share)
    wsq = np.sqrt(hub / var)
    sol = _wls(jac * wsq[:, None], -resid * wsq)
    sol = _Wls(np.exp(theta), sol.cov, sol.rank, sol.cond, sol.null, sol.col_norm)
    return _finish(
        graph,
        st,
        sensors,
        sol,
        resid * wsq,
        hub,
        flow,
        max_rel_se,
        "partial-loop",
        n_iter,
        k_n,
    )


def _tree_start(graph: PipeGraph, st: _Setup, sensors: SensorModel) -> FloatArray:
    """Starting S for looped networks by alternating linear solves.

    With the flows fixed, the path equations along the spanning tree and the loop equations
    ``Cᵀ(S∘|G|G) = 0`` are both linear in S. Start from the tree flows (chords at zero and the
    chords' S at the median), solve, recompute the flows with the forward model, repeat.
    """
    del sensors
    known = ~np.isnan(graph.known_s)
    pi = path_matrix(graph, st.measured)
    c_t = graph.loop_basis.T.tocsr()
    k_n = st.q.shape[0]
    flow = graph.tree_flows(st.q)
    s0 = np.ones(graph.n_pipes)
    for sweep in range(START_SWEEPS):
        blocks = [pi @ sp.diags(flow[k] * np.abs(flow[k])) for k in range(k_n)]
        if sweep:
            blocks += [c_t @ sp.diags(flow[k] * np.abs(flow[k])) for k in range(k_n)]
        x = sp.vstack(blocks).tocsr() @ st.member
        rhs = np.concatenate([st.path_loss.ravel(), np.zeros(x.shape[0] - st.path_loss.size)])
        if np.any(known):
            ks = np.where(known, graph.known_s, 0.0)
            full = sp.vstack(
                [pi @ sp.diags(flow[k] * np.abs(flow[k]) * ks) for k in range(k_n)]
                + (
                    [c_t @ sp.diags(flow[k] * np.abs(flow[k]) * ks) for k in range(k_n)]
                    if sweep
                    else []
                )
            )
            rhs = rhs - np.asarray(full.sum(axis=1)).ravel()
        beta = np.linalg.lstsq(x.toarray(), rhs, rcond=None)[0]
        good = np.isfinite(beta) & (beta > 0)
        fill = float(np.median(beta[good])) if np.any(good) else 1.0
        beta = np.where(good, beta, fill)
        s_new = np.where(known, graph.known_s, 0.0)
        for gi, members in enumerate(st.groups):
            s_new[members] = beta[gi] / len(members)
        if sweep and np.max(np.abs(s_new - s0) / s0) < 1e-3:
            s0 = s_new
            break
        s0 = s_new
        try:
            flow = solve_flows(graph, s0, st.q, 0.0).flow_m3h
        except ForwardError:
            break
    return s0
