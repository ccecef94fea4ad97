"""Nonlinear refinement of the loop pipes (every head measured), started from the linear fit.

The linear method of :mod:`.full` works with ``d = sgn(Δh)·sqrt|Δh|``. With noisy heads the
square root of a head loss near the noise level is biased, and the per-condition chord flows
inherit that bias. Pipes outside every loop are not affected (their flows follow from the
outflows alone). For the loop pipes we finish in head-loss space, where the measurement noise
lives, with the chord flows as nuisance parameters:

    minimise  Σ_k Σ_{j in loops} h_kj · (S_j |G_kj| G_kj − Δh_kj)² / σ_kj²,
    G_k = T q_k + C f_k,   σ² = var Δh + (2 S |G|)² var(T q),

over log S (the loop pipes) and the chord flows f_k of every condition (h: Huber weights).
Gauss–Newton with the exact Jacobian; S appears in one pipe's equations only, so the normal
equations are solved through the Schur complement on the chord flows (K·n_loops unknowns),
cost O(p·(K·L)²) for p loop pipes. Started at the linear solution it needs a few steps; on
noise-free data there is nothing to refine and it is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from host.estimation.forward import ForwardError, chord_flows
from host.estimation.graph import BoolArray, FloatArray, PipeGraph
from host.estimation.weighting import huber_weights

#: Gauss–Newton limits.
MAX_ITER = 15
STEP_TOL = 1e-10
#: Largest change of log S in one step.
MAX_LOG_STEP = 0.5
#: Gauss–Newton steps of the flow-tied fit, and fixed-point sweeps that give it a start.
MAX_ITER_FORWARD = 30
WARM_SWEEPS = 10
#: The fixed-point warm start is tried only when the linear start's χ² per residual exceeds
#: this (noise bigger than the sensors claim: the linear solution is off).
WARM_IF_CHI2 = 4.0


@dataclass(frozen=True)
class Refined:
    """Refined S, the standard error of log S (NaN where not refined) and the fitted flows."""

    s: FloatArray  # (b,)
    se_log: FloatArray  # (b,)
    refined: BoolArray  # (b,)
    n_iter: int
    flow: FloatArray  # (K, b)


def refine_loops(
    graph: PipeGraph,
    s0: FloatArray,
    flow0: FloatArray,
    dh: FloatArray,
    g0: FloatArray,
    var_dh: FloatArray,
    var_g0: FloatArray,
    free: BoolArray,
    robust: bool = True,
) -> Refined | None:
    """Refine S of the loop pipes marked ``free`` and every condition's chord flows.

    ``flow0`` (K, b) are the linear fit's flows (their chord entries start the chord flows).
    Returns None when there is nothing to refine or the start is unusable.
    """
    lp = np.flatnonzero(graph.in_loop)
    free_l = free[lp]
    if lp.size == 0 or not np.any(free_l) or not np.all(np.isfinite(s0[lp]) & (s0[lp] > 0)):
        return None
    c_l = graph.loop_basis[lp].toarray()  # (p, L)
    k_n, n_l, p_n = dh.shape[0], c_l.shape[1], lp.size
    g0_l, dh_l, vdh, vg = g0[:, lp], dh[:, lp], var_dh[:, lp], var_g0[:, lp]
    log_s = np.log(s0[lp])
    f = flow0[:, graph.chords].copy()  # C has the identity on the chords

    def evaluate(ls: FloatArray, ff: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        s = np.exp(ls)
        g = g0_l + ff @ c_l.T  # (K, p)
        sig = np.sqrt(vdh + (2.0 * s * np.abs(g)) ** 2 * vg)
        return (s * np.abs(g) * g - dh_l) / sig, g, sig

    r, g, sig = evaluate(log_s, f)
    hub = huber_weights(r) if robust else np.ones_like(r)
    cost = float(np.sum(hub * r * r))
    n_iter = 0
    lam = 0.0
    for it in range(MAX_ITER):
        n_iter = it + 1
        s = np.exp(log_s)
        wsq = np.sqrt(hub)
        a = np.where(free_l, wsq * s * np.abs(g) * g / sig, 0.0)  # ∂r/∂log S (K, p)
        bk = wsq * 2.0 * s * np.abs(g) / sig  # ∂r/∂f_k = bk[k][:, None] * C
        rw = wsq * r
        d_s = np.sum(a * a, axis=0)
        d_s_safe = np.where(d_s > 0, d_s * (1 + lam), 1.0)
        e = np.concatenate([(a[k] * bk[k])[:, None] * c_l for k in range(k_n)], axis=1)
        m_ff = -(e.T / d_s_safe) @ e
        for k in range(k_n):
            blk = slice(k * n_l, (k + 1) * n_l)
            bc = bk[k][:, None] * c_l
            m_ff[blk, blk] += bc.T @ bc * (1 + lam)
        jtr_s = np.sum(a * rw, axis=0)
        jtr_f = np.concatenate([(bk[k][:, None] * c_l).T @ rw[k] for k in range(k_n)])
        rhs_f = jtr_f - e.T @ (jtr_s / d_s_safe)
        df = -np.linalg.lstsq(m_ff, rhs_f, rcond=None)[0]
        ds = np.where(d_s > 0, -(jtr_s + e @ df) / d_s_safe, 0.0)
        scale = min(1.0, MAX_LOG_STEP / max(float(np.max(np.abs(ds))), 1e-300))
        ls_try, f_try = log_s + scale * ds, f + scale * df.reshape(k_n, n_l)
        r_try, g_try, sig_try = evaluate(ls_try, f_try)
        cost_try = float(np.sum(hub * r_try * r_try))
        if cost_try <= cost:
            log_s, f, r, g, sig = ls_try, f_try, r_try, g_try, sig_try
            lam = lam / 10 if lam > 1e-6 else 0.0
            if robust:
                hub = huber_weights(r)
            cost = float(np.sum(hub * r * r))
            if scale * float(np.max(np.abs(ds))) < STEP_TOL:
                break
        else:
            lam = max(lam * 10, 1e-3)
            if lam > 1e6:
                break
    # uncertainty of log S: diagonal of the S-block of (JᵀWJ)⁻¹ via the Schur complement
    s = np.exp(log_s)
    wsq = np.sqrt(hub)
    a = np.where(free_l, wsq * s * np.abs(g) * g / sig, 0.0)
    bk = wsq * 2.0 * s * np.abs(g) / sig
    d_s = np.sum(a * a, axis=0)
    d_s_safe = np.where(d_s > 0, d_s, 1.0)
    e = np.concatenate([(a[k] * bk[k])[:, None] * c_l for k in range(k_n)], axis=1)
    m_ff = -(e.T / d_s_safe) @ e
    for k in range(k_n):
        blk = slice(k * n_l, (k + 1) * n_l)
        bc = bk[k][:, None] * c_l
        m_ff[blk, blk] += bc.T @ bc
    m_inv = np.linalg.pinv(m_ff, rcond=1e-12, hermitian=True)
    var_log = 1.0 / d_s_safe + np.sum((e @ m_inv) * e, axis=1) / d_s_safe**2
    se_log = np.full(graph.n_pipes, np.nan)
    out_s = s0.copy()
    refined = np.zeros(graph.n_pipes, dtype=bool)
    refined[lp[free_l]] = True
    out_s[lp[free_l]] = s[free_l]
    se_log[lp[free_l]] = np.sqrt(var_log[free_l])
    flow = flow0.copy()
    flow[:, lp] = g
    del p_n
    return Refined(out_s, se_log, refined, n_iter, flow)


def refine_loops_forward(
    graph: PipeGraph,
    s0: FloatArray,
    dh: FloatArray,
    g0: FloatArray,
    var_dh: FloatArray,
    var_g0: FloatArray,
    free: BoolArray,
    robust: bool = True,
) -> Refined | None:
    """The same fit with the chord flows tied to S by the loop balance (outflows trusted).

    ``f_k = f_k(S)`` closes every loop exactly (:func:`.forward.chord_flows`), so only log S
    is free. Jacobian ``∂(S∘x)/∂S = diag(x) − diag(D) C H⁻¹ Cᵀ diag(x)`` (x = |G|G,
    D = 2S|G|, H = Cᵀ D C): diagonal plus rank n_loops, which the normal equations use.
    Better than :func:`refine_loops` when the outflows pin the flows more precisely than
    the square roots of the head losses do (small head losses, absolute pressure noise).
    """
    lp = np.flatnonzero(graph.in_loop)
    params = np.flatnonzero(free & graph.in_loop)
    if lp.size == 0 or params.size == 0 or not np.all(np.isfinite(s0[lp]) & (s0[lp] > 0)):
        return None
    c_l = graph.loop_basis[lp].toarray()
    col = {int(j): i for i, j in enumerate(lp)}
    sel = np.array([col[int(j)] for j in params], dtype=np.intp)

    def flows(s_full: FloatArray) -> FloatArray:
        return chord_flows(graph, s_full, g0)[0]

    def split(s_full: FloatArray, g: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Per condition: D (K, p), A = D·C (K, p, L) and H⁻¹ = (Cᵀ D C)⁻¹ (K, L, L)."""
        gl = g[:, lp]
        dvec = 2.0 * s_full[lp] * np.maximum(np.abs(gl), 1e-12 * np.max(np.abs(gl)))
        a = dvec[:, :, None] * c_l[None, :, :]
        h = np.einsum("pl,kpm->klm", c_l, a)
        return dvec, a, np.linalg.pinv(h, hermitian=True)

    def residual(s_full: FloatArray, g: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Whitened Δh residuals; outflow errors reach the loop flows through the split:
        ``δG = (I − C H⁻¹ Cᵀ D) δ(Tq)``, so chords inherit the errors of their loops."""
        gl = g[:, lp]
        _, a, h_inv = split(s_full, g)
        prop = np.eye(lp.size)[None] - np.einsum("pl,klm,kqm->kpq", c_l, h_inv, a, optimize=True)
        var_g = np.einsum("kpq,kq->kp", prop**2, var_g0[:, lp])
        sig = np.sqrt(var_dh[:, lp] + (2.0 * s_full[lp] * np.abs(gl)) ** 2 * var_g)
        return (s_full[lp] * np.abs(gl) * gl - dh[:, lp]) / sig, sig

    def normal_equations(
        s_full: FloatArray, g: FloatArray, r: FloatArray, sig: FloatArray, hub: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        gl = g[:, lp]
        x = np.abs(gl) * gl  # (K, p)
        _, a, h_inv = split(s_full, g)
        om2 = hub / sig**2
        bmat = np.einsum(
            "klm,pm,kp->klp", h_inv, c_l, x, optimize=True
        )  # H⁻¹ Cᵀ diag(x), (K, L, p)
        ab = np.einsum("kpl,klq->kpq", a, bmat)  # rank-L part of the Jacobian, (K, p, p)
        xo = x * om2
        jtj = np.diag(np.sum(x * xo, axis=0))
        jtj -= np.einsum("kp,kpq->pq", xo, ab) + np.einsum("kqp,kq->pq", ab, xo)
        m = np.einsum("kpl,kp,kpm->klm", a, om2, a, optimize=True)
        jtj += np.einsum("klp,klm,kmq->pq", bmat, m, bmat, optimize=True)
        rw = om2 * r * sig
        jtr = np.sum(x * rw, axis=0) - np.einsum("klp,kql,kq->p", bmat, a, rw, optimize=True)
        sp_ = s_full[lp][sel]
        return jtj[np.ix_(sel, sel)] * np.outer(sp_, sp_), jtr[sel] * sp_

    def alternate(s_start: FloatArray) -> FloatArray:
        """Fixed point: flows from S (loops balanced), then each S from its Δh and flow."""
        s_a = s_start.copy()
        for _ in range(WARM_SWEEPS):
            g_a = flows(s_a)
            x = np.abs(g_a[:, params]) * g_a[:, params]
            w = 1.0 / (
                var_dh[:, params]
                + (2.0 * s_a[params] * np.abs(g_a[:, params])) ** 2 * var_g0[:, params]
            )
            new = np.sum(w * x * dh[:, params], axis=0) / np.maximum(
                np.sum(w * x * x, axis=0), 1e-300
            )
            s_a[params] = np.where(new > 0, new, s_a[params])
        return s_a

    best = None
    for warm in (False, True):  # the linear solution; the fixed point only if it fits badly
        if warm and best is not None and best[0] <= WARM_IF_CHI2 * best[3].size:
            break
        try:
            s_c = alternate(s0) if warm else s0.copy()
            g_c = flows(s_c)
        except ForwardError:
            continue
        r_c, sig_c = residual(s_c, g_c)
        c_c = float(np.sum(r_c * r_c))
        if best is None or c_c < best[0]:
            best = (c_c, s_c, g_c, r_c, sig_c)
    if best is None:
        return None
    _, s, g, r, sig = best
    hub = huber_weights(r) if robust else np.ones_like(r)
    cost = float(np.sum(hub * r * r))
    n_iter = 0
    for it in range(MAX_ITER_FORWARD):
        n_iter = it + 1
        jtj, jtr = normal_equations(s, g, r, sig, hub)
        step = -np.linalg.lstsq(jtj, jtr, rcond=1e-12)[0]
        step *= min(1.0, MAX_LOG_STEP / max(float(np.max(np.abs(step))), 1e-300))
        accepted = False
        for _ in range(10):
            s_try = s.copy()
            s_try[params] = s[params] * np.exp(step)
            try:
                g_try = flows(s_try)
            except ForwardError:
                step *= 0.5
                continue
            r_try, sig_try = residual(s_try, g_try)
            cost_try = float(np.sum(hub * r_try * r_try))
            if cost_try <= cost:
                s, g, r, sig, cost = s_try, g_try, r_try, sig_try, cost_try
                accepted = True
                break
            step *= 0.5
        if robust:
            hub = huber_weights(r)
            cost = float(np.sum(hub * r * r))
        if not accepted or float(np.max(np.abs(step))) < STEP_TOL:
            break
    jtj, _ = normal_equations(s, g, r, sig, hub)
    cov = np.linalg.pinv(jtj, rcond=1e-12, hermitian=True)
    se_log = np.full(graph.n_pipes, np.nan)
    se_log[params] = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    refined = np.zeros(graph.n_pipes, dtype=bool)
    refined[params] = True
    return Refined(s, se_log, refined, n_iter, g)
