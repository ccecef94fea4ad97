"""``evenheat solve NETWORK.json [--json OUT]``: solve a network file and print a summary.

The host CLI calls :func:`register` with its ``add_subparsers()`` object. Exit codes follow
click: 0 solved, 1 the network cannot be solved (file problems, named hydraulic errors or no
convergence), with "Error: …" on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from host.models.hydraulics.errors import HydraulicError
from host.models.hydraulics.loader import load_network
from host.models.hydraulics.results import NetworkSolution, solve_network


def register(subparsers: Any) -> argparse.ArgumentParser:  # noqa: ANN401 - argparse's private type
    """Add the ``solve`` subcommand to the host CLI."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "solve",
        help="solve the steady state of a network file",
        description="Solve the closed loop of a network file (docs/network-format.md).",
    )
    parser.add_argument("network", type=Path, help="network file (JSON)")
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="OUT",
        help="also write the full solution as JSON to OUT",
    )
    parser.set_defaults(func=run_solve)
    return parser


def solution_to_dict(sol: NetworkSolution) -> dict[str, Any]:
    """The solution as plain JSON-ready data (units in the keys)."""
    net = sol.network
    return {
        "network": net.name,
        "success": sol.success,
        "status": sol.solve.status.name.lower(),
        "message": sol.solve.message,
        "iterations": sol.n_iter,
        "residual_head_m": sol.residual_head_m,
        "pump": {
            "flow_m3h": sol.pump_flow_m3h,
            "head_m": sol.pump_head_m,
            "speed_ratio": net.station.pump.speed_ratio if net.station.pump else None,
        },
        "entrances": {
            e.id: {"flow_m3h": float(g), "dp_kpa": float(dp)}
            for e, g, dp in zip(
                net.entrances, sol.entrance_flow_m3h, sol.entrance_dp_kpa, strict=True
            )
        },
        "households": {
            h.id: {"flow_m3h": float(g)}
            for h, g in zip(net.households, sol.household_flow_m3h, strict=True)
        },
        "pipes": {
            p.id: {"flow_m3h": float(g)} for p, g in zip(net.pipes, sol.pipe_flow_m3h, strict=True)
        },
        "nodes": {
            n.id: {"head_m": float(h), "pressure_kpa": float(p)}
            for n, h, p in zip(net.nodes, sol.node_head_m, sol.node_pressure_kpa, strict=True)
        },
    }


def print_summary(sol: NetworkSolution, out: TextIO) -> None:
    """Human-readable summary: convergence, pump operating point, every entrance."""
    net = sol.network
    state = "converged" if sol.success else "NOT converged"
    out.write(
        f"{net.name}: {state} in {sol.n_iter} iterations, residual {sol.residual_head_m:.2e} m\n"
    )
    speed = net.station.pump.speed_ratio if net.station.pump else float("nan")
    out.write(
        f"pump: {sol.pump_flow_m3h:.3f} m3/h at {sol.pump_head_m:.3f} m (speed ratio {speed:g})\n"
    )
    out.write(f"{'entrance':<16} {'flow m3/h':>10} {'dp kPa':>9}\n")
    for e, g, dp in zip(net.entrances, sol.entrance_flow_m3h, sol.entrance_dp_kpa, strict=True):
        out.write(f"{e.id:<16} {g:>10.3f} {dp:>9.2f}\n")


def run_solve(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Handler of ``evenheat solve``; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        sol = solve_network(load_network(args.network))
    except (HydraulicError, OSError) as exc:
        err.write(f"Error: {exc}\n")
        return 1
    print_summary(sol, out)
    if args.json is not None:
        args.json.write_text(json.dumps(solution_to_dict(sol), indent=1) + "\n", encoding="utf-8")
    if not sol.success:
        err.write(f"Error: {sol.solve.message}\n")
        return 1
    return 0
