"""The heat exchange station as an operator runs it: supply temperature and pump speed by a
weather curve, re-set every ``update_s`` (operators do not chase every degree), and the pump's
electricity.

Supply temperature follows the classical quality-regulation curve of a radiator system
(exponent n = 1.3): with ``phi = (t_room - t_out) / (t_room - t_out_design)``

    Ts = t_room + ((Ts_d + Tr_d)/2 - t_room) * phi^(1/n) + (Ts_d - Tr_d)/2 * phi

plus the operator's offset, clamped to [t_supply_min_c, t_supply_max_c]. Pump speed moves
linearly with phi between ``speed_mild`` (phi = 0.5) and ``speed_design`` (phi = 1).
Pump electricity is rho*g*Q*H / efficiency; the pump curve scales with speed by the affinity
laws (sim.flows), so power falls with roughly the cube of speed on a fixed network.

A host may command the station (``StationCommand``): a pump speed and a supply-temperature
set-point, each clamped to the station's limits. A command holds for ``host_silent_s`` after
it was sent; then the station returns to its own curve and speed (the safe fallback a real
station controller has). The supply temperature follows its set-point with a first-order lag
of ``supply_tau_s`` (heat exchanger and primary valve), whoever sets it.
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
    supply_tau_s: float = 600.0
    host_silent_s: float = 7200.0

    def __post_init__(self) -> None:
        if not 0.0 < self.speed_min <= self.speed_max:
            raise ValueError("need 0 < speed_min <= speed_max")
        if self.t_supply_min_c >= self.t_supply_max_c:
            raise ValueError("t_supply_min_c must be below t_supply_max_c")
        if self.supply_tau_s < 0 or self.host_silent_s <= 0:
            raise ValueError("supply_tau_s must be >= 0 and host_silent_s > 0")

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


@dataclass(frozen=True)
class StationCommand:
    """What a host last asked of the station, sent at ``sent_s`` (simulated time). ``None``
    leaves that quantity to the station's own curve."""

    sent_s: float
    pump_speed: float | None = None
    t_supply_c: float | None = None

    def applied(self, st: StationSettings, now_s: float) -> tuple[float | None, float | None]:
        """(speed, supply set-point) this command gives at ``now_s``, clamped to the station's
        limits; (None, None) once the host has been silent for ``host_silent_s``."""
        if now_s - self.sent_s > st.host_silent_s:
            return None, None
        speed = self.pump_speed
        if speed is not None:
            speed = min(max(speed, st.speed_min), st.speed_max)
        ts = self.t_supply_c
        if ts is not None:
            ts = min(max(ts, st.t_supply_min_c), st.t_supply_max_c)
        return speed, ts
