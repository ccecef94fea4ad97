"""Seeded generator of realistic secondary networks for tests, benchmarks and the simulator.

A station feeds branched supply and return mains (mirror images, with a few loops); each
main junction may carry a building on a service pipe; a building has 1–6 entrances and 4–18
floors; optionally every entrance has its households (2–4 per floor) with their own valves.
Design flows follow the floors; pipes are sized for the design flow they carry, so they
shrink towards the ends; entrance valves get the smallest standard Kvs that passes the
design flow at ≤ 20 kPa; the pump is chosen so that, with every valve fully open, the
hydraulically worst entrance still receives its design flow (plus 15 % head margin).

Everything comes from ``np.random.default_rng(seed)``: the same arguments give the same
network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from host.models.hydraulics.inverse import available_head_m, open_branch_head_m
from host.models.hydraulics.network import (
    Entrance,
    Household,
    Measurement,
    MeasurementKind,
    Network,
    Node,
    Pipe,
    Pump,
    Side,
    Station,
)
from host.models.hydraulics.solver import SolverOptions, solve_system
from host.models.hydraulics.system import compile_network
from host.models.hydraulics.valves import Characteristic, Valve

#: Inner diameters (mm) of the steel pipe series DN20 … DN1000 (the big ones only appear in
#: the oversized benchmark networks).
INNER_DIAMETERS_MM = (
    21.6,
    27.3,
    36.0,
    41.9,
    53.1,
    68.9,
    80.9,
    105.3,
    130.0,
    155.4,
    206.5,
    260.4,
    309.7,
    339.6,
    388.8,
    486.0,
    585.0,
    684.0,
    784.0,
    984.0,
)
#: Standard Kvs series (m³/h).
KVS_SERIES_M3H = (0.4, 0.63, 1.0, 1.6, 2.5, 4.0, 6.3, 10.0, 16.0, 25.0, 40.0, 63.0, 100.0)
#: Design velocity limit when sizing pipes (m/s).
DESIGN_VELOCITY_M_S = 0.9
#: Pressure drop of a fully open entrance valve at design flow, at most (bar).
VALVE_DESIGN_DP_BAR = 0.2
_PUMP_HEAD_MARGIN = 1.15


@dataclass(frozen=True)
class _Building:
    junction: int
    n_entrances: int
    floors: int


def _pipe_diameter_mm(flow_m3h: float) -> float:
    for d in INNER_DIAMETERS_MM:
        area = np.pi * (d / 1000.0) ** 2 / 4.0
        if flow_m3h / 3600.0 / area <= DESIGN_VELOCITY_M_S:
            return d
    return INNER_DIAMETERS_MM[-1]


def _kvs_m3h(flow_m3h: float) -> float:
    needed = flow_m3h / np.sqrt(VALVE_DESIGN_DP_BAR)
    return next((k for k in KVS_SERIES_M3H if k >= needed), KVS_SERIES_M3H[-1])


def _layout(rng: np.random.Generator, n_nodes: int) -> tuple[list[int], list[_Building]]:
    """Grow the main tree and buildings until the node count reaches ``n_nodes``."""
    parent = [-1]  # junction 0 is the station
    buildings: list[_Building] = []
    count = 2
    while count < n_nodes:
        j = len(parent)
        if j == 1 or rng.random() < 0.65:
            parent.append(j - 1)
        else:
            parent.append(int(rng.integers(0, j)))
        count += 2
        if rng.random() < 0.75 and count < n_nodes:
            n_e = int(rng.integers(1, 7))
            n_e = max(1, min(n_e, (n_nodes - count - 2) // 2))
            buildings.append(_Building(j, n_e, int(rng.integers(4, 19))))
            count += 2 + 2 * n_e
    if not buildings:
        buildings.append(_Building(len(parent) - 1, 1, int(rng.integers(4, 19))))
    return parent, buildings


def generate_network(
    n_nodes: int = 200,
    seed: int = 0,
    *,
    with_households: bool = False,
    loop_fraction: float = 0.03,
    name: str | None = None,
) -> Network:
    """A realistic secondary network of about ``n_nodes`` nodes (supply + return).

    Parameters
    ----------
    n_nodes : int
        Target node count of the network file (internal household nodes not counted).
    seed : int
        Seed of the random generator.
    with_households : bool
        Give every entrance its households (2–4 per floor) with household valves.
    loop_fraction : float
        Extra main pipes closing loops, as a fraction of the main junctions (at least one).
    """
    rng = np.random.default_rng(seed)
    parent, buildings = _layout(rng, max(n_nodes, 8))
    n_j = len(parent)
    elev = np.zeros(n_j)
    main_len = rng.uniform(20.0, 80.0, n_j)
    for j in range(1, n_j):
        elev[j] = elev[parent[j]] + rng.normal(0.0, 0.4)

    nodes: list[Node] = []
    for j in range(n_j):
        nodes += [Node(f"S{j}", round(elev[j], 3)), Node(f"R{j}", round(elev[j], 3))]
    entrances: list[Entrance] = []
    households: list[Household] = []
    pipes: list[Pipe] = []
    load = np.zeros(n_j)  # design flow carried by the main into each junction
    service: list[tuple[str, str, str, float, float]] = []  # id, from, to, length, flow

    for b_i, b in enumerate(buildings):
        bname = f"B{b_i}"
        z = round(elev[b.junction], 3)
        nodes += [Node(f"S{bname}", z), Node(f"R{bname}", z)]
        b_flow = 0.0
        for e_i in range(b.n_entrances):
            eid = f"{bname}E{e_i}"
            per_floor = int(rng.integers(2, 5))
            q_hh = rng.uniform(0.06, 0.12)
            g = b.floors * per_floor * q_hh
            nodes += [Node(f"S{eid}", z), Node(f"R{eid}", z)]
            internal_dp_m = rng.uniform(1.5, 3.0) + 0.12 * b.floors
            if with_households:
                internal_dp_m = 0.3 + 0.04 * b.floors
                g = 0.0
                for f in range(1, b.floors + 1):
                    for k in range(per_floor):
                        # Top-floor and gable households lose more heat: more design flow.
                        exposed = f == b.floors or k in (0, per_floor - 1)
                        g_h = round(q_hh * (1.25 if exposed else 1.0), 4)
                        g += g_h
                        hh_dp_m = rng.uniform(1.0, 2.0)
                        households.append(
                            Household(
                                id=f"{eid}F{f}H{k}",
                                entrance=eid,
                                s_m_per_m3h2=hh_dp_m / g_h**2,
                                valve=Valve(_kvs_m3h(g_h), 1.0, Characteristic.LINEAR),
                                floor=f,
                                design_flow_m3h=g_h,
                            )
                        )
            b_flow += g
            ch = Characteristic.EQUAL_PERCENTAGE if rng.random() < 0.8 else (Characteristic.LINEAR)
            entrances.append(
                Entrance(
                    id=eid,
                    building=bname,
                    supply_node=f"S{eid}",
                    return_node=f"R{eid}",
                    valve=Valve(_kvs_m3h(g), 1.0, ch),
                    internal_s_m_per_m3h2=internal_dp_m / g**2,
                    design_flow_m3h=round(g, 4),
                    floors=b.floors,
                )
            )
            service.append((eid, bname, eid, rng.uniform(2.0, 15.0), g))
        service.append((bname, f"J{b.junction}", bname, rng.uniform(5.0, 30.0), b_flow))
        load[b.junction] += b_flow
    for j in range(n_j - 1, 0, -1):
        load[parent[j]] += load[j]

    rough = rng.uniform(0.05, 0.2)

    def pipe_pair(pid: str, a: str, b: str, length: float, flow: float) -> None:
        d = _pipe_diameter_mm(flow)
        ln = round(length, 2)
        pipes.append(Pipe(f"S-{pid}", Side.SUPPLY, f"S{a}", f"S{b}", None, ln, d, rough))
        pipes.append(Pipe(f"R-{pid}", Side.RETURN, f"R{b}", f"R{a}", None, ln, d, rough))

    for j in range(1, n_j):
        pipe_pair(f"M{j}", str(parent[j]), str(j), main_len[j], load[j])
    for pid, up, down, length, flow in service:
        pipe_pair(pid, up.removeprefix("J"), down, length, flow)
    n_loops = max(1, int(round(loop_fraction * n_j))) if n_j > 4 else 0
    for i in range(n_loops):
        j_a = int(rng.integers(1, n_j - 3))
        j_b = min(n_j - 1, j_a + int(rng.integers(2, 15)))
        if parent[j_b] == j_a:
            continue
        flow = 0.5 * min(load[j_a], load[j_b]) + 0.1
        pipe_pair(f"L{i}", str(j_a), str(j_b), rng.uniform(40.0, 150.0), flow)

    measurements = [
        Measurement(MeasurementKind.PRESSURE, "S0"),
        Measurement(MeasurementKind.PRESSURE, "R0"),
    ]
    for e in entrances:
        measurements.append(Measurement(MeasurementKind.RETURN_TEMPERATURE, e.id))
        if rng.random() < 0.3:
            measurements.append(Measurement(MeasurementKind.FLOW, e.id))
        if rng.random() < 0.2:
            measurements += [
                Measurement(MeasurementKind.PRESSURE, e.supply_node),
                Measurement(MeasurementKind.PRESSURE, e.return_node),
            ]
    total = float(sum(e.design_flow_m3h or 0.0 for e in entrances))
    provisional = Pump((2.0 * total,), (200.0,), 1.0)
    station = Station("ST", "S0", "R0", provisional, 55.0, 40.0, 250.0)
    net = Network(
        name=name or f"generated-{n_nodes}-seed{seed}",
        station=station,
        nodes=tuple(nodes),
        pipes=tuple(pipes),
        entrances=tuple(entrances),
        households=tuple(households),
        measurements=tuple(measurements),
        meta={
            "generator": "host.models.hydraulics.generate",
            "seed": seed,
            "n_nodes": n_nodes,
            "with_households": with_households,
        },
    )
    head_d = _PUMP_HEAD_MARGIN * _required_head_m(net)
    # Shut-off 1.25·H, design point, run-out at twice the design flow (no hump: b < 0).
    pump = Pump(
        (0.0, round(total, 4), round(2.0 * total, 4)),
        (round(1.25 * head_d, 4), round(head_d, 4), round(0.3 * head_d, 4)),
        1.0,
    )
    return Network(
        name=net.name,
        station=Station("ST", "S0", "R0", pump, 55.0, 40.0, 250.0),
        nodes=net.nodes,
        pipes=net.pipes,
        entrances=net.entrances,
        households=net.households,
        measurements=net.measurements,
        meta=net.meta,
    )


def _required_head_m(net: Network) -> float:
    """Pump head that gives every entrance its design flow with every valve fully open."""
    flows = {e.id: e.design_flow_m3h or 0.0 for e in net.entrances}
    hh_flows = {h.id: h.design_flow_m3h or 0.0 for h in net.households}
    system = compile_network(net, entrance_flows_m3h=flows)
    res = solve_system(system, SolverOptions())
    available = available_head_m(net, system, res)
    pump = net.station.pump
    assert pump is not None
    pump_head = pump.head_m(sum(flows.values()))
    need = open_branch_head_m(net, flows, hh_flows)
    return float(max(pump_head - available[i] + need[e.id] for i, e in enumerate(net.entrances)))
