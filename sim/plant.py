"""The plant: one station's hydraulics, transport, radiators and households, stepped in time.

Each step of ``dt_s`` (inputs held over the step):

1. the station sets supply temperature and pump speed (its own curve, or a host's command:
   sim.station.StationCommand); the supply follows its set-point with the station's lag;
2. the network is solved with the valves' actual openings (sim.flows);
3. supply water reaches each entrance after the delay of its mains path, a little cooler, then
   climbs the riser (another delay) to the households (sim.transport);
4. each household's radiators (EN 442, sim.radiator) give heat and a return temperature at
   the flat's own flow and room temperature;
5. household returns mix by flow in the return riser; the entrance's probe sees the mix after
   the riser delay; entrance returns travel back and mix at the station;
6. rooms and building mass advance by the two-capacity model (sim.household), windows opened
   by occupants when too warm.

Energy bookkeeping (J) for the balance check: heat sent by the station, lost by the mains,
given by radiators, lost by flats (envelope, ventilation, open windows), and stored in flats.
Ground truth (room temperatures, pipe S) lives here and in the run result; virtual boards see
only what their probes and transducers read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from host.models.hydraulics.generate import _pipe_diameter_mm
from sim import household as hh
from sim import radiator
from sim.estate import Estate
from sim.flows import FlowState, NetworkFlows
from sim.station import StationCommand, StationSettings
from sim.transport import T_GROUND_C, DelayLine, Mains
from sim.weather import Weather

#: Storey height used for riser lengths (m), plus the run from the entrance to the riser.
STOREY_M, RISER_BASE_M = 2.9, 8.0
_NEWTON_STEPS = 6  # radiator return temperature: converged to round-off in 4


@dataclass
class EnergyLedger:
    """Energy over a run, J. ``station`` = ``mains_loss`` + ``radiator`` + water in transit;
    ``radiator`` + ``gains`` = ``flat_loss`` + ``flat_storage``."""

    station_j: float = 0.0
    mains_loss_j: float = 0.0
    radiator_j: float = 0.0
    gains_j: float = 0.0
    flat_loss_j: float = 0.0
    window_loss_j: float = 0.0
    flat_storage_j: float = 0.0
    pump_electricity_j: float = 0.0


@dataclass
class PlantOutputs:
    """What the plant shows at the start of a step (true values; devices add their errors)."""

    time_s: float
    t_out_c: float
    t_supply_station_c: float
    t_return_station_c: float
    pump_speed: float
    flows: FlowState
    t_supply_entrance_c: np.ndarray  # at the entrance (before the riser)
    t_return_entrance_c: np.ndarray  # the entrance valve's probe: mixed, after the riser
    t_return_household_c: np.ndarray  # each flat's return branch
    t_room_c: np.ndarray
    q_radiator_w: np.ndarray
    window_open: np.ndarray
    mains_loss_w: float = 0.0  # heat lost by the supply and return mains


class Plant:
    """A station's secondary network and its flats. ``step(ent_open, hh_open)`` advances it."""

    def __init__(
        self,
        estate: Estate,
        weather: Weather,
        station: StationSettings,
        dt_s: float = 60.0,
        cold_hydraulics: bool = False,
    ):
        self.estate = estate
        self.net = estate.network
        self.weather = weather
        self.station = station
        self.dt_s = dt_s
        self.flows = NetworkFlows(self.net, cold=cold_hydraulics)
        self.mains = Mains(self.net)
        self.params = estate.params
        ent_index = {e.id: i for i, e in enumerate(self.net.entrances)}
        self.hh_entrance = np.array([ent_index[h.entrance] for h in self.net.households])
        n_e = len(self.net.entrances)
        self.n_e, self.n_h = n_e, len(self.net.households)
        floors = np.array([e.floors or 1 for e in self.net.entrances], dtype=float)
        design = np.array([e.design_flow_m3h or 1.0 for e in self.net.entrances])
        diam_m = np.array([_pipe_diameter_mm(g) for g in design]) / 1000.0
        self.riser_volume_m3 = np.pi / 4.0 * diam_m**2 * (RISER_BASE_M + STOREY_M * floors)
        self.time_s = 0.0
        self.pump_speed = station.speed(float(weather.at(0.0)))
        self._speed_set_at = 0.0
        self.command: StationCommand | None = None
        self.ledger = EnergyLedger()
        self.state = self._initial_state()
        ts0 = station.supply_c(float(weather.at(0.0)))
        self.t_supply_c = ts0  # the station's actual supply (lags its set-point)
        tr0 = station.t_return_design_c
        self.hist_station = DelayLine(dt_s, ts0)
        self.hist_entrance_supply = DelayLine(dt_s, np.full(n_e, ts0))
        self.hist_mix = DelayLine(dt_s, np.full(n_e, tr0))
        self.hist_entrance_return = DelayLine(dt_s, np.full(n_e, tr0))
        self.outputs = self._settle()

    # ---- initial state ------------------------------------------------------------------
    def _initial_state(self) -> hh.HouseholdState:
        """Rooms at the steady state of the first hour's conditions with the first flows."""
        t_out = float(self.weather.at(0.0))
        ts = self.station.supply_c(t_out)
        fl = self.flows.solve(
            np.ones(self.n_e) * self._ent_open0(), self._hh_open0(), self.pump_speed
        )
        g = fl.household_flow_m3h
        state = hh.HouseholdState.uniform(self.n_h, 20.0)
        gains = hh.gains_w(self.params, 0.0)
        for _ in range(30):
            _, q = radiator.solve_return_fast(g, ts, state.t_air_c, self.estate.q_nominal_w)
            new = hh.steady_state(self.params, t_out, q, gains)
            state = hh.HouseholdState(
                0.5 * (state.t_air_c + new.t_air_c),
                0.5 * (state.t_mass_c + new.t_mass_c),
                np.zeros(self.n_h, dtype=bool),
            )
        return state

    def _ent_open0(self) -> np.ndarray:
        return np.array([e.valve.opening for e in self.net.entrances])

    def _hh_open0(self) -> np.ndarray:
        return np.array([h.valve.opening if h.valve else 1.0 for h in self.net.households])

    def _settle(self) -> PlantOutputs:
        """Fill the delay lines at the initial openings (no time passes)."""
        ent, hho = self._ent_open0(), self._hh_open0()
        out = self._evaluate(ent, hho)
        for _ in range(self.hist_station.n):
            out = self._evaluate(ent, hho)
        return out

    # ---- one step -----------------------------------------------------------------------
    def _station_setpoints(self, t_out_c: float) -> tuple[float, float]:
        """(actual supply temperature, pump speed) over this step."""
        st = self.station
        if self.time_s - self._speed_set_at >= st.update_s:
            self._speed_set_at = self.time_s
            self.pump_speed = st.speed(t_out_c)
        # the operator re-sets the supply temperature on the same grid as the speed
        ts_set = st.supply_c(float(self.weather.at(self._speed_set_at)))
        speed = self.pump_speed
        if self.command is not None:
            cmd_speed, cmd_ts = self.command.applied(st, self.time_s)
            speed = speed if cmd_speed is None else cmd_speed
            ts_set = ts_set if cmd_ts is None else cmd_ts
        if st.supply_tau_s > 0:
            self.t_supply_c += (ts_set - self.t_supply_c) * (
                1.0 - float(np.exp(-self.dt_s / st.supply_tau_s))
            )
        else:
            self.t_supply_c = ts_set
        return self.t_supply_c, speed

    def _evaluate(self, ent_open: np.ndarray, hh_open: np.ndarray) -> PlantOutputs:
        """Everything the plant shows at self.time_s for these openings.

        Pushes this instant's values into the delay lines: call once per step."""
        t_out = float(self.weather.at(self.time_s))
        ts_station, speed = self._station_setpoints(t_out)
        fl = self.flows.solve(ent_open, hh_open, speed)
        m = self.mains
        m.update_flows(fl.pipe_flow_m3_s)
        g_e = np.maximum(fl.entrance_flow_m3h, 1e-9)
        # supply: station → entrance (delay + cooling), entrance → flats (riser delay)
        self.hist_station.push(ts_station)
        sent = self.hist_station.delayed(m.tau_supply_s)
        ts_e = T_GROUND_C + (sent - T_GROUND_C) * m.decay_supply
        self.hist_entrance_supply.push(ts_e)
        tau_riser = self.riser_volume_m3 / (g_e / 3600.0)
        ts_h = self.hist_entrance_supply.delayed(tau_riser)[self.hh_entrance]
        g_h = np.maximum(fl.household_flow_m3h, 0.0)
        tr_h, q_rad = radiator.solve_return_fast(
            g_h, ts_h, self.state.t_air_c, self.estate.q_nominal_w, iterations=_NEWTON_STEPS
        )
        # return: flats → entrance probe (riser delay), entrance → station (delay + cooling)
        w = np.bincount(self.hh_entrance, g_h, minlength=self.n_e)
        mix = np.bincount(self.hh_entrance, g_h * tr_h, minlength=self.n_e) / np.maximum(w, 1e-12)
        self.hist_mix.push(mix)
        tr_e = self.hist_mix.delayed(tau_riser)
        self.hist_entrance_return.push(tr_e)
        back = self.hist_entrance_return.delayed(m.tau_return_s)
        arrive = T_GROUND_C + (back - T_GROUND_C) * m.decay_return
        tr_station = float(np.sum(g_e * arrive) / np.sum(g_e))
        gc_e = radiator.water_capacity_w_k(g_e)
        loss_w = float(np.sum(gc_e * (sent - ts_e)) + np.sum(gc_e * (back - arrive)))
        return PlantOutputs(
            self.time_s,
            t_out,
            ts_station,
            tr_station,
            speed,
            fl,
            ts_e,
            tr_e,
            tr_h,
            self.state.t_air_c,
            q_rad,
            self.state.window_open,
            loss_w,
        )

    def step(self, ent_open: np.ndarray, hh_open: np.ndarray) -> PlantOutputs:
        """Advance by dt_s with these valve openings (fractions 0..1, the stems' positions).

        Returns the outputs at the start of the step: what probes read during it."""
        out = self._evaluate(ent_open, hh_open)
        dt = self.dt_s
        led = self.ledger
        g_pump = radiator.water_capacity_w_k(out.flows.entrance_flow_m3h.sum())
        led.station_j += float(g_pump * (out.t_supply_station_c - out.t_return_station_c)) * dt
        led.mains_loss_j += out.mains_loss_w * dt
        led.radiator_j += float(out.q_radiator_w.sum()) * dt
        gains = hh.gains_w(self.params, self.time_s)
        led.gains_j += float(gains.sum()) * dt
        led.pump_electricity_j += (
            self.station.pump_power_w(out.flows.pump_flow_m3h, out.flows.pump_head_m) * dt
        )
        p = self.params
        old = self.state
        new = hh.step(p, old, dt, out.t_out_c, out.q_radiator_w, gains)
        window_w = p.h_window_w_k * new.window_open * (new.t_air_c - out.t_out_c)
        loss_w = (
            p.h_vent_w_k * (new.t_air_c - out.t_out_c)
            + window_w
            + p.h_env_w_k * (new.t_mass_c - out.t_out_c)
        )
        led.flat_loss_j += float(loss_w.sum()) * dt
        led.window_loss_j += float(window_w.sum()) * dt
        led.flat_storage_j += float(
            np.sum(p.c_air_j_k * (new.t_air_c - old.t_air_c))
            + np.sum(p.c_mass_j_k * (new.t_mass_c - old.t_mass_c))
        )
        self.state = new
        self.time_s += dt
        self.outputs = out
        return out
