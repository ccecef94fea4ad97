"""Nonlinear refinement of the loop pipes (every head measured), started from the linear fit.

The linear method of :mod:`.full` works with ``d = sgn(Δh)·sqrt|Δh|``. With noisy heads the
square root of a head loss near the noise level is biased, and the per-condition chord flows
inherit that bias. Pipes outside every loop are not affected (their flows follow from the
outflows alone). The loop pipes are finished in head-loss space, where the measurement noise
lives, with the loop flows tied to S:

    minimise  Σ_k Σ_{j in loops} h_kj · (S_j |G_kj| G_kj − Δh_kj)² / σ_kj²  +  prior,
    G_k = T q_k + C f_k(S)   (f_k closes every loop: Cᵀ(S|G_k|G_k) = 0),
    σ² = var Δh + (2 S |G|)² var G,

over log S of the loop pipes (h: Huber weights; var G: the outflow errors carried through the
loop split). This is the maximum-likelihood calibration that a generic least-squares fit over
a hydraulic solver performs, with the structure used: the Jacobian is diagonal plus rank
n_loops per condition, the loop Gram matrices ``Cᵀ diag(w) C`` are sparse sums, and each loop
balance starts from the previous one. Levenberg–Marquardt steps; a weak prior on log S around
the design values keeps pipes without hold in the data where the data leave them. On
noise-free data there is nothing to refine and it is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from host.models.estimation.forward import ForwardError, chord_flows
from host.models.estimation.graph import BoolArray, FloatArray, PipeGraph
from host.models.estimation.weighting import huber_weights

#: Levenberg–Marquardt steps at most, ...
MAX_ITER = 50
#: ... the largest change of log S in one step, and its stop: a step below STEP_TOL_LM or a
#: decrease of the whitened cost (χ²) below COST_ATOL, which no interval would notice.
MAX_LOG_STEP_LM = 2.0
STEP_TOL_LM = 1e-8
COST_ATOL = 1e-3
#: Standard deviation of the prior on log S around the design value: a factor of 10 (pipes
#: age and scale, but not by orders of magnitude).
PRIOR_LOG_SD = float(np.log(10.0))


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
    dh: FloatArray,
    g0: FloatArray,
    var_dh: FloatArray,
    var_g0: FloatArray,
    free: BoolArray,
    robust: bool = True,
    s_design: FloatArray | None = None,
    flow_start: FloatArray | None = None,
) -> Refined | None:
    """Refine S of the loop pipes marked ``free``, started from ``s0`` (the linear fit).

    ``dh`` (K, b) measured head losses, ``g0`` (K, b) tree flows of the measured outflows,
    ``var_dh``/``var_g0`` their variances. ``f_k = f_k(S)`` closes every loop exactly
    (:func:`.forward.chord_flows`), so only log S is free. Per condition, with ``x = |G|G``,
    ``D = 2S|G|``, ``H = Cᵀ D C`` and ``U = C H⁻¹`` (loop pipes × loops), the Jacobian of the
    head losses is ``J = (I − D U Cᵀ) diag(S x)``: diagonal plus rank n_loops, so the normal
    equations cost O(p²·K·L) with sparse products by C, and no p × p matrix per condition is
    formed. Levenberg–Marquardt steps (a clipped Gauss–Newton step stalls in a weak
    direction). Returns None when there is nothing to refine or no usable start.

    ``flow_start`` (K, b): flows near the solution (the linear fit's) to start the first loop
    balance from. ``s_design``: the design S, a second start (the start with the smaller
    cost wins) and the centre of a weak prior, log S ~ N(log S_design, ``PRIOR_LOG_SD``²);
    without design values the start ``s0`` is the centre. A loop pipe of small flow beside
    large ones has almost no hold in the data: without the prior the fit can send its S to
    1e9 times the truth and its curvature there gives a meaningless small standard error.
    With it, such a pipe stays near the centre with a standard error near the prior's
    (reported uncertain), and pipes the data pin are not moved by it.
    """
    lp, c_l = graph.loop_dense
    c_sp = graph.loop_sparse
    params = np.flatnonzero(free & graph.in_loop)
    if lp.size == 0 or params.size == 0 or not np.all(np.isfinite(s0[lp]) & (s0[lp] > 0)):
        return None
    col = np.full(graph.n_pipes, -1, dtype=np.intp)
    col[lp] = np.arange(lp.size)
    sel = col[params]
    dh_l, vdh, vg0 = dh[:, lp], var_dh[:, lp], var_g0[:, lp]
    log_prior = np.log(np.asarray(s0 if s_design is None else s_design, dtype=float)[params])
    w_prior = 1.0 / PRIOR_LOG_SD**2

    def prior_cost(s_full: FloatArray) -> float:
        return w_prior * float(np.sum((np.log(s_full[params]) - log_prior) ** 2))

    warm: list[FloatArray] = []  # flows of the last accepted S start the next balance

    def flows(s_full: FloatArray) -> FloatArray:
        return chord_flows(graph, s_full, g0, warm[-1] if warm else None)[0]

    def accept(g_full: FloatArray) -> FloatArray:
        warm[:] = [g_full]
        return g_full[:, lp]

    def split(s_l: FloatArray, gl: FloatArray) -> tuple[FloatArray, FloatArray]:
        """D (K, p) and U = C H⁻¹ (K, p, L) of every condition."""
        floor = 1e-12 * np.max(np.abs(gl), axis=1, keepdims=True)
        dvec = 2.0 * s_l * np.maximum(np.abs(gl), floor)
        h = graph.loop_gram(dvec)  # SPD: D > 0, C full rank
        u = np.matmul(c_l[None], np.linalg.inv(h))
        return dvec, u

    def residual(s_l: FloatArray, gl: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Whitened Δh residuals. Outflow errors reach the loop flows through the split,
        ``δG = (I − U Cᵀ D) δ(Tq)``, whose variance is computed without the p × p matrix."""
        dvec, u = split(s_l, gl)
        q_m = graph.loop_gram(dvec**2 * vg0)
        quad = np.sum(np.matmul(u, q_m) * u, axis=2)
        diag_uc = np.sum(u * c_l[None], axis=2)
        var_g = np.clip(vg0 * (1.0 - 2.0 * dvec * diag_uc) + quad, 0.0, None)
        sig = np.sqrt(vdh + (2.0 * s_l * np.abs(gl)) ** 2 * var_g)
        return (s_l * np.abs(gl) * gl - dh_l) / sig, sig

    def normal_equations(
        s_l: FloatArray, gl: FloatArray, r: FloatArray, sig: FloatArray, hub: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """JᵀWJ and JᵀWr in log S of the parameters: ``diag(Σ a²ω) + Σ_k (B M − E) Bᵀ − B Eᵀ``
        with ``a = S x``, ``ω = h/σ²``, ``B = diag(a) C``, ``E = diag(a ω D) U``,
        ``M = Uᵀ diag(D² ω) U``."""
        dvec, u = split(s_l, gl)
        a = s_l * np.abs(gl) * gl
        om = hub / sig**2
        em = (a * om * dvec)[:, :, None] * u
        mm = np.matmul(np.transpose(u, (0, 2, 1)) * (dvec**2 * om)[:, None, :], u)
        # (BM − 2E)Bᵀ, whose symmetric part is BMBᵀ − EBᵀ − BEᵀ; C is sparse (a pipe lies in
        # few loops), so every product with it is taken sparse
        half = np.zeros((lp.size, lp.size))
        for k in range(a.shape[0]):
            g_k = a[k][:, None] * (c_sp @ mm[k]) - 2.0 * em[k]
            half += (c_sp @ g_k.T).T * a[k][None, :]
        jtj = 0.5 * (half + half.T) + np.diag(np.sum(a * a * om, axis=0))
        v = hub * r / sig
        back = np.einsum("kpl,kp->kl", u, dvec * v)
        jtr = np.sum(a * (v - back @ c_l.T), axis=0)
        return jtj[np.ix_(sel, sel)], jtr[sel]

    best = None
    starts = [s0] + ([np.where(free, s_design, s0)] if s_design is not None else [])
    for s_c in starts:
        if not np.all(np.isfinite(s_c[lp]) & (s_c[lp] > 0)):
            continue
        try:  # balanced from nearby flows: the linear fit's, then the first start's
            near = best[2] if best is not None else flow_start
            g_c = chord_flows(graph, s_c, g0, near)[0]
        except ForwardError:
            continue
        r_c, sig_c = residual(s_c[lp], g_c[:, lp])
        c_c = float(np.sum(r_c * r_c)) + prior_cost(s_c)
        if best is None or c_c < best[0]:
            best = (c_c, s_c, g_c, r_c, sig_c)
    if best is None:
        return None
    _, s, g_full, r, sig = best
    g = accept(g_full)
    hub = huber_weights(r) if robust else np.ones_like(r)
    cost = float(np.sum(hub * r * r)) + prior_cost(s)
    lam = 1e-3
    n_iter = 0
    for it in range(MAX_ITER):
        n_iter = it + 1
        jtj, jtr = normal_equations(s[lp], g, r, sig, hub)
        jtj[np.diag_indices_from(jtj)] += w_prior
        jtr = jtr + w_prior * (np.log(s[params]) - log_prior)
        dg = np.maximum(np.diag(jtj), 1e-12 * max(float(np.max(np.diag(jtj))), 1e-300))
        accepted, gain, nu = False, 0.0, 2.0
        step = np.zeros(params.size)
        while lam <= 1e10:
            try:  # JᵀWJ + λ·diag is positive definite
                step = -cho_solve(cho_factor(jtj + lam * np.diag(dg)), jtr)
            except np.linalg.LinAlgError:
                lam *= 10.0
                continue
            step = np.clip(step, -MAX_LOG_STEP_LM, MAX_LOG_STEP_LM)
            s_try = s.copy()
            s_try[params] = s[params] * np.exp(step)
            try:
                g_try = flows(s_try)
            except ForwardError:
                lam *= 10.0
                continue
            r_try, sig_try = residual(s_try[lp], g_try[:, lp])
            cost_try = float(np.sum(hub * r_try * r_try)) + prior_cost(s_try)
            if cost_try <= cost:
                # Nielsen's damping update from the gain ratio (actual / predicted decrease)
                predicted = -2.0 * float(step @ jtr) - float(step @ (jtj @ step))
                rho = (cost - cost_try) / max(predicted, 1e-300)
                gain = cost - cost_try
                s, g, r, sig, cost = s_try, accept(g_try), r_try, sig_try, cost_try
                lam = max(lam * max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3), 1e-12)
                nu = 2.0
                accepted = True
                break
            lam *= nu
            nu *= 2.0
        if robust:
            hub = huber_weights(r)
            cost = float(np.sum(hub * r * r)) + prior_cost(s)
        if not accepted or (float(np.max(np.abs(step))) < STEP_TOL_LM or gain <= COST_ATOL):
            break
    jtj, _ = normal_equations(s[lp], g, r, sig, hub)
    jtj[np.diag_indices_from(jtj)] += w_prior
    cov = np.linalg.pinv(jtj, rcond=1e-12, hermitian=True)
    se_log = np.full(graph.n_pipes, np.nan)
    se_log[params] = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    refined = np.zeros(graph.n_pipes, dtype=bool)
    refined[params] = True
    return Refined(s, se_log, refined, n_iter, warm[-1])
