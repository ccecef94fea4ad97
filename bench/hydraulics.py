"""Benchmark: our steady-state solver against EPANET (WNTR) and pandapipes, in one run.

Every size gets one generated network (host.models.hydraulics.generate, seeded). All three solvers
solve the same open variant of it (reservoirs at the station supply and return nodes, the
entrances as demands, Darcy–Weisbach pipes), because that is the network all three can
express. Times are the best of ``--repeat`` runs:

- solve-only: ours = ordering + Newton (system arrays in memory); EPANET = ENopenH + ENinitH
  + ENrunH in the C library (input already read); pandapipes = its Newton loop
  (execute_pipeflow) after setup.
- end-to-end, network in memory to results: ours = compile our Network, solve, per-pipe
  flows and per-node heads by id; EPANET = WNTR's EpanetSimulator.run_sim (write .inp, run,
  read results) from a WaterNetworkModel in memory; pandapipes = pipeflow (setup, Newton,
  result tables) from a pandapipesNet in memory. Building the peers' models from ours is
  not counted.

Also printed: our closed-loop solve of the full network (pump, valves; ours only) and the
worst per-pipe flow difference to each peer.

Run: .venv/bin/python bench/hydraulics.py [--sizes 100,1000,5000,20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from host.models.hydraulics.generate import generate_network  # noqa: E402
from host.models.hydraulics.network import Network  # noqa: E402
from host.models.hydraulics.results import solve_network  # noqa: E402
from host.models.hydraulics.solver import prepare, solve_system  # noqa: E402
from tests.peers.open import EPANET_GRAVITY_M_S2, open_variant  # noqa: E402

T = TypeVar("T")
FLOW_FLOOR_M3_S = 1e-6


@dataclass
class Row:
    """One size of the benchmark."""

    nodes: int
    pipes: int
    ours_iter: int = 0
    ours_solve_s: float = float("nan")
    ours_e2e_s: float = float("nan")
    closed_iter: int = 0
    closed_s: float = float("nan")
    epanet_iter: int = -1
    epanet_solve_s: float = float("nan")
    epanet_e2e_s: float = float("nan")
    epanet_dq: float = float("nan")
    epanet_note: str = ""
    pp_iter: int = -1
    pp_solve_s: float = float("nan")
    pp_e2e_s: float = float("nan")
    pp_dq: float = float("nan")
    pp_note: str = ""


def best(fn: Callable[[], T], repeat: int) -> tuple[float, T]:
    """Smallest wall time of ``repeat`` calls, and the last result."""
    times = []
    out: T
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def worst_rel(a: np.ndarray, ref: np.ndarray) -> float:
    """Worst per-pipe relative flow difference (absolute below FLOW_FLOOR_M3_S)."""
    return float(np.max(np.abs(a - ref) / np.maximum(np.abs(ref), FLOW_FLOOR_M3_S)))


def ours_end_to_end(net: Network) -> dict[str, float]:
    """Network in memory → per-pipe flows and per-node heads, by id."""
    on = open_variant(net, gravity_m_s2=EPANET_GRAVITY_M_S2)
    res = solve_system(on.system)
    flows = dict(zip(on.system.link_ids, res.flow_m3_s.tolist(), strict=True))
    heads = dict(zip(on.system.node_ids, res.head_m.tolist(), strict=True))
    return flows | heads


def bench_size(n_nodes: int, seed: int, repeat: int) -> Row:
    """Run all three solvers on one generated network."""
    net = generate_network(n_nodes, seed=seed)
    on = open_variant(net, gravity_m_s2=EPANET_GRAVITY_M_S2)
    row = Row(len(net.nodes), len(net.pipes))

    def ours_solve():  # noqa: ANN202
        return solve_system(on.system, prepared=prepare(on.system))

    row.ours_solve_s, ours = best(ours_solve, repeat)
    assert ours.success, ours.message
    row.ours_iter = ours.n_iter
    row.ours_e2e_s, _ = best(lambda: ours_end_to_end(net), repeat)
    row.closed_s, closed = best(lambda: solve_network(net), repeat)
    row.closed_iter = closed.n_iter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _bench_epanet(row, on, ours.flow_m3_s, repeat)
        _bench_pandapipes(row, on, ours.flow_m3_s, repeat)
    return row


def _bench_epanet(row: Row, on, ours_q: np.ndarray, repeat: int) -> None:  # noqa: ANN001
    try:
        from tests.peers.epanet import epanet_solve_seconds, run_wntr, to_wntr

        wn = to_wntr(on)
        with tempfile.TemporaryDirectory() as d:
            work = Path(d)
            row.epanet_e2e_s, run = best(lambda: run_wntr(wn, on, work), repeat)
            solves = [epanet_solve_seconds(work / "epanet.inp", work) for _ in range(repeat)]
        row.epanet_solve_s = min(s for s, _ in solves)
        row.epanet_iter = solves[0][1]
        row.epanet_dq = worst_rel(ours_q, run.flow_m3_s)
    except Exception as exc:  # noqa: BLE001 - a failing peer is recorded, not fatal
        row.epanet_note = f"failed: {type(exc).__name__}: {exc}"[:120]


def _bench_pandapipes(row: Row, on, ours_q: np.ndarray, repeat: int) -> None:  # noqa: ANN001
    try:
        from tests.peers.pandapipes_net import run_pandapipes, to_pandapipes

        nets = [to_pandapipes(on) for _ in range(repeat)]
        runs = [run_pandapipes(n, on) for n in nets]
        row.pp_solve_s = min(r.solve_s for r in runs)
        row.pp_e2e_s = min(r.total_s for r in runs)
        row.pp_iter = runs[0].n_iter
        row.pp_dq = worst_rel(ours_q, runs[0].flow_m3_s)
    except Exception as exc:  # noqa: BLE001 - a failing peer is recorded, not fatal
        row.pp_note = f"failed: {type(exc).__name__}: {exc}"[:120]


def table(rows: list[Row]) -> str:
    """Markdown table of the rows."""
    head = (
        "| nodes | pipes | ours it | ours solve s | ours e2e s | closed loop it / s "
        "| EPANET it | EPANET solve s | EPANET e2e s | pandapipes it | pp solve s | pp e2e s "
        "| solve ours/EPANET | e2e EPANET/ours | e2e pp/ours | worst dQ vs EPANET | vs pp |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r.nodes} | {r.pipes} | {r.ours_iter} | {r.ours_solve_s:.4f} | "
            f"{r.ours_e2e_s:.4f} | {r.closed_iter} / {r.closed_s:.4f} | {r.epanet_iter} | "
            f"{r.epanet_solve_s:.4f} | {r.epanet_e2e_s:.4f} | {r.pp_iter} | {r.pp_solve_s:.4f} | "
            f"{r.pp_e2e_s:.4f} | {r.ours_solve_s / r.epanet_solve_s:.2f} | "
            f"{r.epanet_e2e_s / r.ours_e2e_s:.1f} | {r.pp_e2e_s / r.ours_e2e_s:.1f} | "
            f"{r.epanet_dq:.1e} | {r.pp_dq:.1e} |"
        )
    notes = [f"- {r.nodes} nodes: EPANET {r.epanet_note}" for r in rows if r.epanet_note]
    notes += [f"- {r.nodes} nodes: pandapipes {r.pp_note}" for r in rows if r.pp_note]
    return "\n".join(lines + ([""] + notes if notes else []))


def main(argv: list[str] | None = None) -> int:
    """Parse options, run every size, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="100,1000,5000,20000",
        help="comma-separated node counts (default: %(default)s)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="best of N (default: 3)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default: 1)")
    args = parser.parse_args(argv)
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        rows.append(bench_size(n, args.seed, args.repeat))
        print(f"done {n} nodes", file=sys.stderr, flush=True)
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
