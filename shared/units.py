"""Physical constants and unit conversions used on both sides of the wire.

Pressures on the wire are kPa, heads in the hydraulic model are metres of water column; the
conversion depends on water density, so it takes the density (default: water near 50 degC).
"""

G_M_S2 = 9.80665
RHO_WATER_50C_KG_M3 = 988.0
CP_WATER_J_KG_K = 4186.0
KELVIN_OFFSET = 273.15
SECONDS_PER_HOUR = 3600.0


def kpa_to_head_m(p_kpa, rho_kg_m3=RHO_WATER_50C_KG_M3):
    """Pressure in kPa to head in metres of water column."""
    return p_kpa * 1000.0 / (rho_kg_m3 * G_M_S2)


def head_m_to_kpa(head_m, rho_kg_m3=RHO_WATER_50C_KG_M3):
    """Head in metres of water column to pressure in kPa."""
    return head_m * rho_kg_m3 * G_M_S2 / 1000.0


def heat_kw(flow_m3h, t_supply_c, t_return_c, rho_kg_m3=RHO_WATER_50C_KG_M3):
    """Heat carried by a flow: Q = G * c * (Ts - Tr), in kW."""
    mass_kg_s = flow_m3h * rho_kg_m3 / SECONDS_PER_HOUR
    return mass_kg_s * CP_WATER_J_KG_K * (t_supply_c - t_return_c) / 1000.0
