"""``evenheat sim --scenario NAME [--days N] [--seed S] [--control C] [--out DIR]``: run a
scenario in process and print the summary metrics.

With ``--out`` it also writes ``summary.json`` and the time series (``series.npz``: every room
temperature, return temperature, opening and flow every 10 minutes). Exit 0 on success, 1 with
"Error: …" on stderr for a scenario that cannot be used.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from host.models.hydraulics.errors import HydraulicError
from sim.scenario import CONTROLS, ScenarioError, load_scenario
from sim.weather import WeatherError


def register(subparsers: Any) -> argparse.ArgumentParser:  # noqa: ANN401 - argparse's type
    """Add the ``sim`` subcommand to the host CLI."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sim",
        help="run the digital twin on a scenario and print the summary",
        description="Run a scenario (sim/scenarios/NAME.json or a path) in process.",
    )
    parser.add_argument("--scenario", required=True, help="scenario name or JSON file")
    parser.add_argument("--days", type=float, default=None, help="simulated days")
    parser.add_argument("--seed", type=int, default=None, help="seed (default: the file's)")
    parser.add_argument(
        "--control",
        choices=CONTROLS,
        default=None,
        help="none: valves as found; local: boards with fixed targets; "
        "equalise: boards plus the equalising host strategy",
    )
    parser.add_argument("--out", type=Path, default=None, help="write summary and series here")
    parser.set_defaults(func=run_sim)
    return parser


_LINES = (
    ("entrance return spread (max-min of means)", "entrance_return_spread_c", "{:.2f} K"),
    ("entrance return standard deviation", "entrance_return_sd_c", "{:.2f} K"),
    ("room temperature p5 / p50 / p95", None, None),
    ("households below 18 °C (mean)", "share_below_18", "{:.1%}"),
    ("household-hours below 18 °C", "share_hours_below_18", "{:.1%}"),
    ("households above 22 °C (mean)", "share_above_22", "{:.1%}"),
    ("degree-hours under 18 °C", "degree_hours_under_18_kh", "{:.0f} K·h"),
    ("degree-hours over 22 °C", "degree_hours_over_22_kh", "{:.0f} K·h"),
    ("window open (share of time)", "window_open_share", "{:.2%}"),
    ("heat sent by the station", "heat_station_mwh", "{:.2f} MWh"),
    ("heat lost through open windows", "heat_windows_mwh", "{:.2f} MWh"),
    ("heat lost by the mains", "heat_mains_loss_mwh", "{:.2f} MWh"),
    ("pump electricity", "pump_electricity_kwh", "{:.1f} kWh"),
    ("pump flow (mean)", "pump_flow_mean_m3h", "{:.1f} m3/h"),
    ("pump speed ratio (mean)", "pump_speed_mean", "{:.2f}"),
    ("energy balance, flats (relative)", "flats_residual_rel", "{:.1e}"),
    ("energy balance, network (relative)", "network_residual_rel", "{:.1e}"),
)


def print_summary(s: dict[str, Any], out: TextIO) -> None:
    """The summary as aligned text."""
    print(
        f"scenario {s['scenario']} seed {s['seed']}: {s['days']:g} days, control "
        f"{s['control']}, {s['steps']} steps in {s['wall_s']:.1f} s "
        f"({s['steps_per_s']:.0f} steps/s); metrics over the last {s['window_h']:.0f} h",
        file=out,
    )
    for label, key, fmt in _LINES:
        if key is None or fmt is None:
            value = f"{s['room_p5_c']:.1f} / {s['room_p50_c']:.1f} / {s['room_p95_c']:.1f} °C"
        else:
            value = fmt.format(s[key])
        print(f"  {label:<44} {value}", file=out)


def run_sim(args: argparse.Namespace) -> int:
    """Handler of ``evenheat sim``."""
    from sim.runner import run

    try:
        scn = load_scenario(args.scenario, args.seed, args.days)
        if args.control is not None:
            scn = replace(scn, control=args.control)
        result = run(scn)
    except (ScenarioError, WeatherError, HydraulicError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    summary = result.summary()
    print_summary(summary, sys.stdout)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
        result.series.save(args.out / "series.npz")
    return 0
