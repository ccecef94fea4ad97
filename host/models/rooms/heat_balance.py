"""A flat's heat balance over the last day or two, and the room temperature it implies.

Heat from the radiators (EN 442: Q = Q_n (dT_lm / dT_n)^n, n = 1.3, with the logarithmic mean
temperature difference dT_lm of supply, return and room) plus internal gains balances the
loss to outdoors H (t_room - t_out). Divided by H:

    t_room - t_out = r * dT_lm(t_supply, t_return, t_room)^n + g

with r = Q_n / (dT_n^n H) the flat's radiator-to-envelope ratio (K^(1-n)) and g = gains / H
(K). A flat's walls and floors store days of heat, so its room follows that balance not
instant by instant but as an average over the recent past: both sides are averaged over the
history with weights that halve every `tau_h * ln 2` hours (an exponential memory, what one
thermal capacity does). For given water temperatures the left side rises with t_room and the
right side falls, so there is exactly one room temperature: `room_temperature_c` finds it by
bisection. Vectorised over households; degC throughout. Histories are (time, household)
arrays on a uniform step, oldest first.

The same radiator characteristic is in the simulator (sim/radiator.py); the host keeps its
own copy on purpose, so that the estimator and the plant it is tested against share no code.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ArrayLike = Any  # a number or an array of them

EXPONENT = 1.3
_BISECTIONS = 36  # a 60 K interval shrinks below 1 mK


def log_mean_dt_k(t_supply_c: ArrayLike, t_return_c: ArrayLike, t_room_c: ArrayLike) -> np.ndarray:
    """Logarithmic mean temperature difference (K); 0 where the water is no warmer than the
    room, the arithmetic mean where the two ends are (nearly) equal."""
    a = np.asarray(t_supply_c, dtype=float) - t_room_c
    b = np.asarray(t_return_c, dtype=float) - t_room_c
    ok = (a > 0) & (b > 0)
    a_s, b_s = np.where(ok, a, 1.0), np.where(ok, b, 1.0)
    close = np.abs(a_s - b_s) < 1e-9 * np.maximum(a_s, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lm = np.where(close, 0.5 * (a_s + b_s), (a_s - b_s) / np.log(a_s / b_s))
    return np.asarray(np.where(ok, lm, 0.0))


def memory_weights(steps: int, step_s: float, tau_h: float) -> np.ndarray:
    """Weights (oldest first, summing to 1) of an exponential memory of time constant tau_h."""
    age_h = (steps - 1 - np.arange(steps)) * step_s / 3600.0
    w = np.exp(-age_h / max(tau_h, 1e-6))
    return np.asarray(w / w.sum())


def radiator_term(
    t_supply_c: ArrayLike,
    t_return_c: ArrayLike,
    t_room_c: ArrayLike,
    weights: np.ndarray,
    exponent: float = EXPONENT,
) -> np.ndarray:
    """The weighted mean of dT_lm^n over the history, per household, at room t_room_c."""
    x = log_mean_dt_k(t_supply_c, t_return_c, np.asarray(t_room_c)[None, :]) ** exponent
    return np.asarray(np.einsum("t,tn->n", weights, x))


def room_temperature_c(
    t_supply_c: ArrayLike,
    t_return_c: ArrayLike,
    t_out_c: ArrayLike,
    weights: np.ndarray,
    r: ArrayLike,
    g_k: float,
    exponent: float = EXPONENT,
) -> np.ndarray:
    """The room temperature at which r * mean(dT_lm^n) + g = t_room - mean(t_out)."""
    ts = np.asarray(t_supply_c, dtype=float)
    tr = np.asarray(t_return_c, dtype=float)
    t_out = float(weights @ np.asarray(t_out_c, dtype=float))
    n = ts.shape[1]
    lo = np.full(n, t_out - 10.0)
    hi = np.maximum(np.max(tr, axis=0), t_out)
    r = np.broadcast_to(np.asarray(r, dtype=float), (n,))
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        excess = r * radiator_term(ts, tr, mid, weights, exponent) + g_k - (mid - t_out)
        # the excess falls as the room warms: positive means the root lies above mid
        lo = np.where(excess > 0, mid, lo)
        hi = np.where(excess > 0, hi, mid)
    return np.asarray(0.5 * (lo + hi))


def ratio_from_room(
    t_supply_c: ArrayLike,
    t_return_c: ArrayLike,
    t_out_c: ArrayLike,
    weights: np.ndarray,
    t_room_c: ArrayLike,
    g_k: float,
    exponent: float = EXPONENT,
) -> np.ndarray:
    """The r that makes the balance hold for measured room temperatures (NaN where the
    radiators gave nothing)."""
    x = radiator_term(t_supply_c, t_return_c, t_room_c, weights, exponent)
    t_out = float(weights @ np.asarray(t_out_c, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(x > 0, (np.asarray(t_room_c) - t_out - g_k) / x, np.nan))
