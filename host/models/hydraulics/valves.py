"""Valve characteristics: Kv from opening and opening from Kv, and the valve's S.

- ``linear``: Kv = Kvs · x
- ``equal_percentage``: Kv = Kvs · (R^(x − 1) − (1 − x)/R), R the rangeability (default 30).
  The second term is the usual correction that makes Kv(0) = 0; it changes Kv by at most
  Kvs/R and keeps the law continuous and strictly increasing, so it can be inverted.

x is the opening in 0..1. A real valve never seals perfectly and an exact zero would make the
law singular, so Kv never drops below ``Kvs · CLOSED_KV_FRACTION`` (1e-5): a closed valve is
a very large resistance, not a removed branch. With Kvs = 4 m³/h and 100 kPa across it, a
closed valve passes 0.04 l/h.

Head loss across a valve: Δp = 100 kPa · (G/Kv)², i.e. h = S·G² with
S = 100 kPa / (ρ·g) / Kv²  (m per (m³/h)²).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from host.models.hydraulics.units import G_M_S2, KPA_TO_PA, KV_REFERENCE_DP_KPA

#: Kv of a closed valve as a fraction of Kvs (leakage), see the module docstring.
CLOSED_KV_FRACTION = 1e-5
#: Default rangeability Kvs/Kv0 of equal-percentage valves.
DEFAULT_RANGEABILITY = 30.0


class Characteristic(StrEnum):
    """Inherent characteristic of a valve."""

    LINEAR = "linear"
    EQUAL_PERCENTAGE = "equal_percentage"


@dataclass(frozen=True)
class Valve:
    """A balancing valve: characteristic, Kvs (Kv at full opening, m³/h) and opening (0..1)."""

    kvs_m3h: float
    opening: float = 1.0
    characteristic: Characteristic = Characteristic.EQUAL_PERCENTAGE
    rangeability: float = DEFAULT_RANGEABILITY

    def kv_m3h(self, opening: float | None = None) -> float:
        """Kv in m³/h at ``opening`` (default: the valve's current opening)."""
        return kv_m3h(self, self.opening if opening is None else opening)

    def s_m_per_m3h2(self, density_kg_m3: float, opening: float | None = None) -> float:
        """Resistance S (m per (m³/h)²) at ``opening`` (default: current opening)."""
        return s_from_kv(self.kv_m3h(opening), density_kg_m3)


def kv_m3h(valve: Valve, opening: float) -> float:
    """Kv (m³/h) of ``valve`` at ``opening`` in 0..1, never below the closed leakage."""
    x = min(max(opening, 0.0), 1.0)
    if valve.characteristic is Characteristic.LINEAR:
        ratio = x
    else:
        r = valve.rangeability
        ratio = r ** (x - 1.0) - (1.0 - x) / r
    return valve.kvs_m3h * max(ratio, CLOSED_KV_FRACTION)


def opening_for_kv(valve: Valve, kv: float) -> float:
    """Opening in 0..1 that gives ``kv`` (m³/h), clipped to 0..1.

    Kv at or below the closed leakage gives 0; Kv at or above Kvs gives 1.
    """
    ratio = kv / valve.kvs_m3h
    if ratio >= 1.0:
        return 1.0
    if ratio <= CLOSED_KV_FRACTION:
        return 0.0
    if valve.characteristic is Characteristic.LINEAR:
        return ratio
    r = valve.rangeability
    # Strictly increasing on [0, 1]: a few Newton steps from the pure log law, then bisection
    # safeguards are unnecessary because the function is convex and we start to its right.
    x = min(1.0, max(0.0, 1.0 + math.log(max(ratio, 1.0 / r)) / math.log(r)))
    for _ in range(60):
        g = r ** (x - 1.0) - (1.0 - x) / r - ratio
        dg = math.log(r) * r ** (x - 1.0) + 1.0 / r
        step = g / dg
        x -= step
        if abs(step) < 1e-15:
            break
    return min(max(x, 0.0), 1.0)


def s_from_kv(kv: float, density_kg_m3: float) -> float:
    """S (m per (m³/h)²) of a restriction with flow coefficient ``kv`` (m³/h)."""
    head_ref_m = KV_REFERENCE_DP_KPA * KPA_TO_PA / (density_kg_m3 * G_M_S2)
    return head_ref_m / (kv * kv)


def kv_from_s(s_m_per_m3h2: float, density_kg_m3: float) -> float:
    """Kv (m³/h) of a restriction with resistance ``s_m_per_m3h2``."""
    head_ref_m = KV_REFERENCE_DP_KPA * KPA_TO_PA / (density_kg_m3 * G_M_S2)
    return math.sqrt(head_ref_m / s_m_per_m3h2)
