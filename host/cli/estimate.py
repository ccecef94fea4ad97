"""``evenheat estimate NETWORK CONDITIONS [--json OUT]``: pipe friction parameters from data.

Reads a network file (docs/network-format.md) and conditions, either a CSV (docs/estimation.md)
or the host's store (``--database URL --site S --from T0 --to T1``: steady periods with
distinct flow distributions, host/models/estimation/history.py), estimates S of every supply and
return pipe and prints a table: pipe or group, S in m/(m³/h)², 95 % interval, identifiable (or
why not). ``--json OUT`` also writes everything as JSON, atomically, and only after a
successful run; ``--write-conditions OUT.csv`` writes the conditions used, atomically, once
they are read and selected. Bad input (unknown node, missing timestamp, NaN, negative flow,
unknown site, a point never reported, …) is reported on stderr, exit code 1, and no file is
written. A progress bar goes to stderr on a terminal (or with ``--progress``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from host.cli.export import add_database_arguments, open_database
from host.models.estimation.adapter import catalog, estimate_network
from host.models.estimation.conditions import (
    Conditions,
    ConditionsError,
    load_conditions,
    write_conditions,
)
from host.models.estimation.entrances import ENTRANCE_MODES
from host.models.estimation.graph import GraphError
from host.models.estimation.report import estimate_to_dict, print_estimate
from host.models.estimation.selection import select_distinct, steady_conditions
from host.models.estimation.weighting import SensorModel
from host.reports.export import DEFAULT_TZ

if TYPE_CHECKING:
    from host.models.hydraulics.network import Network


def register(subparsers: Any) -> argparse.ArgumentParser:  # noqa: ANN401 - argparse's private type
    """Add the ``estimate`` subcommand to the host CLI."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "estimate",
        help="estimate pipe friction parameters from measured heads and flows",
        description="Estimate S of every pipe from K measured conditions (docs/estimation.md).",
    )
    p.add_argument("network", type=Path, help="network file (JSON)")
    p.add_argument(
        "conditions", type=Path, nargs="?", help="conditions CSV (or read the store: --database)"
    )
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
        "--entrances",
        choices=["auto", "off", *ENTRANCE_MODES],
        default="auto",
        help="use the entrance valves' openings (docs/estimation.md): auto = internal when "
        "the conditions give openings",
    )
    p.add_argument(
        "--select",
        action="store_true",
        help="treat rows as history: keep steady windows with distinct flow distributions",
    )
    p.add_argument("--window", type=int, default=3, help="samples per steady window")
    p.add_argument("--max-conditions", type=int, default=10)
    p.add_argument(
        "--write-conditions",
        type=Path,
        default=None,
        metavar="OUT.csv",
        help="write the conditions used (after selection) as a conditions CSV",
    )
    store = p.add_argument_group(
        "conditions from the host's store (instead of CONDITIONS.csv; always selected)"
    )
    add_database_arguments(p, required=False)
    store.add_argument("--site", help="the site (station network) whose boards are read")
    store.add_argument("--from", dest="start", help="ISO 8601 or epoch s")
    store.add_argument("--to", dest="end", help="ISO 8601 or epoch s")
    store.add_argument("--tz", default=DEFAULT_TZ, help=f"for times without offset ({DEFAULT_TZ})")
    store.add_argument(
        "--bin-s", type=int, default=None, help="time bin, s (default: the collection period)"
    )
    store.add_argument(
        "--min-conditions",
        type=int,
        default=1,
        help="refuse fewer steady, distinct conditions than this (default 1)",
    )
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


def _write_atomic(path: Path, write: Callable[[TextIO], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".estimate-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    def write(fh: TextIO) -> None:
        json.dump(data, fh, indent=1)
        fh.write("\n")

    _write_atomic(path, write)


def _store_conditions(args: argparse.Namespace, network: Network) -> Conditions:
    """Conditions from the store named by --database/--config (ValueError on bad input)."""
    from host.models.estimation.history import conditions_from_store  # noqa: PLC0415
    from host.reports.export import ExportError, parse_time  # noqa: PLC0415

    missing = [
        o for o, v in (("--site", args.site), ("--from", args.start), ("--to", args.end)) if not v
    ]
    if missing:
        raise ValueError(f"reading the store needs {', '.join(missing)}")
    try:
        start_s, end_s = parse_time(args.start, args.tz), parse_time(args.end, args.tz)
    except ExportError as exc:
        raise ValueError(str(exc)) from None
    storage = open_database(args)
    try:
        return conditions_from_store(
            storage,
            network,
            args.site,
            start_s,
            end_s,
            bin_s=args.bin_s,
            window=args.window,
            max_conditions=args.max_conditions,
            min_conditions=args.min_conditions,
        )
    finally:
        storage.close()


def run_estimate(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run the subcommand; 0 on success, 1 on bad input or a failed estimate."""
    out = out or sys.stdout
    err = err or sys.stderr
    from host.models.hydraulics.errors import HydraulicError  # noqa: PLC0415 - only this command
    from host.models.hydraulics.loader import load_network  # noqa: PLC0415

    from_store = args.database is not None or args.config is not None
    try:
        if from_store == (args.conditions is not None):
            raise ValueError("give either CONDITIONS.csv or --database/--config, exactly one")
        sensors = SensorModel(head_abs_m=args.head_error_m, flow_rel=args.flow_error)
        network = load_network(args.network)
        if from_store:
            conds = _store_conditions(args, network)
        else:
            conds = load_conditions(args.conditions, catalog(network))
        if args.select and not from_store:
            conds = steady_conditions(conds, window=args.window)
            if conds.n_conditions == 0:
                raise ValueError("no steady window in the history: lower --window")
            conds = conds.subset(select_distinct(conds, args.max_conditions))
        if args.write_conditions is not None:
            _write_atomic(args.write_conditions, lambda fh: write_conditions(fh, conds))
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
            entrances=args.entrances,
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
