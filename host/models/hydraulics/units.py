"""Unit conventions and conversion constants of the hydraulics package.

The file format and the public model use practical heating units with the unit in every name
(``flow_m3h``, ``diameter_mm``, ``dp_kpa``, ``s_m_per_m3h2``). The solver works in SI inside
(``m3_s``, ``m``, ``Pa``, ``s2_m5``). These constants are the only place where the two meet.
"""

from __future__ import annotations

# Gravity and the kPa <-> m water column conversion live in shared/units.py (one place for
# board and host); this module holds only the hydraulics' own unit factors.
from shared.units import G_M_S2, SECONDS_PER_HOUR  # noqa: F401  (G re-exported for the solver)

#: m³/h → m³/s.
M3H_TO_M3S = 1.0 / SECONDS_PER_HOUR
#: m/(m³/h)² → s²/m⁵  (head loss law h = S·|G|·G).
S_M3H_TO_SI = SECONDS_PER_HOUR**2
#: mm → m.
MM_TO_M = 1e-3
#: kPa → Pa.
KPA_TO_PA = 1e3
#: Kv is defined as the flow in m³/h at a pressure drop of 1 bar = 100 kPa.
KV_REFERENCE_DP_KPA = 100.0
