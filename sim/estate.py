"""A seeded older residential estate: network file, households and their thermal parameters.

What makes it unbalanced, as in older Chinese estates (design brief 1):

- horizontal: one pump feeds a branched tree of mains sized for design flow; every entrance
  valve is open, so entrances near the station see far more differential pressure than the
  far ones and take far more than their design flow;
- vertical: inside an entrance every household branch was fitted alike (one S for the
  average flat, a little spread, upper floors a little more riser friction), while top-floor,
  gable and corner flats lose 25–60 % more heat: the same flow leaves them cold.

Radiators are sized at the design temperatures (``t_supply_design_c``/``t_return_design_c``
at ``t_out_design_c``) for the flat's design loss, of which exposed flats get only
``radiator_type_coverage`` of their extra loss (older blocks sized radiators by floor area).
Real radiators come from catalogue sizes and installers' rules of thumb, not from a heat-loss
calculation to the watt: with ``radiator_spread`` s > 0 each flat's rating is its sized value
times ``exp(s·z)``, z standard normal (lognormal, median 1: s = 0.1 puts two flats in three
within about ±10 % of their sized rating), drawn from its own stream
``np.random.default_rng([seed, 17])`` so that a spread changes no other draw.

Everything else comes from ``np.random.default_rng(seed)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from host.models.hydraulics.generate import _kvs_m3h, _pipe_diameter_mm, _required_head_m
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
from host.models.hydraulics.valves import Characteristic, Valve
from sim import household as hh
from sim import radiator
from sim.radiator import water_capacity_w_k

#: Design room temperature (°C).
T_ROOM_DESIGN_C = 20.0


@dataclass(frozen=True)
class EstateSpec:
    """Shape of the estate (ranges are inclusive [low, high])."""

    n_buildings: int = 2
    entrances_per_building: tuple[int, int] = (1, 3)
    floors: tuple[int, int] = (5, 7)
    households_per_floor: tuple[int, int] = (2, 2)
    area_m2: tuple[float, float] = (55.0, 95.0)
    main_length_m: tuple[float, float] = (30.0, 70.0)
    branch_probability: float = 0.3
    roughness_mm: float = 0.2
    t_out_design_c: float = -9.0
    t_supply_design_c: float = 60.0
    t_return_design_c: float = 45.0
    household_dp_m: float = 1.0
    riser_dp_m: float = 0.4
    household_s_spread: float = 0.15
    unheated_neighbour_share: float = 0.05
    pump_head_margin: float = 1.15
    radiator_margin: float = 1.0
    radiator_type_coverage: float = 1.0
    radiator_spread: float = (
        0.0  # sd of ln(rating / sized rating): catalogue sizes, rules of thumb
    )
    elevation_sd_m: float = 0.3

    def __post_init__(self) -> None:
        if not 0.0 <= self.radiator_spread <= 1.0:
            raise ValueError("radiator_spread must be within 0..1")


@dataclass(frozen=True)
class Estate:
    """The network and, aligned with ``network.households``, each flat's data."""

    network: Network
    household_type: tuple[str, ...]
    floor: np.ndarray  # (n_households,) 1 = ground floor
    area_m2: np.ndarray
    params: hh.HouseholdParams
    q_nominal_w: np.ndarray  # radiator rating at 75/65/20
    design_loss_w: np.ndarray
    spec: EstateSpec


def _household_type(
    f: int, floors: int, outer: bool, rng: np.random.Generator, share: float
) -> str:
    top = f == floors
    if top and outer:
        return "top_gable"
    if top:
        return "top"
    if outer:
        return "gable"
    if rng.random() < share:
        return "unheated_neighbours"
    return "ground" if f == 1 else "middle"


def build_estate(spec: EstateSpec, seed: int, name: str) -> Estate:
    """Build the estate of ``spec``; the same seed gives the same estate."""
    rng = np.random.default_rng(seed)
    nodes = [Node("S0", 0.0), Node("R0", 0.0)]
    pipes: list[Pipe] = []
    entrances: list[Entrance] = []
    households: list[Household] = []
    types: list[str] = []
    floors_of: list[int] = []
    areas: list[float] = []
    parent: list[int] = [-1]
    elev = [0.0]
    loads = [0.0]
    service: list[tuple[str, str, str, float, float]] = []
    for b in range(spec.n_buildings):
        j = len(parent)
        p = (
            j - 1
            if (j == 1 or rng.random() > spec.branch_probability)
            else int(rng.integers(0, j))
        )
        parent.append(p)
        elev.append(round(elev[p] + float(rng.normal(0.0, spec.elevation_sd_m)), 3))
        loads.append(0.0)
        nodes += [Node(f"S{j}", elev[j]), Node(f"R{j}", elev[j])]
        bname = f"B{b}"
        nodes += [Node(f"S{bname}", elev[j]), Node(f"R{bname}", elev[j])]
        n_e = int(rng.integers(spec.entrances_per_building[0], spec.entrances_per_building[1] + 1))
        n_f = int(rng.integers(spec.floors[0], spec.floors[1] + 1))
        per_floor = int(
            rng.integers(spec.households_per_floor[0], spec.households_per_floor[1] + 1)
        )
        for e_i in range(n_e):
            eid = f"{bname}E{e_i}"
            nodes += [Node(f"S{eid}", elev[j]), Node(f"R{eid}", elev[j])]
            for f in range(1, n_f + 1):
                for k in range(per_floor):
                    outer = (e_i == 0 and k == 0) or (e_i == n_e - 1 and k == per_floor - 1)
                    types.append(
                        _household_type(f, n_f, outer, rng, spec.unheated_neighbour_share)
                    )
                    floors_of.append(f)
                    areas.append(round(float(rng.uniform(*spec.area_m2)), 1))
                    households.append(Household(f"{eid}F{f}H{k}", eid, 1.0, None, f, None))
            entrances.append(
                Entrance(eid, bname, f"S{eid}", f"R{eid}", Valve(1.0), 1.0, None, n_f)
            )
            service.append((eid, bname, eid, float(rng.uniform(3.0, 12.0)), 0.0))
        service.append((bname, str(j), bname, float(rng.uniform(8.0, 25.0)), 0.0))

    area = np.array(areas)
    params = hh.typical_params(area, types, rng)
    loss = params.design_loss_w(T_ROOM_DESIGN_C, spec.t_out_design_c)
    # Older blocks sized radiators by floor area: they cover only part of the extra loss of
    # exposed (top, gable, corner) flats (radiator_type_coverage 0 = none, 1 = all of it).
    factor = np.array([hh.TYPE_LOSS_FACTOR[t] for t in types])
    sized_w = loss / factor * (1.0 + spec.radiator_type_coverage * (factor - 1.0))
    if spec.radiator_spread > 0:
        z = np.random.default_rng([seed, 17]).standard_normal(len(sized_w))
        sized_w = sized_w * np.exp(spec.radiator_spread * z)
    q_nom = radiator.nominal_for_design_w(
        sized_w * spec.radiator_margin,
        spec.t_supply_design_c,
        spec.t_return_design_c,
        T_ROOM_DESIGN_C,
    )
    dt_design_k = spec.t_supply_design_c - spec.t_return_design_c
    g_design = loss / (water_capacity_w_k(1.0) * dt_design_k)  # m³/h per household

    # Household branches: one S per entrance for its average flat, spread, riser friction.
    hh_list: list[Household] = []
    ent_list: list[Entrance] = []
    ent_flow: dict[str, float] = {}
    by_e: dict[str, list[int]] = {e.id: [] for e in entrances}
    for i, h in enumerate(households):
        by_e[h.entrance].append(i)
    for e in entrances:
        idx = np.array(by_e[e.id])
        g_mean = float(np.mean(g_design[idx]))
        kvs = _kvs_m3h(g_mean)
        for i in idx:
            h = households[i]
            f = floors_of[i]
            s = spec.household_dp_m / g_mean**2
            s *= 1.0 + 0.25 * (f - 1) / max(1, (e.floors or 1) - 1)
            s *= float(rng.uniform(1.0 - spec.household_s_spread, 1.0 + spec.household_s_spread))
            hh_list.append(
                Household(
                    h.id,
                    e.id,
                    round(s, 4),
                    Valve(kvs, 1.0, Characteristic.LINEAR),
                    f,
                    round(float(g_design[i]), 5),
                )
            )
        g_e = float(np.sum(g_design[idx]))
        ent_flow[e.id] = g_e
        ch = Characteristic.EQUAL_PERCENTAGE
        ent_list.append(
            Entrance(
                e.id,
                e.building,
                e.supply_node,
                e.return_node,
                Valve(_kvs_m3h(g_e), 1.0, ch),
                round(spec.riser_dp_m / g_e**2, 6),
                round(g_e, 4),
                e.floors,
            )
        )
    # Loads and pipes.
    b_flow: dict[str, float] = {}
    for e in ent_list:
        b_flow[e.building] = b_flow.get(e.building, 0.0) + (e.design_flow_m3h or 0.0)
    b_junction = {}
    for s_id, up, _, _, _ in service:
        if s_id.startswith("B") and "E" not in s_id:
            b_junction[s_id] = int(up)
    for bname, jn in b_junction.items():
        loads[jn] += b_flow[bname]
    for j in range(len(parent) - 1, 0, -1):
        loads[parent[j]] += loads[j]

    def pipe_pair(pid: str, a: str, b: str, length: float, flow: float) -> None:
        d = _pipe_diameter_mm(flow)
        ln = round(length, 2)
        r = spec.roughness_mm
        pipes.append(Pipe(f"S-{pid}", Side.SUPPLY, f"S{a}", f"S{b}", None, ln, d, r))
        pipes.append(Pipe(f"R-{pid}", Side.RETURN, f"R{b}", f"R{a}", None, ln, d, r))

    for j in range(1, len(parent)):
        pipe_pair(
            f"M{j}", str(parent[j]), str(j), float(rng.uniform(*spec.main_length_m)), loads[j]
        )
    for s_id, up, down, length, _ in service:
        flow = ent_flow[s_id] if s_id in ent_flow else b_flow[s_id]
        pipe_pair(s_id, up, down, length, flow)

    measurements = [
        Measurement(MeasurementKind.PRESSURE, "S0"),
        Measurement(MeasurementKind.PRESSURE, "R0"),
    ]
    for e in ent_list:
        measurements += [
            Measurement(MeasurementKind.RETURN_TEMPERATURE, e.id),
            Measurement(MeasurementKind.SUPPLY_TEMPERATURE, e.id),
            Measurement(MeasurementKind.PRESSURE, e.supply_node),
            Measurement(MeasurementKind.PRESSURE, e.return_node),
        ]
    total = float(sum(ent_flow.values()))
    station = Station(
        "ST",
        "S0",
        "R0",
        Pump((2.0 * total,), (200.0,), 1.0),
        spec.t_supply_design_c,
        spec.t_return_design_c,
        250.0,
    )
    meta = {"generator": "sim.estate", "seed": seed}
    net = Network(
        name,
        station,
        tuple(nodes),
        tuple(pipes),
        tuple(ent_list),
        tuple(hh_list),
        tuple(measurements),
        meta,
    )
    head_d = spec.pump_head_margin * _required_head_m(net)
    pump = Pump(
        (0.0, round(total, 4), round(2.0 * total, 4)),
        (round(1.25 * head_d, 4), round(head_d, 4), round(0.3 * head_d, 4)),
        1.0,
    )
    st = Station("ST", "S0", "R0", pump, spec.t_supply_design_c, spec.t_return_design_c, 250.0)
    net = Network(
        name, st, net.nodes, net.pipes, net.entrances, net.households, net.measurements, meta
    )
    return Estate(net, tuple(types), np.array(floors_of), area, params, q_nom, loss, spec)
