"""From the hydraulics network model to the estimator's graphs, and the whole-network run.

A :class:`~host.models.hydraulics.network.Network` splits into two sub-networks as in the seed
paper: the supply pipes with the station supply node as reference (entrance flows leave at the
entrance supply nodes) and the return pipes with the station return node as reference
(entrance flows enter at the entrance return nodes, i.e. negative outflows). Each is
estimated on its own, with the full method when every one of its nodes has a head and the
partial method otherwise. S is in m/(m³/h)², the network file's unit.

Darcy–Weisbach pipes (length, diameter, roughness) are estimated as lumped S too; their
nominal S (Swamee–Jain at ``NOMINAL_VELOCITY_M_S``) is the starting point of the looped
partial fit and the comparison value in the report.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from host.models.estimation.conditions import Catalog, Conditions
from host.models.estimation.entrances import (
    ENTRANCE_MODES,
    EntranceEstimate,
    estimate_joint,
    valve_s,
)
from host.models.estimation.full import dh_from_heads, estimate_full
from host.models.estimation.graph import FloatArray, IntArray, PipeGraph
from host.models.estimation.partial import estimate_partial
from host.models.estimation.result import EstimationResult, Progress
from host.models.estimation.weighting import SensorModel
from host.models.hydraulics.network import MeasurementKind, Network, Side
from host.models.hydraulics.units import G_M_S2, KPA_TO_PA, S_M3H_TO_SI

#: Velocity at which a Darcy pipe's nominal S is evaluated (m/s).
NOMINAL_VELOCITY_M_S = 0.6
#: Kinematic viscosity of heating water for the nominal S (m²/s, about 50 °C).
NOMINAL_NU_M2_S = 0.55e-6


@dataclass(frozen=True, eq=False)
class SubNetwork:
    """One side of a network as a :class:`PipeGraph`.

    pipe_index : (b,) positions of the graph's pipes in ``network.pipes``
    entrance_node : (n_entrances,) graph node of each entrance (in network order)
    sign : +1 (supply: the entrance flow leaves) or −1 (return: it enters)
    nominal_s : (b,) S from the file (lumped) or nominal Darcy S, m/(m³/h)²
    """

    side: Side
    graph: PipeGraph
    pipe_index: IntArray
    entrance_node: IntArray
    sign: float
    nominal_s: FloatArray


def nominal_s(network: Network) -> FloatArray:
    """S of every pipe of the file: the lumped value or Darcy–Weisbach at a nominal velocity."""
    out = np.empty(len(network.pipes))
    for j, p in enumerate(network.pipes):
        if p.s_m_per_m3h2 is not None:
            out[j] = p.s_m_per_m3h2
            continue
        d_m = float(p.diameter_mm or 0.0) / 1e3
        rough = float(p.roughness_mm or 0.0) / 1e3
        re = NOMINAL_VELOCITY_M_S * d_m / NOMINAL_NU_M2_S
        f = 0.25 / np.log10(rough / (3.7 * d_m) + 5.74 / re**0.9) ** 2
        area = np.pi * d_m**2 / 4.0
        r_si = float(p.length_m or 0.0) / (2.0 * G_M_S2 * d_m * area**2)
        out[j] = f * r_si / S_M3H_TO_SI
    return out


def split_network(
    network: Network, measured_heads: Collection[str] | None = None
) -> tuple[SubNetwork, SubNetwork]:
    """The supply and the return sub-network; heads measured where ``measured_heads`` says.

    ``measured_heads`` defaults to the network's pressure measurements.
    """
    if measured_heads is None:
        measured_heads = {m.at for m in network.measurements if m.kind == MeasurementKind.PRESSURE}
    measured = set(measured_heads)
    s_nom = nominal_s(network)
    subs = []
    for side, ref, sign in (
        (Side.SUPPLY, network.station.supply_node, 1.0),
        (Side.RETURN, network.station.return_node, -1.0),
    ):
        idx = np.array([j for j, p in enumerate(network.pipes) if p.side == side], dtype=np.intp)
        ent_nodes = [
            e.supply_node if side == Side.SUPPLY else e.return_node for e in network.entrances
        ]
        order: dict[str, int] = {ref: 0}
        for j in idx:
            p = network.pipes[j]
            order.setdefault(p.from_node, len(order))
            order.setdefault(p.to_node, len(order))
        for n in ent_nodes:
            order.setdefault(n, len(order))
        ids = tuple(order)
        graph = PipeGraph(
            node_ids=ids,
            pipe_ids=tuple(network.pipes[j].id for j in idx),
            pipe_from=np.array([order[network.pipes[j].from_node] for j in idx], dtype=np.intp),
            pipe_to=np.array([order[network.pipes[j].to_node] for j in idx], dtype=np.intp),
            reference=0,
            head_measured=np.array([n in measured or n == ref for n in ids]),
            outflow_node=np.isin(ids, ent_nodes),
        )
        subs.append(
            SubNetwork(
                side,
                graph,
                idx,
                np.array([order[n] for n in ent_nodes], dtype=np.intp),
                sign,
                s_nom[idx],
            )
        )
    return subs[0], subs[1]


def catalog(network: Network) -> Catalog:
    """Ids the conditions file may name, and the pressure conversion of every node."""
    m_per_kpa = KPA_TO_PA / (network.mean_density_kg_m3 * G_M_S2)
    return Catalog(
        nodes={n.id: (n.elevation_m, m_per_kpa) for n in network.nodes},
        entrances=[e.id for e in network.entrances],
        required_heads=[m.at for m in network.measurements if m.kind == MeasurementKind.PRESSURE],
    )


def condition_arrays(
    sub: SubNetwork, conditions: Conditions, entrance_ids: list[str]
) -> tuple[FloatArray, FloatArray]:
    """(head (K, n) with NaN where unmeasured, outflow (K, n)) for one sub-network."""
    g = sub.graph
    k_n = conditions.n_conditions
    head = np.full((k_n, g.n_nodes), np.nan)
    for node, values in conditions.head_m.items():
        i = g.node_index.get(node)
        if i is not None:
            head[:, i] = values
    q = np.zeros((k_n, g.n_nodes))
    for e_i, ent in enumerate(entrance_ids):
        q[:, sub.entrance_node[e_i]] += sub.sign * conditions.flow_m3h[ent]
    return head, q


@dataclass(frozen=True)
class NetworkEstimate:
    """Results of both sides of one network, and of the entrances when openings were used."""

    network_name: str
    sides: tuple[tuple[str, EstimationResult], ...]
    entrances: EntranceEstimate | None = None

    @property
    def success(self) -> bool:
        return all(r.success for _, r in self.sides)


def entrance_mode(entrances: str, conditions: Conditions) -> str | None:
    """The entrance model to use: ``None`` (off) or one of :data:`ENTRANCE_MODES`.

    ``"auto"`` is ``"internal"`` when the conditions give valve openings, else off.
    """
    if entrances not in ("auto", "off", *ENTRANCE_MODES):
        raise ValueError(
            f"entrances must be auto, off or one of {', '.join(ENTRANCE_MODES)}, got {entrances!r}"
        )
    if entrances == "auto":
        return "internal" if conditions.opening else None
    return None if entrances == "off" else entrances


def _estimate_side(
    sub: SubNetwork,
    head: FloatArray,
    q: FloatArray,
    sensors: SensorModel | None,
    method: str,
    robust: bool,
    prog: Progress,
) -> EstimationResult:
    """One sub-network on its own: full where every node has a head, else partial."""
    all_heads = bool(np.all(sub.graph.head_measured))
    use = method if method != "auto" else ("full" if all_heads else "partial")
    if use == "full":
        if not all_heads:
            missing = [
                n
                for n, m in zip(sub.graph.node_ids, sub.graph.head_measured, strict=True)
                if not m
            ]
            raise ValueError(
                f"{sub.side.value}: the full method needs every head; missing at "
                + ", ".join(missing[:10])
            )
        return estimate_full(
            sub.graph,
            dh_from_heads(sub.graph, head),
            q,
            sensors,
            robust=robust,
            s_design=sub.nominal_s,
            progress=prog,
        )
    return estimate_partial(
        sub.graph, head, q, sensors, robust=robust, s_start=sub.nominal_s, progress=prog
    )


def estimate_network(
    network: Network,
    conditions: Conditions,
    sensors: SensorModel | None = None,
    *,
    method: str = "auto",
    robust: bool = True,
    progress: Progress | None = None,
    entrances: str = "auto",
) -> NetworkEstimate:
    """Estimate S of every supply and return pipe of ``network`` from ``conditions``.

    ``method``: "auto" (full where every node of a side has a head, else partial), "full"
    or "partial". ``entrances``: "auto" (use the entrance valves' openings when the
    conditions give them, mode "internal"; entrances without openings get no equation),
    "off", or a mode of :mod:`host.models.estimation.entrances` ("internal", "factor", "both":
    every entrance needs its openings, else :class:`EntranceDataError`). With entrances, a tree
    side with an entrance node without a head is estimated jointly with the entrances
    (:func:`host.models.estimation.entrances.estimate_joint`); the other sides as without.
    """
    if method not in ("auto", "full", "partial"):
        raise ValueError(f"method must be auto, full or partial, got {method!r}")
    mode = entrance_mode(entrances, conditions)
    subs = split_network(network, conditions.head_m.keys())
    ents = [e.id for e in network.entrances]
    arrays = [condition_arrays(sub, conditions, ents) for sub in subs]
    joint = [False] * len(subs)
    if mode is not None:
        if not network.entrances:
            raise ValueError("entrance equations: the network has no entrances")
        # bad or (explicit modes) missing openings: fail before any work
        valve_s(network, conditions, require_all=entrances != "auto")
        joint = [
            method != "full"
            and sub.graph.n_pipes > 0
            and sub.graph.n_loops == 0
            and not bool(np.all(sub.graph.head_measured[sub.entrance_node]))
            for sub in subs
        ]
    n_stage = len(subs) + (mode is not None)
    results: dict[str, EstimationResult] = {}
    for s_i, sub in enumerate(subs):
        if sub.graph.n_pipes == 0 or joint[s_i]:
            continue

        def prog(frac: float, stage: str, s_i: int = s_i, side: str = sub.side.value) -> None:
            if progress:
                progress((s_i + frac) / n_stage, f"{side}: {stage}")

        head, q = arrays[s_i]
        results[sub.side.value] = _estimate_side(sub, head, q, sensors, method, robust, prog)
    ent_est = None
    if mode is not None:

        def prog_j(frac: float, stage: str) -> None:
            if progress:
                progress((len(subs) + frac) / n_stage, f"entrances: {stage}")

        joint_res, ent_est = estimate_joint(
            network,
            conditions,
            subs,
            [a[0] for a in arrays],
            [a[1] for a in arrays],
            joint,
            sensors,
            mode=mode,
            require_all=entrances != "auto",
            robust=robust,
            progress=prog_j,
        )
        results.update(joint_res)
    out = tuple(
        (sub.side.value, results[sub.side.value]) for sub in subs if sub.side.value in results
    )
    return NetworkEstimate(network.name, out, ent_est)
