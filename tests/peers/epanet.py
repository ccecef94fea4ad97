"""EPANET through WNTR as an oracle and a benchmark peer for open networks.

EPANET's default ACCURACY leaves flows up to 0.35 % off on large networks; we set
ACCURACY 1e-5 (its floor) and a HEADERROR limit so that it converges to about 1e-4 relative
flow and 1 mm head. Its DW friction factor is the same Swamee–Jain / Dunlop / laminar law as
:mod:`host.models.hydraulics.friction`; build the open variant with ``EPANET_GRAVITY_M_S2``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.peers.open import EPANET_VISCOSITY_M2_S, OpenNetwork

#: EPANET HEADERROR limit (m) used for oracle runs.
HEAD_ERROR_M = 1e-6
#: EPANET ACCURACY (relative flow change); EPANET does not go below 1e-5.
ACCURACY = 1e-5


def to_wntr(open_net: OpenNetwork):  # noqa: ANN201 - wntr is an optional, untyped peer
    """A WNTR WaterNetworkModel of ``open_net`` (Darcy–Weisbach, SI units)."""
    import wntr

    sys = open_net.system
    wn = wntr.network.WaterNetworkModel()
    opts = wn.options.hydraulic
    opts.headloss = "D-W"
    opts.inpfile_units = "CMH"
    opts.accuracy = ACCURACY
    opts.headerror = HEAD_ERROR_M
    opts.trials = 1000
    opts.viscosity = open_net.viscosity_m2_s / EPANET_VISCOSITY_M2_S
    wn.options.time.duration = 0
    for i, nid in enumerate(sys.node_ids):
        if np.isfinite(sys.fixed_head_m[i]):
            wn.add_reservoir(nid, base_head=float(sys.fixed_head_m[i]))
        else:
            wn.add_junction(
                nid,
                base_demand=float(sys.demand_m3_s[i]),
                elevation=float(open_net.elevation_m[i]),
            )
    for k, lid in enumerate(sys.link_ids):
        wn.add_pipe(
            lid,
            sys.node_ids[sys.start[k]],
            sys.node_ids[sys.end[k]],
            length=float(open_net.length_m[k]),
            diameter=float(open_net.diameter_m[k]),
            roughness=float(open_net.roughness_m[k]),
            minor_loss=0.0,
        )
    return wn


@dataclass(frozen=True)
class EpanetRun:
    """Flows (m³/s) per link and heads (m) per node in our system order, plus timings."""

    flow_m3_s: np.ndarray
    head_m: np.ndarray
    total_s: float


def run_wntr(wn, open_net: OpenNetwork, workdir: Path) -> EpanetRun:  # noqa: ANN001
    """Whole WNTR round trip: write the .inp, run EPANET, read the results back."""
    import wntr

    t0 = time.perf_counter()
    sim = wntr.sim.EpanetSimulator(wn)
    res = sim.run_sim(file_prefix=str(workdir / "epanet"), version=2.2)
    total = time.perf_counter() - t0
    sys = open_net.system
    q = res.link["flowrate"].iloc[0].reindex(list(sys.link_ids)).to_numpy(dtype=float)
    h = res.node["head"].iloc[0].reindex(list(sys.node_ids)).to_numpy(dtype=float)
    return EpanetRun(q, h, total)


def epanet_solve_seconds(inp_file: Path, workdir: Path) -> tuple[float, int]:
    """Time EPANET's C hydraulic solver alone (ENopenH + ENinitH + ENrunH) on an .inp file.

    Returns (seconds, trials). Reading the file happens before the clock starts.
    """
    from wntr.epanet import toolkit

    en = toolkit.ENepanet(version=2.2)
    en.ENopen(str(inp_file), str(workdir / "epanet.rpt"), str(workdir / "epanet.bin"))
    try:
        t0 = time.perf_counter()
        en.ENopenH()
        en.ENinitH(0)
        en.ENrunH()
        elapsed = time.perf_counter() - t0
        trials = _iterations(en)
        en.ENcloseH()
    finally:
        en.ENclose()
    return elapsed, trials


def _iterations(en) -> int:  # noqa: ANN001
    """EPANET's trial count of the last solve (EN_ITERATIONS = 0), -1 if unavailable."""
    import ctypes

    value = ctypes.c_double()
    try:
        code = en.ENlib.EN_getstatistic(en._project, 0, ctypes.byref(value))
    except AttributeError:
        return -1
    return int(value.value) if code == 0 else -1
