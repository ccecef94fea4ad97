"""Physical constants and the one kPa-to-head conversion, for board, host and simulator.

Pressures on the wire are kPa, heads in the hydraulic model are metres of water column; the
conversion depends on water density, so it takes the density (default: water near 50 degC).
"""

G_M_S2 = 9.80665
RHO_WATER_50C_KG_M3 = 988.0
CP_WATER_J_KG_K = 4186.0
SECONDS_PER_HOUR = 3600.0


def kpa_to_head_m(p_kpa, rho_kg_m3=RHO_WATER_50C_KG_M3):
    """Pressure in kPa to head in metres of water column."""
    return p_kpa * 1000.0 / (rho_kg_m3 * G_M_S2)
