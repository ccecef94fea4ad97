"""The heat exchange station as an operator runs it: supply temperature and pump speed by a
weather curve, re-set every ``update_s`` (operators do not chase every degree), and the pump's
electricity.

Supply temperature follows the classical quality-regulation curve of a radiator system
(exponent n = 1.3): with ``phi = (t_room - t_out) / (t_room - t_out_design)``

    Ts = t_room + ((Ts_d + Tr_d)/2 - t_room) * phi^(1/n) + (Ts_d - Tr_d)/2 * phi

plus the operator's offset, clamped to [t_supply_min_c, t_supply_max_c]. Pump speed moves
linearly with phi between ``speed_mild`` (phi = 0.5) and ``speed_design`` (phi = 1); a
strategy may override it. Pump electricity is rho*g*Q*H / efficiency.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.units import G_M_S2, RHO_WATER_50C_KG_M3
from sim.radiator import EXPONENT


@dataclass(frozen=True)
class StationSettings:
    """Operator settings of the station (°C; speed ratios n/n_rated)."""

    t_out_design_c: float = -9.0
    t_supply_design_c: float = 60.0
    t_return_design_c: float = 45.0
    t_room_c: float = 20.0
    supply_offset_c: float = 0.0
    t_supply_min_c: float = 35.0
    t_supply_max_c: float = 75.0
    speed_design: float = 1.0
    speed_mild: float = 0.9
    speed_min: float = 0.4
    speed_max: float = 1.3
    pump_efficiency: float = 0.55
    update_s: float = 3600.0

    def phi(self, t_out_c: float) -> float:
        """Relative load: 1 at the design outdoor temperature, 0 at the room temperature."""
        return max(0.0, (self.t_room_c - t_out_c) / (self.t_room_c - self.t_out_design_c))

    def supply_c(self, t_out_c: float) -> float:
        """Supply temperature the curve asks for at ``t_out_c``."""
        phi = self.phi(t_out_c)
        mean_d = 0.5 * (self.t_supply_design_c + self.t_return_design_c)
        half_dt = 0.5 * (self.t_supply_design_c - self.t_return_design_c)
        ts = self.t_room_c + (mean_d - self.t_room_c) * phi ** (1.0 / EXPONENT) + half_dt * phi
        ts += self.supply_offset_c
        return min(max(ts, self.t_supply_min_c), self.t_supply_max_c)

    def speed(self, t_out_c: float) -> float:
        """Pump speed ratio the curve asks for at ``t_out_c``."""
        phi = self.phi(t_out_c)
        x = self.speed_mild + (self.speed_design - self.speed_mild) * (phi - 0.5) / 0.5
        return min(max(x, self.speed_min), self.speed_max)

    def pump_power_w(self, flow_m3h: float, head_m: float) -> float:
        """Electric power of the pump at its operating point."""
        return RHO_WATER_50C_KG_M3 * G_M_S2 * flow_m3h / 3600.0 * head_m / self.pump_efficiency
