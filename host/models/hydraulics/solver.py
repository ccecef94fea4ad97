"""Steady-state solver: Todini–Pilati global gradient method (sparse Newton) on a system.

Unknowns are link flows Q and the heads H of nodes without a known head. Each iteration
linearises the head-loss laws, eliminates the flows and solves the node matrix
M = Aᵀ·D⁻¹·A (A the incidence of free nodes, D the head-loss gradients), which is symmetric
positive definite. Its sparsity pattern never changes, so a fill-reducing ordering
(MMD on Aᵀ+A) is computed once in :func:`prepare` and every later factorisation runs in that
order with diagonal pivots (SuperLU in symmetric mode). Flow updates come from the
linearised laws, so mass balance holds at every iterate to round-off.

Lumped quadratic laws are regularised near zero flow as h = S·Q·sqrt(Q² + ε²) with
ε = sqrt(REGULARISATION_HEAD_M / S), the flow at which the element loses 0.1 nm: the law is
smooth, its gradient never vanishes (closed valves and zero-flow branches keep the matrix
non-singular) and it differs from S·|Q|·Q by less than (ε/Q)²/2 relative.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from enum import IntEnum
from typing import cast

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csc_array
from scipy.sparse.linalg import splu

from host.models.hydraulics.friction import head_loss_m as darcy_head_loss_m
from host.models.hydraulics.system import HydraulicSystem

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
CIntArray = NDArray[np.intc]

log = logging.getLogger(__name__)

#: Head lost across a lumped element at its regularising flow ε (m), see module docstring.
REGULARISATION_HEAD_M = 1e-10
#: Smallest pump head-loss gradient as a fraction of 2·|c|·Q_max (reverse-flow guard).
_PUMP_GRADIENT_FLOOR = 1e-3
#: Cold-start velocity in Darcy–Weisbach pipes (typical of heating networks), m/s.
_INITIAL_VELOCITY_M_S = 0.5
#: Armijo sufficient-decrease constant of the backtracking line search.
_ARMIJO = 1e-4


class Status(IntEnum):
    """How a solve ended."""

    CONVERGED = 0
    MAX_ITER = 1
    SINGULAR = 2
    NOT_FINITE = 3
    TIME_LIMIT = 4


@dataclass(frozen=True)
class SolverOptions:
    """Tolerances and limits of :func:`solve_system`.

    head_tol_m
        Converged when the largest head-loss equation residual |h(Q) − ΔH| is below this (m)…
    flow_step_tol
        … and the last Newton step changed no flow by more than this fraction of max |Q|.
    max_iter, time_limit_s
        Give up (status MAX_ITER / TIME_LIMIT, NaN arrays) after this many iterations / s.
    max_backtracks
        Halvings of the step in the line search before a full step is taken anyway.
    """

    head_tol_m: float = 1e-8
    flow_step_tol: float = 1e-6
    max_iter: int = 100
    time_limit_s: float = 60.0
    max_backtracks: int = 10


@dataclass(frozen=True, eq=False)
class SolveResult:
    """Outcome of a solve, shaped like scipy's OptimizeResult (arrays NaN on failure).

    flow_m3_s : ndarray, shape (n_links,)   flow start → end of each link
    head_m : ndarray, shape (n_nodes,)      piezometric head of each node
    """

    success: bool
    status: Status
    message: str
    n_iter: int
    residual_head_m: float
    flow_step: float
    flow_m3_s: FloatArray
    head_m: FloatArray
    system: HydraulicSystem


@dataclass(frozen=True, eq=False)
class Prepared:
    """Topology-only data of a system, reusable for every solve of the same graph."""

    free: IntArray
    label: IntArray
    n_free: int
    nz_pos: IntArray
    nz_link: IntArray
    nz_sign: FloatArray
    indices: CIntArray
    indptr: CIntArray
    dh_fixed_m: FloatArray
    eps_m3_s: FloatArray


def head_loss_m(
    system: HydraulicSystem, flow_m3_s: FloatArray, eps_m3_s: FloatArray | None = None
) -> tuple[FloatArray, FloatArray]:
    """Head loss start → end of every link (m) and its gradient dh/dQ (s/m²).

    Pumps give a negative loss (their head gain). This is the law the solver satisfies, so
    tests use it for loop head sums. ``eps_m3_s`` (the regularising flows of the lumped
    links, :func:`regularising_flow_m3_s`) may be passed to save recomputing it.
    """
    q = flow_m3_s
    h = np.zeros_like(q)
    dh = np.zeros_like(q)
    k = system.lumped_links
    if k.size:
        s = system.s_s2_m5[k]
        eps = regularising_flow_m3_s(system) if eps_m3_s is None else eps_m3_s
        qk = q[k]
        root = np.sqrt(qk * qk + eps * eps)
        h[k] = s * qk * root
        dh[k] = s * (2.0 * qk * qk + eps * eps) / root
    if system.dw_links.size:
        k = system.dw_links
        hd, dhd = darcy_head_loss_m(
            q[k], system.dw_r_s2_m5, system.dw_rel_rough, system.dw_nu_d_m3_s
        )
        h[k] += hd
        dh[k] += dhd
    if system.pump_links.size:
        k = system.pump_links
        qp = q[k]
        b, c = system.pump_b_s_m2, system.pump_c_s2_m5
        h[k] -= system.pump_h0_m + b * qp + c * qp * qp
        floor = _PUMP_GRADIENT_FLOOR * 2.0 * np.abs(c) * system.pump_qmax_m3_s
        dh[k] += np.maximum(-(b + 2.0 * c * qp), floor)
    return h, dh


def regularising_flow_m3_s(system: HydraulicSystem) -> FloatArray:
    """ε of every lumped link (``system.lumped_links``): sqrt(REGULARISATION_HEAD_M / S)."""
    return np.sqrt(REGULARISATION_HEAD_M / system.s_s2_m5[system.lumped_links])


def _incidence_transpose(system: HydraulicSystem, x: FloatArray) -> FloatArray:
    """(Aᵀ·x)[n] = Σ x over links leaving n − Σ x over links entering n."""
    n = system.n_nodes
    out = np.bincount(system.start, x, minlength=n) - np.bincount(system.end, x, minlength=n)
    return cast(FloatArray, out)


def _pattern(
    system: HydraulicSystem, label: IntArray, n_free: int
) -> tuple[IntArray, IntArray, FloatArray, CIntArray, CIntArray]:
    """Positions of every link's contributions in the CSC data of M, with nodes relabelled."""
    ls = label[system.start]
    le = label[system.end]
    fs = ls >= 0
    fe = le >= 0
    both = fs & fe
    links = np.arange(system.n_links)
    nz_link = np.concatenate([links[fs], links[fe], links[both], links[both]])
    rows = np.concatenate([ls[fs], le[fe], ls[both], le[both]])
    cols = np.concatenate([ls[fs], le[fe], le[both], ls[both]])
    n_both = int(both.sum())
    nz_sign = np.concatenate([np.ones(int(fs.sum()) + int(fe.sum())), -np.ones(2 * n_both)])
    keys, nz_pos = np.unique(rows * n_free + cols, return_inverse=True)
    # SuperLU takes C int indices; converting once here saves a copy per factorisation.
    indices = (keys % n_free).astype(np.intc)
    indptr = np.searchsorted(keys // n_free, np.arange(n_free + 1)).astype(np.intc)
    return nz_pos.astype(np.int64), nz_link, nz_sign, indices, indptr


def _node_matrix(prep: Prepared) -> csc_array:
    """The node matrix M with its fixed pattern; solve loops overwrite ``.data`` in place."""
    data = np.zeros(prep.indices.size)
    return csc_array((data, prep.indices, prep.indptr), shape=(prep.n_free, prep.n_free))


def _factor(matrix: csc_array, permc_spec: str) -> object:
    # Node matrices of heating networks are tree-like with very little fill: small
    # supernodes (relax = panel_size = 1) factor them 2-3x faster than SuperLU's defaults.
    return splu(
        matrix,
        permc_spec=permc_spec,
        diag_pivot_thresh=0.0,
        relax=1,
        panel_size=1,
        options={"SymmetricMode": True},
    )


def prepare(system: HydraulicSystem) -> Prepared:
    """Check the system and compute its fill-reducing ordering and assembly maps.

    Raises :class:`~host.models.hydraulics.errors.DisconnectedError` or
    :class:`~host.models.hydraulics.errors.NoPumpError` when the system cannot be solved.
    """
    system.check()
    fixed = ~np.isnan(system.fixed_head_m)
    free = np.flatnonzero(~fixed)
    n_free = free.size
    label = np.full(system.n_nodes, -1, dtype=np.int64)
    label[free] = np.arange(n_free)
    hf = np.where(fixed, system.fixed_head_m, 0.0)
    dh_fixed = hf[system.start] - hf[system.end]
    eps = regularising_flow_m3_s(system)
    prep = Prepared(free, label, n_free, *_pattern(system, label, n_free), dh_fixed, eps)
    if n_free == 0:
        return prep
    # Ordering from the pattern alone (unit conductances), then relabel the nodes so that
    # every later factorisation can use the natural order.
    matrix = _node_matrix(prep)
    matrix.data[:] = np.bincount(prep.nz_pos, prep.nz_sign, minlength=prep.indices.size)
    try:
        lu = _factor(matrix, "MMD_AT_PLUS_A")
    except RuntimeError:
        return prep
    label[free] = lu.perm_c  # type: ignore[attr-defined]
    return Prepared(free, label, n_free, *_pattern(system, label, n_free), dh_fixed, eps)


def initial_flows_m3_s(system: HydraulicSystem) -> FloatArray:
    """Cold start: 1 m of head on lumped links, 0.5 m/s in pipes, half the curve in pumps."""
    q = np.zeros(system.n_links)
    s = system.s_s2_m5
    np.divide(1.0, s, out=q, where=s > 0.0)
    q = np.sqrt(q)
    if system.dw_links.size:
        q[system.dw_links] = _INITIAL_VELOCITY_M_S * np.pi / 4.0 * system.dw_diameter_m**2
    q[system.pump_links] = 0.5 * system.pump_qmax_m3_s
    return q


def _failed(
    system: HydraulicSystem, status: Status, message: str, n_iter: int, res: float, step: float
) -> SolveResult:
    nan_q = np.full(system.n_links, np.nan)
    nan_h = np.full(system.n_nodes, np.nan)
    log.warning("hydraulic solve failed: %s", message)
    return SolveResult(False, status, message, n_iter, res, step, nan_q, nan_h, system)


def solve_system(
    system: HydraulicSystem,
    options: SolverOptions | None = None,
    prepared: Prepared | None = None,
    initial_flow_m3_s: FloatArray | None = None,
) -> SolveResult:
    """Solve the steady state of ``system``; never raises on numerical failure.

    Structural problems (a disconnected part, nothing driving flow) raise named errors from
    :func:`prepare`. Numerical failures return ``success=False`` with NaN arrays.
    """
    opt = options or SolverOptions()
    prep = prepared or prepare(system)
    t0 = time.perf_counter()
    q = initial_flows_m3_s(system) if initial_flow_m3_s is None else initial_flow_m3_s.copy()
    head = np.where(np.isnan(system.fixed_head_m), 0.0, system.fixed_head_m)
    h, dh = head_loss_m(system, q, prep.eps_m3_s)
    resid = h - (head[system.start] - head[system.end])
    matrix = _node_matrix(prep)
    res_inf = np.inf
    step = np.inf
    for it in range(1, opt.max_iter + 1):
        inv_d = 1.0 / dh
        # Newton in increments (dH, dQ): rounding errors scale with the small increments,
        # not with the heads themselves, which keeps mass balance at round-off level.
        rhs = (
            -system.demand_m3_s
            - _incidence_transpose(system, q)
            + _incidence_transpose(system, resid * inv_d)
        )[prep.free]
        d_head = np.zeros(system.n_nodes)
        if prep.n_free:
            matrix.data[:] = np.bincount(
                prep.nz_pos, prep.nz_sign * inv_d[prep.nz_link], minlength=prep.indices.size
            )
            try:
                lu = _factor(matrix, "NATURAL")
            except RuntimeError as exc:
                return _failed(
                    system, Status.SINGULAR, f"singular node matrix: {exc}", it, res_inf, step
                )
            x = np.empty(prep.n_free)
            x[prep.label[prep.free]] = rhs
            sol = lu.solve(x)  # type: ignore[attr-defined]
            d_head[prep.free] = sol[prep.label[prep.free]]
        dq = -(resid - (d_head[system.start] - d_head[system.end])) * inv_d
        t, h, dh = _line_search(system, prep, q, head, dq, d_head, resid, opt, it == 1)
        q = q + t * dq
        head = head + t * d_head
        resid = h - (head[system.start] - head[system.end])
        res_inf = float(np.max(np.abs(resid), initial=0.0))
        step = float(np.max(np.abs(t * dq)) / max(np.max(np.abs(q)), 1e-300))
        if not (math.isfinite(res_inf) and math.isfinite(step)):
            return _failed(
                system, Status.NOT_FINITE, "non-finite flows or heads", it, res_inf, step
            )
        if res_inf <= opt.head_tol_m and step <= opt.flow_step_tol:
            msg = f"converged in {it} iterations, residual {res_inf:.2e} m"
            return SolveResult(True, Status.CONVERGED, msg, it, res_inf, step, q, head, system)
        if time.perf_counter() - t0 > opt.time_limit_s:
            return _failed(
                system,
                Status.TIME_LIMIT,
                f"time limit {opt.time_limit_s} s reached after {it} iterations",
                it,
                res_inf,
                step,
            )
    return _failed(
        system,
        Status.MAX_ITER,
        f"no convergence in {opt.max_iter} iterations (residual {res_inf:.2e} m)",
        opt.max_iter,
        res_inf,
        step,
    )


def _norm2(x: FloatArray) -> float:
    """Euclidean norm without BLAS (whose thread start-up dominates on short vectors)."""
    return float(np.sqrt(np.sum(x * x)))


def _line_search(
    system: HydraulicSystem,
    prep: Prepared,
    q: FloatArray,
    head: FloatArray,
    dq: FloatArray,
    d_head: FloatArray,
    resid: FloatArray,
    opt: SolverOptions,
    first: bool,
) -> tuple[float, FloatArray, FloatArray]:
    """Backtracking (Armijo) on the 2-norm of the head-loss residuals.

    Returns the step length and the laws (h, dh/dQ) at the accepted flows. If no step
    gives sufficient decrease the full step is taken: Newton's step from a cold start
    (which is what makes the flows mass-balanced) is never shortened by a poor merit
    value far from the solution; and the first step is always whole, because only a whole
    Newton step makes cold-start flows mass-balanced (later iterates stay balanced as
    convex combinations of balanced flows).
    """
    r0 = _norm2(resid)
    t = 1.0
    for _ in range(0 if first else opt.max_backtracks):
        h_t, dh_t = head_loss_m(system, q + t * dq, prep.eps_m3_s)
        ht = head + t * d_head
        if _norm2(h_t - (ht[system.start] - ht[system.end])) <= (1.0 - _ARMIJO * t) * r0:
            return t, h_t, dh_t
        t *= 0.5
    h_1, dh_1 = head_loss_m(system, q + dq, prep.eps_m3_s)
    return 1.0, h_1, dh_1
