"""Sensor accuracy, measurement weights and outlier-robust reweighting (Huber IRLS).

Every equation the estimator fits is whitened by the standard deviation the sensors imply, so a
residual of 1 means "one sensor accuracy". The sensor model:

- a head (pressure) reading has an absolute error ``head_abs_m`` (m of water column), so a
  head loss between two sensors has variance ``2·head_abs_m²``;
- optionally a head loss has a relative error ``dh_rel`` (used when head losses are measured
  directly, or by benchmarks that perturb head losses relatively);
- an outflow (entrance flow) has a relative error ``flow_rel`` and an absolute floor
  ``flow_abs_m3h``.

Huber weights ``min(1, c/|r|)`` on whitened residuals down-weight a stuck or biased sensor
without letting it pull the other estimates (``HUBER_C`` sensor accuracies).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from host.models.estimation.graph import FloatArray

#: Huber threshold in whitened units (sensor accuracies); 95 % efficiency at c = 1.345, we
#: keep more of the data and only tame clear outliers.
HUBER_C = 2.5
#: Iterations of the robust reweighting.
IRLS_ITERATIONS = 8


@dataclass(frozen=True)
class SensorModel:
    """Standard deviations of the measurements (1 σ).

    head_abs_m : absolute error of one head reading, m.
    flow_rel : relative error of one flow reading (0.01 = 1 %).
    flow_abs_m3h : absolute floor of a flow error, m³/h.
    dh_rel : relative error of a head loss, on top of the head error (usually 0).
    """

    head_abs_m: float = 0.005
    flow_rel: float = 0.005
    flow_abs_m3h: float = 1e-4
    dh_rel: float = 0.0

    def __post_init__(self) -> None:
        for name in ("head_abs_m", "flow_rel", "flow_abs_m3h", "dh_rel"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"sensor model: {name} must be finite and ≥ 0, got {value!r}")

    def dh_var(self, dh_m: FloatArray) -> FloatArray:
        """Variance of measured head losses (m²), same shape as ``dh_m``."""
        return 2.0 * self.head_abs_m**2 + (self.dh_rel * dh_m) ** 2 + 1e-30

    def flow_var(self, flow_m3h: FloatArray) -> FloatArray:
        """Variance of measured flows ((m³/h)²), same shape as ``flow_m3h``."""
        return (self.flow_rel * flow_m3h) ** 2 + self.flow_abs_m3h**2


def sqrt_head_var(dh_m: FloatArray, dh_var: FloatArray) -> FloatArray:
    """Variance of ``sgn(dh)·sqrt|dh|`` given the variance of dh (delta method, capped at 0).

    ``var(sqrt h) ≈ var(h) / (4 |h|)`` diverges at zero; adding σ to |h| keeps it finite at
    σ/4, the spread of sqrt of pure noise.
    """
    return dh_var / (4.0 * (np.abs(dh_m) + np.sqrt(dh_var)))


def huber_weights(whitened: FloatArray, c: float = HUBER_C) -> FloatArray:
    """Huber IRLS weights for whitened residuals: 1 inside ±c, c/|r| outside."""
    a = np.abs(whitened)
    return np.where(a <= c, 1.0, c / np.maximum(a, 1e-300))
