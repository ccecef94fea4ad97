"""Compile a :class:`~host.models.hydraulics.network.Network` into solver arrays (SI units).

A :class:`HydraulicSystem` is a plain graph: nodes with either a known head or a demand, and
links with a head-loss law. The closed heating loop becomes: every pipe, the pump as a link
from the station return node to the station supply node, one link per entrance (internal
resistance and valve in series) or, with households, a riser link, one link per household
and a valve link through two internal nodes ``<entrance>/hs`` and ``<entrance>/hr``. The
station return node gets the known head set by the pressurisation unit (the reference).

Open networks for the oracles (a reservoir instead of the pump loop) are built directly as
systems by :mod:`tests.peers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property
from typing import TypedDict

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from host.models.hydraulics.errors import DisconnectedError, NoPumpError
from host.models.hydraulics.friction import resistance_s2_m5
from host.models.hydraulics.network import Network, Side
from host.models.hydraulics.units import G_M_S2, M3H_TO_M3S, MM_TO_M, S_M3H_TO_SI
from host.models.hydraulics.water import kinematic_viscosity_m2_s
from shared.units import kpa_to_head_m

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class LinkKind(IntEnum):
    """What a link of the system stands for."""

    PIPE = 0
    PUMP = 1
    ENTRANCE = 2
    RISER = 3
    HOUSEHOLD = 4
    ENTRANCE_VALVE = 5


@dataclass(frozen=True, eq=False)
class HydraulicSystem:
    """Arrays the solver works on. All SI: m, m³/s, s²/m⁵.

    Head loss of link k from ``start[k]`` to ``end[k]`` at flow Q (positive start → end):
    ``s_s2_m5[k]·Q·|Q|`` (lumped, regularised near 0) plus Darcy–Weisbach for the links in
    ``dw_links`` minus the pump head ``h0 + b·Q + c·Q²`` for the links in ``pump_links``.
    """

    node_ids: tuple[str, ...]
    link_ids: tuple[str, ...]
    link_kind: IntArray
    start: IntArray
    end: IntArray
    s_s2_m5: FloatArray
    dw_links: IntArray
    dw_r_s2_m5: FloatArray
    dw_rel_rough: FloatArray
    dw_nu_d_m3_s: FloatArray
    dw_diameter_m: FloatArray
    pump_links: IntArray
    pump_h0_m: FloatArray
    pump_b_s_m2: FloatArray
    pump_c_s2_m5: FloatArray
    pump_qmax_m3_s: FloatArray
    fixed_head_m: FloatArray
    demand_m3_s: FloatArray
    gravity_m_s2: float = G_M_S2

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_ids)

    @property
    def n_links(self) -> int:
        """Number of links."""
        return len(self.link_ids)

    @cached_property
    def lumped_links(self) -> IntArray:
        """Indices of links with a lumped quadratic term (S > 0)."""
        return np.flatnonzero(self.s_s2_m5 > 0.0)

    @cached_property
    def node_index(self) -> dict[str, int]:
        """Node id → index."""
        return {n: i for i, n in enumerate(self.node_ids)}

    @cached_property
    def link_index(self) -> dict[str, int]:
        """Link id → index."""
        return {n: i for i, n in enumerate(self.link_ids)}

    def check(self) -> None:
        """Raise a named error if the system cannot have a unique solution.

        Raises
        ------
        DisconnectedError
            Some nodes have no path to a node of known head.
        NoPumpError
            Nothing drives flow: no running pump, no demand and all known heads equal.
        """
        n = self.n_nodes
        graph = coo_matrix((np.ones(self.n_links), (self.start, self.end)), shape=(n, n)).tocsr()
        _, labels = connected_components(graph, directed=False)
        fixed = ~np.isnan(self.fixed_head_m)
        anchored = np.zeros(labels.max() + 1, dtype=bool)
        anchored[labels[fixed]] = True
        loose = ~anchored[labels]
        if np.any(loose):
            raise DisconnectedError([self.node_ids[i] for i in np.flatnonzero(loose)])
        heads = self.fixed_head_m[fixed]
        drives = (
            self.pump_links.size > 0
            or np.any(self.demand_m3_s != 0.0)
            or (heads.size > 1 and np.ptp(heads) > 0.0)
        )
        if not drives:
            raise NoPumpError(
                "nothing drives flow: no running pump, no demand and no head difference"
            )


def compile_network(
    network: Network,
    entrance_flows_m3h: Mapping[str, float] | None = None,
) -> HydraulicSystem:
    """Build the solver arrays of ``network``.

    With ``entrance_flows_m3h`` every entrance is replaced by its flow as a fixed demand at
    its supply node and a fixed inflow at its return node (used by the inverse problem).

    Raises
    ------
    NoPumpError
        The station has no pump or the pump is stopped (speed ratio 0).
    """
    st = network.station
    pump = st.pump
    if pump is None:
        raise NoPumpError(f"station {st.id!r} has no pump: nothing drives the loop")
    if pump.speed_ratio <= 0.0:
        raise NoPumpError(f"the pump of station {st.id!r} is stopped (speed ratio 0)")
    rho = network.mean_density_kg_m3
    nu_supply = kinematic_viscosity_m2_s(st.supply_temp_c)
    nu_return = kinematic_viscosity_m2_s(st.return_temp_c)

    node_ids: list[str] = [n.id for n in network.nodes]
    elevation = {n.id: n.elevation_m for n in network.nodes}
    link_ids: list[str] = []
    kinds: list[int] = []
    starts: list[str] = []
    ends: list[str] = []
    s_m3h: list[float] = []
    dw: list[tuple[int, float, float, float, float]] = []

    def add(link_id: str, kind: LinkKind, a: str, b: str, s: float) -> int:
        link_ids.append(link_id)
        kinds.append(int(kind))
        starts.append(a)
        ends.append(b)
        s_m3h.append(s)
        return len(link_ids) - 1

    for p in network.pipes:
        k = add(p.id, LinkKind.PIPE, p.from_node, p.to_node, p.s_m_per_m3h2 or 0.0)
        if p.is_darcy:
            assert p.length_m is not None and p.diameter_mm is not None
            nu = nu_supply if p.side is Side.SUPPLY else nu_return
            d_m = p.diameter_mm * MM_TO_M
            dw.append((k, p.length_m, d_m, (p.roughness_mm or 0.0) * MM_TO_M, nu))
    pump_link = add(f"{st.id}/pump", LinkKind.PUMP, st.return_node, st.supply_node, 0.0)

    demand: dict[str, float] = {}
    hh_by_e = network.households_by_entrance
    for e in network.entrances:
        if entrance_flows_m3h is not None:
            g = entrance_flows_m3h[e.id]
            demand[e.supply_node] = demand.get(e.supply_node, 0.0) + g
            demand[e.return_node] = demand.get(e.return_node, 0.0) - g
            continue
        s_valve = e.valve.s_m_per_m3h2(rho)
        households = hh_by_e.get(e.id, ())
        if not households:
            add(
                e.id,
                LinkKind.ENTRANCE,
                e.supply_node,
                e.return_node,
                e.internal_s_m_per_m3h2 + s_valve,
            )
            continue
        hs, hr = f"{e.id}/hs", f"{e.id}/hr"
        node_ids += [hs, hr]
        elevation[hs] = elevation[e.supply_node]
        elevation[hr] = elevation[e.return_node]
        add(f"{e.id}/riser", LinkKind.RISER, e.supply_node, hs, e.internal_s_m_per_m3h2)
        for h in households:
            s_h = h.s_m_per_m3h2 + (h.valve.s_m_per_m3h2(rho) if h.valve else 0.0)
            add(h.id, LinkKind.HOUSEHOLD, hs, hr, s_h)
        add(f"{e.id}/valve", LinkKind.ENTRANCE_VALVE, hr, e.return_node, s_valve)

    index = {n: i for i, n in enumerate(node_ids)}
    fixed = np.full(len(node_ids), np.nan)
    fixed[index[st.return_node]] = elevation[st.return_node] + kpa_to_head_m(
        st.return_pressure_kpa, rho
    )
    dem = np.zeros(len(node_ids))
    for nid, g in demand.items():
        dem[index[nid]] += g * M3H_TO_M3S
    a, b, c = pump.coefficients
    n = pump.speed_ratio
    dw_arr = np.array(dw, dtype=float).reshape(-1, 5)
    return HydraulicSystem(
        node_ids=tuple(node_ids),
        link_ids=tuple(link_ids),
        link_kind=np.array(kinds, dtype=np.int64),
        start=np.array([index[s] for s in starts], dtype=np.int64),
        end=np.array([index[s] for s in ends], dtype=np.int64),
        s_s2_m5=np.array(s_m3h) * S_M3H_TO_SI,
        **darcy_arrays(dw_arr, G_M_S2),
        pump_links=np.array([pump_link], dtype=np.int64),
        pump_h0_m=np.array([a * n * n]),
        pump_b_s_m2=np.array([b * n / M3H_TO_M3S]),
        pump_c_s2_m5=np.array([c * S_M3H_TO_SI]),
        pump_qmax_m3_s=np.array([pump.max_flow_m3h * M3H_TO_M3S]),
        fixed_head_m=fixed,
        demand_m3_s=dem,
    )


class DarcyArrays(TypedDict):
    """The Darcy–Weisbach fields of :class:`HydraulicSystem`."""

    dw_links: IntArray
    dw_r_s2_m5: FloatArray
    dw_rel_rough: FloatArray
    dw_nu_d_m3_s: FloatArray
    dw_diameter_m: FloatArray


def darcy_arrays(dw: FloatArray, gravity_m_s2: float) -> DarcyArrays:
    """Darcy–Weisbach arrays from rows (link, length m, diameter m, roughness m, ν m²/s)."""
    length, diam, rough, nu = dw[:, 1], dw[:, 2], dw[:, 3], dw[:, 4]
    return {
        "dw_links": dw[:, 0].astype(np.int64),
        "dw_r_s2_m5": resistance_s2_m5(length, diam, gravity_m_s2),
        "dw_rel_rough": rough / diam,
        "dw_nu_d_m3_s": nu * diam,
        "dw_diameter_m": diam,
    }
