"""Solve a whole network and report it in the file's units: the public entry point.

:func:`solve_network` compiles the network, solves it and maps the arrays back to pipes,
nodes, entrances, households and the pump. It raises a named error when the network cannot
run (disconnected part, no pump, impossible pump operating point) and otherwise returns a
:class:`NetworkSolution` whose ``success`` flag says whether Newton converged; on failure its
arrays are NaN, never a partial result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from host.models.hydraulics.errors import ImpossibleOperatingPointError, NotConvergedError
from host.models.hydraulics.network import Network
from host.models.hydraulics.solver import SolveResult, SolverOptions, prepare, solve_system
from host.models.hydraulics.system import HydraulicSystem, compile_network
from host.models.hydraulics.units import G_M_S2, KPA_TO_PA, M3H_TO_M3S

FloatArray = NDArray[np.float64]

#: Below this fraction of the curve's largest flow the pump counts as dead-headed.
DEAD_HEAD_FLOW_FRACTION = 1e-3


@dataclass(frozen=True, eq=False)
class NetworkSolution:
    """Flows, heads and pressures of a solved network, aligned with the network's tuples.

    pipe_flow_m3h : shape (n_pipes,)           flow from ``from_node`` to ``to_node``
    node_head_m, node_pressure_kpa : (n_nodes,)  piezometric head; gauge pressure
    entrance_flow_m3h, entrance_dp_kpa : (n_entrances,)  flow; supply − return pressure
    household_flow_m3h : (n_households,)
    """

    network: Network
    solve: SolveResult
    pipe_flow_m3h: FloatArray
    node_head_m: FloatArray
    node_pressure_kpa: FloatArray
    entrance_flow_m3h: FloatArray
    entrance_dp_kpa: FloatArray
    household_flow_m3h: FloatArray
    pump_flow_m3h: float
    pump_head_m: float

    @property
    def success(self) -> bool:
        """True when the solve converged."""
        return self.solve.success

    @property
    def n_iter(self) -> int:
        """Newton iterations used."""
        return self.solve.n_iter

    @property
    def residual_head_m(self) -> float:
        """Largest head-loss equation residual at the end (m)."""
        return self.solve.residual_head_m

    def require_success(self) -> NetworkSolution:
        """Return self if converged, else raise :class:`NotConvergedError` (for services)."""
        if not self.success:
            raise NotConvergedError(self.solve.message)
        return self

    def entrance_flows(self) -> dict[str, float]:
        """Entrance id → flow in m³/h."""
        return {
            e.id: float(g)
            for e, g in zip(self.network.entrances, self.entrance_flow_m3h, strict=True)
        }

    def household_flows(self) -> dict[str, float]:
        """Household id → flow in m³/h."""
        return {
            h.id: float(g)
            for h, g in zip(self.network.households, self.household_flow_m3h, strict=True)
        }


def _check_not_closed_off(network: Network) -> None:
    """Raise if every entrance is shut, so the pump would run against a closed loop."""
    if not network.entrances:
        raise ImpossibleOperatingPointError(
            "the network has no entrance: the pump would run dead-headed"
        )
    hh = network.households_by_entrance

    def open_path(e_id: str, opening: float) -> bool:
        households = hh.get(e_id, ())
        any_household = not households or any(
            h.valve is None or h.valve.opening > 0.0 for h in households
        )
        return opening > 0.0 and any_household

    if not any(open_path(e.id, e.valve.opening) for e in network.entrances):
        raise ImpossibleOperatingPointError(
            "every entrance is closed: the pump would run dead-headed with no flow"
        )


def solve_network(network: Network, options: SolverOptions | None = None) -> NetworkSolution:
    """Solve the closed loop of ``network``.

    Raises
    ------
    NoPumpError
        No pump, or a stopped pump.
    DisconnectedError
        Nodes with no path to the station.
    ImpossibleOperatingPointError
        Every entrance closed (dead-headed pump), or the converged operating point lies off
        the pump curve (reverse flow, zero or negative head, beyond the curve's last flow).
    """
    _check_not_closed_off(network)
    system = compile_network(network)
    result = solve_system(system, options, prepare(system))
    solution = map_solution(network, system, result)
    if result.success:
        _check_operating_point(network, solution)
    return solution


def _check_operating_point(network: Network, sol: NetworkSolution) -> None:
    pump = network.station.pump
    assert pump is not None
    q_max = pump.max_flow_m3h
    if sol.pump_flow_m3h < DEAD_HEAD_FLOW_FRACTION * q_max:
        raise ImpossibleOperatingPointError(
            f"pump dead-headed or reversed: flow {sol.pump_flow_m3h:.3g} m3/h, the curve runs to "
            f"{q_max:.3g} m3/h (are the consumers closed off?)"
        )
    if sol.pump_head_m <= 0.0 or sol.pump_flow_m3h > q_max * (1.0 + 1e-9):
        raise ImpossibleOperatingPointError(
            f"operating point {sol.pump_flow_m3h:.3g} m3/h at {sol.pump_head_m:.3g} m lies "
            f"beyond the pump curve (last point {q_max:.3g} m3/h at speed ratio "
            f"{pump.speed_ratio}): the pump cannot deliver it"
        )


def map_solution(
    network: Network, system: HydraulicSystem, result: SolveResult
) -> NetworkSolution:
    """Map solver arrays (SI) back to the network's elements (practical units)."""
    q_m3h = result.flow_m3_s / M3H_TO_M3S
    head = result.head_m
    idx = system.node_index
    lidx = system.link_index
    n_nodes = len(network.nodes)
    elev = np.array([n.elevation_m for n in network.nodes])
    rho_g = network.mean_density_kg_m3 * G_M_S2
    pressure = (head[:n_nodes] - elev) * rho_g / KPA_TO_PA
    pipe_q = q_m3h[: len(network.pipes)]
    hh = network.households_by_entrance
    ent_links = np.array(
        [lidx[f"{e.id}/valve" if e.id in hh else e.id] for e in network.entrances],
        dtype=np.int64,
    )
    s_nodes = np.array([idx[e.supply_node] for e in network.entrances], dtype=np.int64)
    r_nodes = np.array([idx[e.return_node] for e in network.entrances], dtype=np.int64)
    p_full = np.concatenate([pressure, np.zeros(system.n_nodes - n_nodes)])
    hh_links = np.array([lidx[h.id] for h in network.households], dtype=np.int64)
    pump_link = int(system.pump_links[0])
    pump_q = float(q_m3h[pump_link])
    pump = network.station.pump
    pump_head = pump.head_m(pump_q) if pump is not None else float("nan")
    return NetworkSolution(
        network=network,
        solve=result,
        pipe_flow_m3h=pipe_q,
        node_head_m=head[:n_nodes],
        node_pressure_kpa=pressure,
        entrance_flow_m3h=q_m3h[ent_links],
        entrance_dp_kpa=p_full[s_nodes] - p_full[r_nodes],
        household_flow_m3h=q_m3h[hh_links] if hh_links.size else np.zeros(0),
        pump_flow_m3h=pump_q,
        pump_head_m=pump_head,
    )
