"""Household thermal model: two capacities (room air, building mass) per household,
vectorised over every household of a station.

    C_air  dT_air/dt  = Q_rad + Q_gain - H_am (T_air - T_mass) - H_vent (T_air - T_out)
                        - H_window * open * (T_air - T_out)
    C_mass dT_mass/dt = H_am (T_air - T_mass) - H_env (T_mass - T_out)

Household types scale the envelope loss (a top-floor or gable flat loses more heat than one in
the middle of the block: the brochure's 户型补偿). Occupants open windows when the room is too
warm and close them when it has cooled: the waste over-pumping causes. Inputs are held over a
step and the step is implicit (backward Euler), so steps of several minutes are stable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Envelope loss factor per household type, relative to a flat in the middle of the block.
TYPE_LOSS_FACTOR = {
    "middle": 1.0,
    "ground": 1.15,
    "gable": 1.25,
    "top": 1.35,
    "top_gable": 1.6,
    "unheated_neighbours": 1.3,
}

WINDOW_OPEN_ABOVE_C = 24.5
WINDOW_CLOSE_BELOW_C = 22.0


class HouseholdModelError(ValueError):
    """Household parameters that make no physical sense."""


@dataclass
class HouseholdParams:
    """Per-household parameters; every array has one entry per household.

    Conductances in W/K, capacities in J/K, gains in W, areas in m².
    """

    area_m2: np.ndarray
    h_env_w_k: np.ndarray  # mass to outdoors, through walls, roof, floor (type factor applied)
    h_vent_w_k: np.ndarray  # air to outdoors, ventilation and infiltration with windows shut
    h_am_w_k: np.ndarray  # air to mass
    h_window_w_k: np.ndarray  # extra air to outdoors with a window open
    c_air_j_k: np.ndarray  # air and furniture
    c_mass_j_k: np.ndarray  # walls and floors
    internal_gain_w_m2: np.ndarray  # average internal gain per floor area

    def __post_init__(self) -> None:
        arrays = {k: np.asarray(v, dtype=float) for k, v in self.__dict__.items()}
        n = len(arrays["area_m2"])
        for name, value in arrays.items():
            if value.shape != (n,):
                raise HouseholdModelError(f"{name} must have one value per household ({n})")
            if not np.all(np.isfinite(value)) or np.any(value < 0):
                raise HouseholdModelError(f"{name} must be finite and not negative")
            setattr(self, name, value)
        for name in ("area_m2", "c_air_j_k", "c_mass_j_k", "h_am_w_k", "h_env_w_k"):
            if np.any(arrays[name] <= 0):
                raise HouseholdModelError(f"{name} must be positive")

    @property
    def count(self) -> int:
        return len(self.area_m2)

    def design_loss_w(self, t_room_c: float, t_out_design_c: float) -> np.ndarray:
        """Steady heat loss at design conditions with windows shut (what radiators are sized
        for): the envelope path (air-mass and mass-outdoors in series) plus ventilation."""
        h_series = 1.0 / (1.0 / self.h_am_w_k + 1.0 / self.h_env_w_k)
        return (h_series + self.h_vent_w_k) * (t_room_c - t_out_design_c)


def typical_params(
    area_m2: np.ndarray, household_types: list[str], rng: np.random.Generator | None = None
) -> HouseholdParams:
    """Parameters of an older Chinese apartment block (about 0.9 W/m²K of floor area through
    the envelope for a middle flat), scaled by household type, with ±10 % spread when rng is
    given so no two flats are alike."""
    area = np.asarray(area_m2, dtype=float)
    try:
        factor = np.array([TYPE_LOSS_FACTOR[t] for t in household_types])
    except KeyError as exc:
        known = ", ".join(sorted(TYPE_LOSS_FACTOR))
        raise HouseholdModelError(f"unknown household type {exc.args[0]!r} ({known})") from None
    spread = rng.uniform(0.9, 1.1, (3, len(area))) if rng is not None else np.ones((3, len(area)))
    return HouseholdParams(
        area_m2=area,
        h_env_w_k=1.6 * area * factor * spread[0],
        h_vent_w_k=0.35 * area * spread[1],
        h_am_w_k=6.0 * area,
        h_window_w_k=2.0 * area,
        c_air_j_k=60e3 * area * spread[2],
        c_mass_j_k=250e3 * area,
        internal_gain_w_m2=np.full(len(area), 3.0),
    )


def gains_w(params: HouseholdParams, time_s: float) -> np.ndarray:
    """Internal gains (occupancy profile: higher mornings and evenings) plus a small solar
    gain by day, in W per household."""
    hour = (time_s % 86400.0) / 3600.0
    occupancy = 0.8 + 0.4 * (7 <= hour < 9 or 18 <= hour < 23)
    solar_w_m2 = 1.5 * np.sin(np.pi * (hour - 8.0) / 8.0) if 8 <= hour <= 16 else 0.0
    return params.area_m2 * (params.internal_gain_w_m2 * occupancy + solar_w_m2)


@dataclass
class HouseholdState:
    """Room air and building mass temperatures and window positions of every household."""

    t_air_c: np.ndarray
    t_mass_c: np.ndarray
    window_open: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @classmethod
    def uniform(cls, count: int, t_c: float) -> HouseholdState:
        return cls(np.full(count, t_c), np.full(count, t_c), np.zeros(count, dtype=bool))


def step(
    params: HouseholdParams,
    state: HouseholdState,
    dt_s: float,
    t_out_c: float,
    q_radiator_w: np.ndarray,
    q_gain_w: np.ndarray,
) -> HouseholdState:
    """Advance every household by dt_s with inputs held constant; returns the new state.

    Windows follow the occupants' hysteresis on the air temperature at the start of the step.
    """
    if dt_s <= 0:
        raise HouseholdModelError("dt_s must be positive")
    window = np.where(
        state.t_air_c > WINDOW_OPEN_ABOVE_C,
        True,
        np.where(state.t_air_c < WINDOW_CLOSE_BELOW_C, False, state.window_open),
    )
    h_out_air = params.h_vent_w_k + params.h_window_w_k * window
    ca, cm = params.c_air_j_k / dt_s, params.c_mass_j_k / dt_s
    ham, henv = params.h_am_w_k, params.h_env_w_k
    # Backward Euler: a 2x2 linear system per household, solved in closed form.
    a11 = ca + ham + h_out_air
    a12 = -ham
    a21 = -ham
    a22 = cm + ham + henv
    b1 = ca * state.t_air_c + q_radiator_w + q_gain_w + h_out_air * t_out_c
    b2 = cm * state.t_mass_c + henv * t_out_c
    det = a11 * a22 - a12 * a21
    t_air = (b1 * a22 - a12 * b2) / det
    t_mass = (a11 * b2 - a21 * b1) / det
    return HouseholdState(t_air, t_mass, window)


def steady_state(
    params: HouseholdParams,
    t_out_c: float,
    q_radiator_w: np.ndarray,
    q_gain_w: np.ndarray,
    window_open: np.ndarray | None = None,
) -> HouseholdState:
    """The equilibrium the model settles to under constant inputs (windows as given)."""
    window = np.zeros(params.count, dtype=bool) if window_open is None else window_open
    h_out_air = params.h_vent_w_k + params.h_window_w_k * window
    h_series = 1.0 / (1.0 / params.h_am_w_k + 1.0 / params.h_env_w_k)
    t_air = t_out_c + (q_radiator_w + q_gain_w) / (h_out_air + h_series)
    t_mass = (params.h_am_w_k * t_air + params.h_env_w_k * t_out_c) / (
        params.h_am_w_k + params.h_env_w_k
    )
    return HouseholdState(t_air, t_mass, window)
