"""Hydraulics at every plant step: the network solved with the valves' actual openings and
the pump's speed, reusing the symbolic work across steps.

The topology never changes with openings (a closed valve is a large S, see
host/models/hydraulics/valves.py), so the system is compiled and its fill-reducing ordering
computed once (``prepare``); each step only rewrites the S of the valve links and the pump
coefficients and starts Newton from the last step's flows. A step whose openings and speed
did not change reuses the last solution. ``cold=True`` compiles, prepares and starts from the
cold start every step (the benchmark's peer; same answers).

Valve laws are the vectorised form of host.models.hydraulics.valves (linear and equal-percentage
with the zero correction, Kv never below the closed leakage).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from host.models.hydraulics.errors import NotConvergedError
from host.models.hydraulics.network import Network, Pump
from host.models.hydraulics.solver import Prepared, SolverOptions, prepare, regularising_flow_m3_s
from host.models.hydraulics.solver import solve_system as _solve_system
from host.models.hydraulics.system import HydraulicSystem, compile_network
from host.models.hydraulics.units import (
    G_M_S2,
    KPA_TO_PA,
    KV_REFERENCE_DP_KPA,
    M3H_TO_M3S,
    S_M3H_TO_SI,
)
from host.models.hydraulics.valves import CLOSED_KV_FRACTION, Characteristic

#: Openings closer than this (fraction) to the last solved ones count as unchanged.
OPENING_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ValveArrays:
    """Kvs (m³/h), linear flag and rangeability of a set of valves, as arrays."""

    kvs_m3h: np.ndarray
    linear: np.ndarray
    rangeability: np.ndarray

    def s_si(self, opening: np.ndarray, density_kg_m3: float) -> np.ndarray:
        """Valve resistance in s²/m⁵ at ``opening`` (0..1)."""
        x = np.clip(opening, 0.0, 1.0)
        r = self.rangeability
        ratio = np.where(self.linear, x, r ** (x - 1.0) - (1.0 - x) / r)
        kv = self.kvs_m3h * np.maximum(ratio, CLOSED_KV_FRACTION)
        head_ref_m = KV_REFERENCE_DP_KPA * KPA_TO_PA / (density_kg_m3 * G_M_S2)
        return head_ref_m / (kv * kv) * S_M3H_TO_SI


def _valve_arrays(valves: list) -> ValveArrays:
    return ValveArrays(
        np.array([v.kvs_m3h for v in valves]),
        np.array([v.characteristic is Characteristic.LINEAR for v in valves]),
        np.array([v.rangeability for v in valves]),
    )


@dataclass(frozen=True, eq=False)
class FlowState:
    """One hydraulic solution in SI and practical units."""

    link_flow_m3_s: np.ndarray
    pipe_flow_m3_s: np.ndarray  # (n_pipes,)
    entrance_flow_m3h: np.ndarray  # (n_entrances,)
    household_flow_m3h: np.ndarray  # (n_households,)
    entrance_p_supply_kpa: np.ndarray
    entrance_p_return_kpa: np.ndarray
    pump_flow_m3h: float
    pump_head_m: float
    n_iter: int


class NetworkFlows:
    """Solve ``network`` step after step with changing openings and pump speed."""

    def __init__(self, network: Network, cold: bool = False, options: SolverOptions | None = None):
        if any(e.id not in network.households_by_entrance for e in network.entrances):
            raise ValueError("the simulator needs households under every entrance")
        if any(h.valve is None for h in network.households):
            raise ValueError("the simulator needs a valve (manual or motorised) per household")
        self.network = network
        self.cold = cold
        self.options = options or SolverOptions(head_tol_m=1e-6, flow_step_tol=1e-5)
        self.rho = network.mean_density_kg_m3
        system = compile_network(network)
        self.base = system
        lidx = system.link_index
        self.ent_links = np.array([lidx[f"{e.id}/valve"] for e in network.entrances])
        self.hh_links = np.array([lidx[h.id] for h in network.households])
        self.hh_fixed_s = np.array([h.s_m_per_m3h2 for h in network.households]) * S_M3H_TO_SI
        self.ent_valves = _valve_arrays([e.valve for e in network.entrances])
        self.hh_valves = _valve_arrays([h.valve for h in network.households])
        nidx = system.node_index
        self.s_nodes = np.array([nidx[e.supply_node] for e in network.entrances])
        self.r_nodes = np.array([nidx[e.return_node] for e in network.entrances])
        elev = {n.id: n.elevation_m for n in network.nodes}
        self.s_elev = np.array([elev[e.supply_node] for e in network.entrances])
        self.r_elev = np.array([elev[e.return_node] for e in network.entrances])
        self.n_pipes = len(network.pipes)
        pump = network.station.pump
        if pump is None:
            raise ValueError("the simulator needs a pump at the station")
        self.pump: Pump = pump
        self.prepared: Prepared | None = None if cold else prepare(system)
        self.last: FlowState | None = None
        self._last_key: tuple[np.ndarray, np.ndarray, float] | None = None
        self.solves = 0
        self.iterations = 0

    def _system(self, ent_open: np.ndarray, hh_open: np.ndarray, speed: float) -> HydraulicSystem:
        s = self.base.s_s2_m5.copy()
        s[self.ent_links] = self.ent_valves.s_si(ent_open, self.rho)
        s[self.hh_links] = self.hh_fixed_s + self.hh_valves.s_si(hh_open, self.rho)
        a, b, _ = self.pump.coefficients
        return replace(
            self.base,
            s_s2_m5=s,
            pump_h0_m=np.array([a * speed * speed]),
            pump_b_s_m2=np.array([b * speed / M3H_TO_M3S]),
            pump_qmax_m3_s=np.array([max(self.pump.curve_flow_m3h) * speed * M3H_TO_M3S]),
        )

    def solve(self, ent_open: np.ndarray, hh_open: np.ndarray, speed: float) -> FlowState:
        """Flows for these openings (fractions 0..1) and pump speed ratio."""
        key = self._last_key
        if (
            key is not None
            and self.last is not None
            and speed == key[2]
            and np.max(np.abs(ent_open - key[0]), initial=0.0) < OPENING_TOLERANCE
            and np.max(np.abs(hh_open - key[1]), initial=0.0) < OPENING_TOLERANCE
        ):
            return self.last
        system = self._system(ent_open, hh_open, speed)
        if self.cold:
            res = _solve_system(system, self.options, prepare(system))
        else:
            assert self.prepared is not None
            prep = replace(self.prepared, eps_m3_s=regularising_flow_m3_s(system))
            start = self.last.link_flow_m3_s if self.last is not None else None
            res = _solve_system(system, self.options, prep, start)
        if not res.success:
            raise NotConvergedError(f"plant hydraulics: {res.message}")
        self.solves += 1
        self.iterations += res.n_iter
        q = res.flow_m3_s
        rho_g = self.rho * G_M_S2 / KPA_TO_PA
        pump_q = float(q[system.pump_links[0]] / M3H_TO_M3S)
        a, b, c = self.pump.coefficients
        head = a * speed * speed + b * speed * pump_q + c * pump_q * pump_q
        state = FlowState(
            link_flow_m3_s=q,
            pipe_flow_m3_s=q[: self.n_pipes],
            entrance_flow_m3h=q[self.ent_links] / M3H_TO_M3S,
            household_flow_m3h=q[self.hh_links] / M3H_TO_M3S,
            entrance_p_supply_kpa=(res.head_m[self.s_nodes] - self.s_elev) * rho_g,
            entrance_p_return_kpa=(res.head_m[self.r_nodes] - self.r_elev) * rho_g,
            pump_flow_m3h=pump_q,
            pump_head_m=float(head),
            n_iter=res.n_iter,
        )
        self.last = state
        self._last_key = (ent_open.copy(), hh_open.copy(), speed)
        return state
