"""``evenheat estimate NETWORK CONDITIONS [--json OUT]``: pipe friction parameters from data.

Reads a network file (docs/network-format.md) and a conditions CSV (docs/estimation.md),
estimates S of every supply and return pipe and prints a table: pipe or group, S in
m/(m³/h)², 95 % interval, identifiable (or why not). ``--json OUT`` also writes everything as
JSON, atomically, and only after a successful run. Bad input (unknown node, missing
timestamp, NaN, negative flow, …) is reported with its line on stderr, exit code 1, and no
file is written. A progress bar goes to stderr on a terminal (or with ``--progress``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from host.estimation.adapter import catalog, estimate_network
from host.estimation.conditions import ConditionsError, load_conditions
from host.estimation.graph import GraphError
from host.estimation.report import estimate_to_dict, print_estimate
from host.estimation.selection import select_distinct, steady_conditions
from host.estimation.weighting import SensorModel


def register(subparsers: Any) -> argparse.ArgumentParser:  # noqa: ANN401 - argparse's private type
    """Add the ``estimate`` subcommand to the host CLI."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "estimate",
        help="estimate pipe friction parameters from measured heads and flows",
        description="Estimate S of every pipe from K measured conditions (docs/estimation.md).",
    )
    p.add_argument("network", type=Path, help="network file (JSON)")
    p.add_argument("conditions", type=Path, help="conditions CSV")
    p.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="OUT",
        help="also write the full result as JSON to OUT",
    )
    p.add_argument("--method", choices=["auto", "full", "partial"], default="auto")
    p.add_argument(
        "--head-error-m",
        type=float,
        default=0.005,
        help="1σ error of a head reading, m (default 0.005)",
    )
    p.add_argument(
        "--flow-error",
        type=float,
        default=0.005,
        help="1σ relative error of a flow reading (default 0.005)",
    )
    p.add_argument("--no-robust", action="store_true", help="plain weighted least squares")
    p.add_argument(
        "--select",
        action="store_true",
        help="treat rows as history: keep steady windows with distinct flow distributions",
    )
    p.add_argument("--window", type=int, default=3, help="samples per steady window")
    p.add_argument("--max-conditions", type=int, default=10)
    p.add_argument("--progress", action="store_true", help="progress bar even off a terminal")
    p.set_defaults(func=run_estimate)
    return p


class ProgressBar:
    """A one-line progress bar on a stream; shown only after ``delay_s``."""

    def __init__(self, out: TextIO, enabled: bool, delay_s: float = 0.5) -> None:
        self.out = out
        self.enabled = enabled
        self.start = time.monotonic()
        self.delay_s = delay_s
        self.shown = False

    def __call__(self, fraction: float, stage: str) -> None:
        if not self.enabled or time.monotonic() - self.start < self.delay_s:
            return
        n = int(round(30 * min(max(fraction, 0.0), 1.0)))
        self.out.write(f"\r[{'#' * n}{'.' * (30 - n)}] {100 * fraction:5.1f} % {stage[:40]:<40}")
        self.out.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.out.write("\n")
            self.out.flush()


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".estimate-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_estimate(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run the subcommand; 0 on success, 1 on bad input or a failed estimate."""
    out = out or sys.stdout
    err = err or sys.stderr
    from host.hydraulics.errors import HydraulicError  # noqa: PLC0415 - only this command
    from host.hydraulics.loader import load_network  # noqa: PLC0415

    try:
        sensors = SensorModel(head_abs_m=args.head_error_m, flow_rel=args.flow_error)
        network = load_network(args.network)
        conds = load_conditions(args.conditions, catalog(network))
        if args.select:
            conds = steady_conditions(conds, window=args.window)
            if conds.n_conditions == 0:
                raise ValueError("no steady window in the history: lower --window")
            conds = conds.subset(select_distinct(conds, args.max_conditions))
    except (HydraulicError, ConditionsError, ValueError, OSError) as exc:
        err.write(f"Error: {exc}\n")
        return 1
    bar = ProgressBar(err, enabled=args.progress or err.isatty())
    try:
        est = estimate_network(
            network,
            conds,
            sensors,
            method=args.method,
            robust=not args.no_robust,
            progress=bar,
        )
    except (GraphError, ValueError, HydraulicError) as exc:
        bar.close()
        err.write(f"Error: {exc}\n")
        return 1
    bar.close()
    print_estimate(est, out)
    if args.json is not None:
        try:
            _write_json_atomic(args.json, estimate_to_dict(est))
        except OSError as exc:
            err.write(f"Error: cannot write {args.json}: {exc}\n")
            return 1
    return 0 if est.success else 1
