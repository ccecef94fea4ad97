"""The open variant of a network: reservoirs instead of the pump loop, entrances as demands.

EPANET has one viscosity for the whole network and hard-codes g = 32.2 ft/s²; to compare
like with like the open variant uses one water temperature for every pipe and carries the
gravity constant the peer uses (:data:`EPANET_GRAVITY_M_S2`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from host.models.hydraulics.network import Network
from host.models.hydraulics.system import HydraulicSystem, LinkKind, darcy_arrays
from host.models.hydraulics.units import G_M_S2, M3H_TO_M3S, MM_TO_M
from host.models.hydraulics.water import kinematic_viscosity_m2_s

#: EPANET's gravity: 32.2 ft/s² in m/s² (hydcoeffs.c, resistcoeff).
EPANET_GRAVITY_M_S2 = 32.2 * 0.3048
#: EPANET's reference kinematic viscosity (1.1e-5 ft²/s) in m²/s; its VISCOSITY is relative.
EPANET_VISCOSITY_M2_S = 1.1e-5 * 0.3048**2


@dataclass(frozen=True, eq=False)
class OpenNetwork:
    """An open network as a solver system plus what a peer needs to rebuild it."""

    system: HydraulicSystem
    elevation_m: np.ndarray
    length_m: np.ndarray
    diameter_m: np.ndarray
    roughness_m: np.ndarray
    viscosity_m2_s: float
    temperature_c: float


def open_variant(
    net: Network,
    supply_head_m: float = 30.0,
    return_head_m: float = 20.0,
    entrance_flows_m3h: Mapping[str, float] | None = None,
    temperature_c: float | None = None,
    gravity_m_s2: float = G_M_S2,
) -> OpenNetwork:
    """Pipes of ``net`` between two reservoirs with the entrance flows as demands.

    Every pipe must be given by length/diameter/roughness (Darcy–Weisbach). Entrance flows
    default to their design flows.
    """
    lumped = [p.id for p in net.pipes if not p.is_darcy]
    if lumped:
        raise ValueError(f"open variants need Darcy–Weisbach pipes; lumped: {lumped[:5]}")
    st = net.station
    t_c = 0.5 * (st.supply_temp_c + st.return_temp_c) if temperature_c is None else temperature_c
    nu = kinematic_viscosity_m2_s(t_c)
    node_ids = tuple(n.id for n in net.nodes)
    idx = {n: i for i, n in enumerate(node_ids)}
    flows = entrance_flows_m3h or {e.id: e.design_flow_m3h or 0.0 for e in net.entrances}
    demand = np.zeros(len(node_ids))
    for e in net.entrances:
        demand[idx[e.supply_node]] += flows[e.id] * M3H_TO_M3S
        demand[idx[e.return_node]] -= flows[e.id] * M3H_TO_M3S
    fixed = np.full(len(node_ids), np.nan)
    fixed[idx[st.supply_node]] = supply_head_m
    fixed[idx[st.return_node]] = return_head_m
    demand[np.isfinite(fixed)] = 0.0
    n_p = len(net.pipes)
    length = np.array([p.length_m for p in net.pipes], dtype=float)
    diam = np.array([p.diameter_mm for p in net.pipes], dtype=float) * MM_TO_M
    rough = np.array([p.roughness_mm for p in net.pipes], dtype=float) * MM_TO_M
    dw = np.column_stack([np.arange(n_p), length, diam, rough, np.full(n_p, nu)])
    empty = np.zeros(0)
    system = HydraulicSystem(
        node_ids=node_ids,
        link_ids=tuple(p.id for p in net.pipes),
        link_kind=np.full(n_p, int(LinkKind.PIPE), dtype=np.int64),
        start=np.array([idx[p.from_node] for p in net.pipes], dtype=np.int64),
        end=np.array([idx[p.to_node] for p in net.pipes], dtype=np.int64),
        s_s2_m5=np.zeros(n_p),
        **darcy_arrays(dw, gravity_m_s2),
        pump_links=np.zeros(0, dtype=np.int64),
        pump_h0_m=empty,
        pump_b_s_m2=empty,
        pump_c_s2_m5=empty,
        pump_qmax_m3_s=empty,
        fixed_head_m=fixed,
        demand_m3_s=demand,
        gravity_m_s2=gravity_m_s2,
    )
    elev = np.array([n.elevation_m for n in net.nodes])
    return OpenNetwork(system, elev, length, diam, rough, nu, t_c)
