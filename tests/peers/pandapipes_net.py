"""pandapipes as a benchmark peer on open networks (the same network as EPANET gets).

pandapipes stops at 10 Newton iterations by default and then fails on networks above a few
thousand nodes, so its iteration limit is raised. It has no Dunlop transition zone; the
Swamee–Jain friction model is the closest to ours.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from host.models.hydraulics.units import G_M_S2
from host.models.hydraulics.water import density_kg_m3
from tests.peers.open import OpenNetwork

#: Newton iteration limit for pandapipes runs (its default is 10).
MAX_ITER = 100


def to_pandapipes(open_net: OpenNetwork):  # noqa: ANN201 - pandapipes is an untyped peer
    """A pandapipes net of ``open_net``: ext grids at the reservoirs, sinks and sources."""
    import pandapipes as pp

    sys = open_net.system
    t_k = open_net.temperature_c + 273.15
    rho = density_kg_m3(open_net.temperature_c)
    net = pp.create_empty_network(fluid="water")
    junctions = pp.create_junctions(
        net,
        sys.n_nodes,
        pn_bar=3.0,
        tfluid_k=t_k,
        height_m=open_net.elevation_m,
        name=list(sys.node_ids),
    )
    junctions = np.asarray(junctions)
    pp.create_pipes_from_parameters(
        net,
        junctions[sys.start],
        junctions[sys.end],
        length_km=open_net.length_m / 1000.0,
        inner_diameter_mm=open_net.diameter_m * 1000.0,
        k_mm=open_net.roughness_m * 1000.0,
        name=list(sys.link_ids),
    )
    for i in np.flatnonzero(np.isfinite(sys.fixed_head_m)):
        p_bar = (sys.fixed_head_m[i] - open_net.elevation_m[i]) * rho * G_M_S2 / 1e5
        pp.create_ext_grid(net, junctions[i], p_bar=p_bar, t_k=t_k)
    out = sys.demand_m3_s > 0.0
    inn = sys.demand_m3_s < 0.0
    if out.any():
        pp.create_sinks(net, junctions[out], mdot_kg_per_s=sys.demand_m3_s[out] * rho)
    if inn.any():
        pp.create_sources(net, junctions[inn], mdot_kg_per_s=-sys.demand_m3_s[inn] * rho)
    return net


@dataclass(frozen=True)
class PandapipesRun:
    """Flows (m³/s) per link, iterations, solve-only and end-to-end seconds."""

    flow_m3_s: np.ndarray
    n_iter: int
    solve_s: float
    total_s: float


def run_pandapipes(net, open_net: OpenNetwork) -> PandapipesRun:  # noqa: ANN001
    """pipeflow split into setup, Newton iterations (solve-only) and result extraction."""
    from pandapipes.pipeflow import execute_pipeflow, extract_all_results, init_pipeflow

    t0 = time.perf_counter()
    init_pipeflow(
        net,
        mode="hydraulics",
        friction_model="swamee-jain",
        max_iter_hyd=MAX_ITER,
        tol_p=1e-7,
        tol_m=1e-7,
    )
    t1 = time.perf_counter()
    execute_pipeflow(net)
    t2 = time.perf_counter()
    extract_all_results(net)
    t3 = time.perf_counter()
    rho = density_kg_m3(open_net.temperature_c)
    q = net.res_pipe["mdot_from_kg_per_s"].to_numpy(dtype=float) / rho
    n_iter = int(net["_internal_results"].get("iterations_hydraulics", -1))
    return PandapipesRun(q, n_iter, t2 - t1, t3 - t0)
