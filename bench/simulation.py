"""Benchmark: a 7-day heating week of the typical station in process, with a peer.

Main run: sim/scenarios/typical.json (about 60 entrances, 700 flats) for 7 days at 60 s plant
steps, with virtual boards running the real edge program on every entrance and the
equalising host strategy (``--control``), hydraulics warm-started (sim.flows: ordering
computed once, Newton from the last flows, no solve when nothing moved). Printed: wall time,
plant steps per second, real time / simulated time, hydraulic solves and iterations, and the
metrics.

Peer, in the same run: the openings the week actually produced (every 10 minutes of the
recorded series, 1,008 states) solved twice: warm-started as the plant does, and cold (compile,
order and start Newton from scratch every step, as a plain `solve_network` would). Printed:
time per solve of each, the ratio, and the largest flow difference between them.

Convergence, against the unbalanced run of the same scenario and seed (control ``none``, same
days): at 0, 6, 12, 24 h and every day after, the plant's true spread of entrance returns (the
largest |return - flow-weighted station mean|, and max - min), the share of households below
18 °C, the coldest and the mean room; then heat sent, pump electricity and the window metrics
over the whole run.

Run: .venv/bin/python bench/simulation.py [--days 7] [--control equalise]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.flows import NetworkFlows  # noqa: E402
from sim.metrics import convergence  # noqa: E402
from sim.runner import run  # noqa: E402
from sim.scenario import CONTROLS, load_scenario  # noqa: E402


def replay_s(
    flows: NetworkFlows, ent: np.ndarray, hh: np.ndarray, speed: np.ndarray, out: list[np.ndarray]
) -> float:
    """Seconds to solve every recorded state in order; household flows appended to out."""
    t0 = time.perf_counter()
    for k in range(len(ent)):
        out.append(flows.solve(ent[k], hh[k], float(speed[k])).household_flow_m3h)
    return time.perf_counter() - t0


def print_convergence(none_res, res, days: float) -> None:
    """The convergence table: unbalanced vs this run, instantaneous true values."""
    hours = [0.0, 6.0, 12.0] + [24.0 * d for d in range(1, int(days) + 1)]
    if days * 24.0 not in hours:
        hours.append(days * 24.0)
    a, b = convergence(none_res.series, tuple(hours)), convergence(res.series, tuple(hours))
    print("convergence (true values; spread = max |return - flow-weighted mean| / max - min):")
    print(
        f"  {'hour':>6} | {'unbalanced: spread K':>20} {'<18 °C':>7} {'min':>6} {'mean':>6} | "
        f"{res.control + ': spread K':>20} {'<18 °C':>7} {'min':>6} {'mean':>6}"
    )
    for x, y in zip(a, b, strict=True):
        print(
            f"  {y['hour']:6.1f} | {x['deviation_c']:9.2f} / {x['spread_c']:5.2f}    "
            f"{x['share_below_18']:7.1%} {x['room_min_c']:6.2f} {x['room_mean_c']:6.2f} | "
            f"{y['deviation_c']:9.2f} / {y['spread_c']:5.2f}    {y['share_below_18']:7.1%} "
            f"{y['room_min_c']:6.2f} {y['room_mean_c']:6.2f}"
        )
    sa, sb = none_res.summary(), res.summary()
    for key, label in (
        ("heat_station_mwh", "heat sent by the station, MWh"),
        ("pump_electricity_kwh", "pump electricity, kWh"),
        ("heat_windows_mwh", "heat lost through open windows, MWh"),
        ("degree_hours_under_18_kh", "degree-hours under 18 °C, K·h"),
        ("degree_hours_over_22_kh", "degree-hours over 22 °C, K·h"),
    ):
        change = (sb[key] / sa[key] - 1.0) if sa[key] else float("nan")
        print(f"  {label:<38} {sa[key]:10.2f} -> {sb[key]:10.2f} ({change:+.1%})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--control", choices=CONTROLS, default="equalise")
    parser.add_argument("--scenario", default="typical")
    args = parser.parse_args()
    scn = replace(load_scenario(args.scenario, days=args.days), control=args.control)
    net = scn.estate.network
    print(
        f"scenario {scn.name}: {len({e.building for e in net.entrances})} buildings, "
        f"{len(net.entrances)} entrances, {len(net.households)} households; "
        f"{args.days:g} days at {scn.dt_s:g} s steps, control {args.control}"
    )
    res = run(scn, warmup_s=0.0)
    s = res.summary()
    sim_s = args.days * 86400.0
    print(
        f"in-process run: wall {res.wall_s:.1f} s, {s['steps_per_s']:.0f} plant steps/s, "
        f"{sim_s / res.wall_s:.0f}x faster than real time; hydraulic solves "
        f"{res.hydraulic_solves} of {res.steps} steps, {res.hydraulic_iterations} Newton "
        f"iterations"
    )
    for key in (
        "entrance_return_spread_c",
        "share_below_18",
        "share_above_22",
        "heat_station_mwh",
        "pump_electricity_kwh",
        "flats_residual_rel",
        "network_residual_rel",
    ):
        print(f"  {key:<28} {s[key]:.4g}")
    none_res = run(replace(scn, control="none"), warmup_s=0.0)
    print_convergence(none_res, res, args.days)
    ser = res.series
    warm_out: list[np.ndarray] = []
    cold_out: list[np.ndarray] = []
    ent = ser.entrance_opening.astype(float)
    hh = ser.household_opening.astype(float)
    speed = ser.pump_speed
    warm = NetworkFlows(net)
    cold = NetworkFlows(net, cold=True)
    t_warm = replay_s(warm, ent, hh, speed, warm_out)
    t_cold = replay_s(cold, ent, hh, speed, cold_out)
    n = len(ent)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(warm_out, cold_out, strict=True))
    print(
        f"hydraulics replay of {n} recorded states: warm {t_warm / n * 1e3:.2f} ms/solve "
        f"({warm.iterations / max(warm.solves, 1):.1f} it), cold {t_cold / n * 1e3:.2f} "
        f"ms/solve ({cold.iterations / max(cold.solves, 1):.1f} it), ratio cold/warm "
        f"{t_cold / t_warm:.1f}; max household flow difference {diff:.1e} m3/h"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
