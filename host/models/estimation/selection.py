"""Choosing conditions from history: steady periods only, with flow distributions that differ.

1. :func:`steady_conditions` slides over time-ordered samples and keeps windows of ``window``
   consecutive samples in which every head and flow stays within its tolerance (heads: an
   absolute band in m; flows: a relative band). Each steady window, averaged, becomes one
   condition (non-overlapping windows). Transients violate the steady-state equations the
   estimator relies on, so they are dropped. With ``segments`` (a label per sample, e.g. one
   per gap-free stretch of history) a window never spans two segments.
2. :func:`select_distinct` keeps conditions whose flow *distribution* differs: the entrance
   flows are normalised to unit length, so a condition that only scales all flows (same
   distribution, different total) has distance 0 and adds nothing. Greedy farthest-point
   selection: start from the two most different conditions, then repeatedly add the one
   farthest from every chosen one, until ``max_conditions`` or ``min_distance``.
"""

from __future__ import annotations

import numpy as np

from host.models.estimation.conditions import Conditions
from host.models.estimation.graph import IntArray

#: Default steadiness bands.
HEAD_BAND_M = 0.05
FLOW_BAND_REL = 0.02
#: Distributions closer than this (1 − cos of the angle) count as the same.
MIN_DISTANCE = 1e-4


def _matrix(d: dict[str, np.ndarray]) -> np.ndarray:
    return np.column_stack(list(d.values())) if d else np.zeros((0, 0))


def steady_conditions(
    samples: Conditions,
    window: int = 3,
    head_band_m: float = HEAD_BAND_M,
    flow_band_rel: float = FLOW_BAND_REL,
    segments: IntArray | None = None,
) -> Conditions:
    """Average every steady, non-overlapping window of ``window`` samples into a condition.

    ``samples`` must be in time order (one sample per "condition" of the input file).
    ``segments`` (K,), non-decreasing: samples of different labels never share a window.
    """
    if window < 1:
        raise ValueError("window must be ≥ 1")
    seg = np.zeros(samples.n_conditions, dtype=np.intp) if segments is None else segments
    heads = _matrix(samples.head_m)
    flows = _matrix(samples.flow_m3h)
    n = samples.n_conditions
    keep: list[tuple[int, int]] = []
    i = 0
    while i + window <= n:
        sl = slice(i, i + window)
        ok = bool(seg[i] == seg[i + window - 1])
        if heads.size:
            ok &= bool(np.all(np.ptp(heads[sl], axis=0) <= head_band_m))
        if flows.size:
            mean = np.abs(flows[sl].mean(axis=0))
            ok &= bool(np.all(np.ptp(flows[sl], axis=0) <= flow_band_rel * mean + 1e-9))
        if ok:
            keep.append((i, i + window))
            i += window
        else:
            i += 1

    def avg(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: np.array([v[a:b].mean() for a, b in keep]) for k, v in d.items()}

    return Conditions(
        condition_ids=tuple(
            f"{samples.condition_ids[a]}..{samples.condition_ids[b - 1]}" for a, b in keep
        ),
        timestamps=tuple(samples.timestamps[b - 1] for _, b in keep),
        head_m=avg(samples.head_m),
        flow_m3h=avg(samples.flow_m3h),
        opening=avg(samples.opening),
    )


def distribution_distance(flow_m3h: np.ndarray) -> np.ndarray:
    """Pairwise 1 − cos between the flow distributions (rows: conditions), shape (K, K)."""
    x = np.atleast_2d(np.asarray(flow_m3h, dtype=float))
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    xn = x / np.where(norm > 0, norm, 1.0)
    return np.clip(1.0 - xn @ xn.T, 0.0, 2.0)


def select_distinct(
    conditions: Conditions, max_conditions: int = 10, min_distance: float = MIN_DISTANCE
) -> IntArray:
    """Indices of up to ``max_conditions`` conditions with clearly different distributions."""
    flows = _matrix(conditions.flow_m3h)
    k_n = conditions.n_conditions
    if k_n <= 1 or flows.size == 0:
        return np.arange(k_n, dtype=np.intp)
    dist = distribution_distance(flows)
    a, b = np.unravel_index(int(np.argmax(dist)), dist.shape)
    chosen = [int(a)]
    if dist[a, b] > min_distance:
        chosen.append(int(b))
    while len(chosen) < max_conditions:
        d_min = dist[:, chosen].min(axis=1)
        d_min[chosen] = -1.0
        nxt = int(np.argmax(d_min))
        if d_min[nxt] <= min_distance:
            break
        chosen.append(nxt)
    return np.array(sorted(chosen), dtype=np.intp)
