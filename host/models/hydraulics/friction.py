"""Darcy–Weisbach head loss of round pipes, vectorised over pipes.

The friction factor follows EPANET 2.2 exactly, so that EPANET can serve as an oracle:

- laminar, Re ≤ 2000: Hagen–Poiseuille, f = 64/Re (head loss linear in flow);
- transition, 2000 < Re < 4000: Dunlop's cubic interpolation between the two laws;
- turbulent, Re ≥ 4000: Swamee–Jain, f = 0.25 / log10(ε/(3.7·D) + 5.74/Re^0.9)².

Head loss h = f · L/D · v²/(2g) = f · r · |Q|·Q with r = L / (2·g·D·A²). Because the laminar
branch is linear, a Darcy–Weisbach pipe has a non-zero gradient at zero flow and never needs
the zero-flow regularisation of lumped quadratic elements.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

_RE_LAMINAR = 2000.0
_RE_TURBULENT = 4000.0
_A9 = -2.0 / np.log(10.0)
#: 5.74 / 4000^0.9, the Swamee–Jain term at the turbulent limit.
_AB = 5.74 / _RE_TURBULENT**0.9
_AC = -0.9 * 2.0 * 2.0 / np.log(10.0) * _AB


def resistance_s2_m5(
    length_m: FloatArray, diameter_m: FloatArray, gravity_m_s2: float
) -> FloatArray:
    """r = L / (2·g·D·A²), so that h = f·r·Q|Q| (s²/m⁵)."""
    area_m2 = np.pi * diameter_m**2 / 4.0
    return length_m / (2.0 * gravity_m_s2 * diameter_m * area_m2**2)


def friction_factor(
    q_abs_m3_s: FloatArray, rel_rough: FloatArray, nu_d_m3_s: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Darcy friction factor and its derivative d f / d|Q| for non-laminar flow.

    Both branches are evaluated for every pipe and merged with ``np.where``: fewer numpy
    calls than masking, which matters more than the flops on networks of a few thousand
    pipes.

    Parameters
    ----------
    q_abs_m3_s : ndarray, shape (n,)
        Absolute flow, m³/s (only entries with Re > 2000 are meaningful).
    rel_rough : ndarray, shape (n,)
        Relative roughness ε/D.
    nu_d_m3_s : ndarray, shape (n,)
        Kinematic viscosity times diameter, m³/s (Re = 4·|Q| / (π·ν·D)).
    """
    re = np.maximum(4.0 / np.pi * q_abs_m3_s / nu_d_m3_s, _RE_LAMINAR)
    # Turbulent (Swamee–Jain); df/dQ = df/dy3 · dy3/dy2 · dy2/dQ with dy1/dQ = -0.9·y1/Q.
    y1 = 5.74 * re**-0.9
    y2 = rel_rough / 3.7 + y1
    y3 = _A9 * np.log(y2)
    f_turb = 1.0 / (y3 * y3)
    dfdq_turb = 1.8 * _A9 * f_turb * y1 / (y2 * y3 * np.maximum(q_abs_m3_s, 1e-300))
    # Transition (Dunlop's cubic in r = Re/2000).
    y2t = rel_rough / 3.7 + _AB
    y3t = _A9 * np.log(y2t)
    fa = 1.0 / (y3t * y3t)
    fb = (2.0 + _AC / (y2t * y3t)) * fa
    r = re / _RE_LAMINAR
    x2 = 0.128 - 17.0 * fa + 2.5 * fb
    x3 = -0.128 + 13.0 * fa - 2.0 * fb
    x4 = 0.032 - 3.0 * fa + 0.5 * fb
    f_trans = (7.0 * fa - fb) + r * (x2 + r * (x3 + r * x4))
    dfdq_trans = (x2 + r * (2.0 * x3 + r * 3.0 * x4)) * (4.0 / np.pi / _RE_LAMINAR) / nu_d_m3_s
    turb = re >= _RE_TURBULENT
    return np.where(turb, f_turb, f_trans), np.where(turb, dfdq_turb, dfdq_trans)


def head_loss_m(
    q_m3_s: FloatArray,
    r_s2_m5: FloatArray,
    rel_rough: FloatArray,
    nu_d_m3_s: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Signed Darcy–Weisbach head loss (m) and its derivative dh/dQ (s/m²).

    ``r_s2_m5`` comes from :func:`resistance_s2_m5`; ``nu_d_m3_s`` is ν·D.
    """
    q_abs = np.abs(q_m3_s)
    f, dfdq = friction_factor(q_abs, rel_rough, nu_d_m3_s)
    # Hagen–Poiseuille: f = 64/Re = 16·π·ν·D/|Q|  ->  h = 16·π·ν·D·r·Q (linear).
    lam = 16.0 * np.pi * nu_d_m3_s * r_s2_m5
    laminar = q_abs * 4.0 <= _RE_LAMINAR * np.pi * nu_d_m3_s
    rq = r_s2_m5 * q_abs
    h = np.where(laminar, lam, f * rq) * q_m3_s
    dh = np.where(laminar, lam, (2.0 * f + dfdq * q_abs) * rq)
    return h, dh
