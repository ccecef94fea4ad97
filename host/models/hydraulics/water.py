"""Properties of liquid water between 0 and 150 °C: density and kinematic viscosity.

Density: Kell (1975) polynomial, about 1e-5 relative from 0 to 150 °C at 1 atm.
Dynamic viscosity: the Vogel equation μ = A·10^(B/(T − C)) with A = 2.414e-5 Pa·s,
B = 247.8 K, C = 140 K (within about 2.5 % from 0 to 370 °C).
"""

from __future__ import annotations

_VOGEL_A_PA_S = 2.414e-5
_VOGEL_B_K = 247.8
_VOGEL_C_K = 140.0
_KELVIN = 273.15
_T_MIN_C = 0.0
_T_MAX_C = 150.0


def _check_temperature(t_c: float) -> None:
    if not _T_MIN_C <= t_c <= _T_MAX_C:
        raise ValueError(f"water temperature {t_c} °C is outside {_T_MIN_C}..{_T_MAX_C} °C")


def density_kg_m3(t_c: float) -> float:
    """Density of water in kg/m³ at ``t_c`` °C (Kell 1975)."""
    _check_temperature(t_c)
    num = (
        999.83952
        + 16.945176 * t_c
        - 7.9870401e-3 * t_c**2
        - 46.170461e-6 * t_c**3
        + 105.56302e-9 * t_c**4
        - 280.54253e-12 * t_c**5
    )
    return num / (1.0 + 16.879850e-3 * t_c)


def dynamic_viscosity_pa_s(t_c: float) -> float:
    """Dynamic viscosity of water in Pa·s at ``t_c`` °C (Vogel equation)."""
    _check_temperature(t_c)
    return _VOGEL_A_PA_S * float(10.0 ** (_VOGEL_B_K / (t_c + _KELVIN - _VOGEL_C_K)))


def kinematic_viscosity_m2_s(t_c: float) -> float:
    """Kinematic viscosity of water in m²/s at ``t_c`` °C."""
    return dynamic_viscosity_pa_s(t_c) / density_kg_m3(t_c)
