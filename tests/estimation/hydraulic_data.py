"""Synthetic measured conditions from the hydraulics package (its generator and solver).

Each condition moves the entrance valves to new random openings, so the flow distribution
changes between conditions (not just the total). True pipe S are lumped values (so the law is
exactly quadratic), drawn around the generator's nominal Darcy S.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from host.models.estimation.adapter import nominal_s
from host.models.estimation.conditions import Conditions
from host.models.hydraulics.generate import generate_network
from host.models.hydraulics.network import Network
from host.models.hydraulics.results import solve_network
from host.models.hydraulics.solver import SolverOptions

#: Tight tolerances: the estimator's exactness checks need heads to ~1e-12 m.
TIGHT = SolverOptions(head_tol_m=1e-11, flow_step_tol=1e-12)


def lumped_network(n_nodes: int, seed: int, spread: float = 0.0) -> tuple[Network, np.ndarray]:
    """A generated network with lumped S = nominal × U(1 − spread, 1 + spread)."""
    net = generate_network(n_nodes, seed=seed)
    rng = np.random.default_rng(seed + 1000)
    s = nominal_s(net) * rng.uniform(1 - spread, 1 + spread, len(net.pipes))
    pipes = tuple(
        dataclasses.replace(
            p, s_m_per_m3h2=float(v), length_m=None, diameter_mm=None, roughness_mm=None
        )
        for p, v in zip(net.pipes, s, strict=True)
    )
    return dataclasses.replace(net, pipes=pipes), s


def conditions_from_solver(
    net: Network,
    k_n: int,
    seed: int,
    heads_at: set[str] | None = None,
    opening_range: tuple[float, float] = (0.25, 1.0),
    *,
    record_openings: bool = False,
    constant_openings: bool = False,
    pump_speeds: list[float] | None = None,
) -> Conditions:
    """K solved conditions with random entrance openings; heads at ``heads_at`` (all).

    ``record_openings``: the conditions carry the openings (``opening``);
    ``constant_openings``: one set of openings for every condition (then only
    ``pump_speeds``, one per condition, change the flows: proportionally).
    """
    rng = np.random.default_rng(seed)
    sols = []
    used = []
    openings: dict[str, float] = {}
    for k in range(k_n):
        if not (constant_openings and openings):  # the same random stream as ever
            openings = {e.id: float(rng.uniform(*opening_range)) for e in net.entrances}
        case = net.with_openings(openings)
        if pump_speeds is not None:
            pump = dataclasses.replace(case.station.pump, speed_ratio=pump_speeds[k])
            case = dataclasses.replace(case, station=dataclasses.replace(case.station, pump=pump))
        sols.append(solve_network(case, TIGHT))
        used.append(openings)
    nodes = heads_at if heads_at is not None else {n.id for n in net.nodes}
    return Conditions(
        condition_ids=tuple(f"c{k}" for k in range(k_n)),
        timestamps=tuple(f"2026-11-20T{k % 24:02d}:00:00+00:00" for k in range(k_n)),
        head_m={
            n.id: np.array([s.node_head_m[i] for s in sols])
            for i, n in enumerate(net.nodes)
            if n.id in nodes
        },
        flow_m3h={
            e.id: np.array([s.entrance_flow_m3h[i] for s in sols])
            for i, e in enumerate(net.entrances)
        },
        opening=(
            {e.id: np.array([o[e.id] for o in used]) for e in net.entrances}
            if record_openings
            else {}
        ),
    )


def station_and_entrances(net: Network) -> set[str]:
    """The realistic sensor set: station supply/return and both sides of every entrance."""
    ids = {net.station.supply_node, net.station.return_node}
    for e in net.entrances:
        ids |= {e.supply_node, e.return_node}
    return ids
