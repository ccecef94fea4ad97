"""A small forward model for one sub-network: given S and node outflows, the flows and heads.

This is the open-network problem the estimator needs (the entrance flows are measured, so they
are imposed as node outflows): ``S·|G|·G = P[from] − P[to]`` on every pipe, ``A G = q`` at
every non-reference node, the reference head fixed. Flows are ``G = T q + C f``; the chord
flows f minimise the convex content ``Σ S|G|³/3`` (its gradient is the loop head-loss sum
``Cᵀ(S|G|G)``), found by Newton with Armijo backtracking, which converges from any start. The
heads then follow along the spanning tree. Units: m, m³/h, m/(m³/h)².

It also returns the sensitivity of measured heads to S (implicit function theorem), which the
iterative fit for looped, partially measured networks needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from host.errors import EvenheatError
from host.models.estimation.graph import FloatArray, IntArray, PipeGraph

#: Relative floor of the gradient 2·S·|G| near zero flow (fraction of the largest flow).
_ZERO_FLOW_FRACTION = 1e-8
#: Converged when the worst loop head sum is below this fraction of the largest loss.
_REL_TOL = 1e-13
#: ... or when the chord-flow step is below this fraction of the largest outflow.
_STEP_TOL = 1e-13
_MAX_ITER = 60


class ForwardError(EvenheatError, RuntimeError):
    """The forward model did not converge or the network cannot carry the outflows."""

    reason = "forward-failed"


@dataclass(frozen=True)
class ForwardResult:
    """Flows and heads of K conditions.

    flow_m3h : shape (K, n_pipes); head_m : shape (K, n_nodes); n_iter : worst iterations.
    """

    flow_m3h: FloatArray
    head_m: FloatArray
    n_iter: int


def chord_flows(
    graph: PipeGraph, s: FloatArray, g0: FloatArray, start: FloatArray | None = None
) -> tuple[FloatArray, int]:
    """Pipe flows ``g0 + C f`` with the chord flows f balancing every loop.

    ``g0`` are the spanning-tree flows of the outflows, shape (n_pipes,) or (K, n_pipes) for
    K conditions at once. Newton on f minimising the convex content ``Σ S|G|³/3`` (its
    gradient is the loop head-loss sums) with Armijo backtracking, batched over conditions.
    Only the loop pipes change, so the work is dense and small: (loop pipes × loops).
    ``start``: flows of a nearby solution (same shape as ``g0``), whose chord flows start
    the Newton iteration (an iterative fit calls this with S changing a little).
    Returns the flows (same shape as ``g0``) and the iterations used.
    """
    lp, c = graph.loop_dense
    g0 = np.asarray(g0, dtype=float)
    if c.shape[1] == 0:
        return g0.copy(), 0
    g0_2 = np.atleast_2d(g0)
    s_l, g0_l = s[lp], g0_2[:, lp]
    g_scale = np.maximum(np.max(np.abs(g0_2), axis=1), 1e-12)[:, None]
    if start is None:
        f = np.zeros((g0_2.shape[0], c.shape[1]))
    else:  # C is the identity on the chords
        chords = graph.chords
        f = (np.atleast_2d(start)[:, chords] - g0_2[:, chords]).copy()
    g = g0_l + f @ c.T

    def content(gg: FloatArray) -> FloatArray:
        total: FloatArray = np.sum(s_l * np.abs(gg) ** 3, axis=1)
        return total / 3.0

    phi = content(g)
    active = np.ones(g0_2.shape[0], dtype=bool)
    it = 0
    for it in range(1, _MAX_ITER + 1):  # noqa: B007 - the count is returned
        grad = (s_l * np.abs(g) * g) @ c  # (K, L)
        scale = np.maximum(np.max(np.abs(s_l * g * g), axis=1), 1e-300)
        active &= np.max(np.abs(grad), axis=1) > _REL_TOL * scale
        if not np.any(active):
            break
        d = 2.0 * s_l * np.maximum(np.abs(g), _ZERO_FLOW_FRACTION * g_scale)
        hess = graph.loop_gram(d)
        step = -np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
        step[~active] = 0.0
        slope = np.sum(grad * step, axis=1)
        t = np.ones(len(f))
        for _ in range(40):
            g_new = g0_l + (f + t[:, None] * step) @ c.T
            phi_new = content(g_new)
            bad = (phi_new > phi + 1e-4 * t * slope) & (t >= 1e-12)
            if not np.any(bad):
                break
            t[bad] *= 0.5
        else:  # the last halving was not evaluated
            g_new = g0_l + (f + t[:, None] * step) @ c.T
            phi_new = content(g_new)
        f = f + t[:, None] * step
        g, phi = g_new, phi_new
        small = np.max(np.abs(t[:, None] * step), axis=1) <= _STEP_TOL * g_scale[:, 0]
        active &= ~(small | (t < 1e-10))  # converged, or no descent left at round-off level
        if not np.any(active):
            break
    else:
        raise ForwardError(f"forward model did not converge in {_MAX_ITER} iterations")
    out = g0_2.copy()
    out[:, lp] = g
    return (out if g0.ndim == 2 else out[0]), it


def _one(
    graph: PipeGraph, s: FloatArray, q: FloatArray, h_ref: float
) -> tuple[FloatArray, FloatArray, int]:
    g, it = chord_flows(graph, s, graph.tree_flows(q)[0])
    dh = s * np.abs(g) * g
    # heads along the spanning tree: A_tᵀ P_r = −(Δh_t + a_0,t · P_ref)
    a_0 = graph.incidence[graph.reference].toarray().ravel()
    rhs = -(dh[graph.tree_pipes] + a_0[graph.tree_pipes] * h_ref)
    p = np.empty(graph.n_nodes)
    p[graph.free_nodes] = graph._tree_lu.solve(rhs, trans="T")  # type: ignore[attr-defined]
    p[graph.reference] = h_ref
    return g, p, it


def solve_flows(
    graph: PipeGraph, s_m_per_m3h2: FloatArray, outflow_m3h: FloatArray, head_ref_m: float = 0.0
) -> ForwardResult:
    """Solve K conditions (rows of ``outflow_m3h``, shape (K, n_nodes)) for flows and heads."""
    s = np.asarray(s_m_per_m3h2, dtype=float)
    if np.any(~np.isfinite(s)) or np.any(s <= 0):
        raise ForwardError("every S must be finite and > 0")
    q = np.atleast_2d(np.asarray(outflow_m3h, dtype=float)).copy()
    q[:, graph.reference] = -(q.sum(axis=1) - q[:, graph.reference])
    flows, heads, worst = [], [], 0
    for k in range(q.shape[0]):
        g, p, it = _one(graph, s, q[k], head_ref_m)
        flows.append(g)
        heads.append(p)
        worst = max(worst, it)
    return ForwardResult(np.array(flows), np.array(heads), worst)


def head_sensitivity(
    graph: PipeGraph, s_m_per_m3h2: FloatArray, flow_m3h: FloatArray, nodes: IntArray
) -> FloatArray:
    """d P[nodes] / d S for one solved condition, shape (len(nodes), n_pipes).

    From ``S|G|G + A_rᵀP = …`` and ``A_r G = q`` held fixed:
    ``δP_r = −N⁻¹ A_r D⁻¹ diag(|G|G) δS`` with ``N = A_r D⁻¹ A_rᵀ``, ``D = 2 S |G|``.
    The reference's row is zero.
    """
    s = np.asarray(s_m_per_m3h2, dtype=float)
    g = np.asarray(flow_m3h, dtype=float)
    a_r = graph.incidence[graph.free_nodes].tocsr()
    g_scale = max(float(np.max(np.abs(g))), 1e-12)
    d = 2.0 * s * np.maximum(np.abs(g), _ZERO_FLOW_FRACTION * g_scale)
    n_mat = (a_r @ sp.diags(1.0 / d) @ a_r.T).tocsc()
    pos = np.full(graph.n_nodes, -1, dtype=np.intp)
    pos[graph.free_nodes] = np.arange(len(graph.free_nodes))
    rows = pos[np.asarray(nodes, dtype=np.intp)]
    out = np.zeros((len(rows), graph.n_pipes))
    live = rows >= 0
    if np.any(live):
        unit = np.zeros((len(graph.free_nodes), int(live.sum())))
        unit[rows[live], np.arange(int(live.sum()))] = 1.0
        z = splu(n_mat).solve(unit)  # N symmetric: adjoint solves, one per measured node
        out[live] = -((a_r.T @ z).T) * (np.abs(g) * g / d)
    return out
