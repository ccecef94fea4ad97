"""Balancing against its limit: the project's full stack, local PI alone and return
equalisation alone, each measured against the best operation perfect knowledge allows.

Per scenario (default: compact, whose exposed flats have undersized radiators, and sized,
whose radiators were sized to each flat), on the same simulated days of its weather (cold and
mild days, so the weather changes), in process with the real board program:

- ``limit``: sim.limit, the openings and lowest pump speed that give every flat its steady
  need at 20 degC, re-planned hourly from the simulator's truth;
- ``local``: boards holding their fixed return targets, the pump as the operator left it;
- ``return``: return-temperature equalisation with the fixed household-type offsets;
- ``full``: room mode (estimated rooms, learned offsets) with the station strategies (pump
  follows the valves, supply on the weather curve with its offset trimmed by the coldest
  rooms: host.control.strategy.station);
- ``model``: ``full`` with model-based balancing: host.control.strategy.feed_forward's plan
  (every valve's opening and the lowest pump speed for the flats' design flows, from the
  network file and its identified friction) sent first as feed-forward, the pump started
  from the plan's speed; then the same loops trim. The friction is taken as identified
  exactly (the pipes' own S, standard error 2 %: what the estimator gives on noise-free
  conditions, tests/strategy/test_feed_forward.py). No target moves for the hour the
  valves take to get there; then every valve's offset is seeded from its return measured
  at the plan, so equalisation holds the planned flows and room learning trims them;
- ``model-as-found``: the same plan sent with the decision's targets, the offsets as found
  (the loops then trim towards the as-found return targets).

Printed per run, over the run after its first 6 hours: pump electricity and heat, and their
ratio to the limit's (targets: pump <= 1.2, heat <= 1.01), the share of household-hours below
18 degC (target 0), degree-hours above 22 degC, and the hours from the as-found state until
no flat is below 18 degC again ("never" if that does not happen).

    .venv/bin/python bench/balancing.py [--days 4] [--scenarios compact,sized] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from host.control.strategy.station import HeatingCurve, StationStrategySettings  # noqa: E402
from sim import runner  # noqa: E402
from sim.limit import run_limit  # noqa: E402
from sim.room_strategy import RoomLedStrategy, exact_feed_forward, links_of  # noqa: E402
from sim.scenario import build_scenario, scenario_path  # noqa: E402

WARMUP_S = 6 * 3600.0
MODES = ("limit", "local", "return", "full", "model", "model-as-found")


def station_curve(scn: runner.Scenario) -> HeatingCurve:
    """The heating curve the station runs as found (its design curve and offset)."""
    st = scn.station
    base = HeatingCurve.from_design(st.t_out_design_c, st.t_supply_design_c, st.t_return_design_c)
    return HeatingCurve(tuple((x, y + st.supply_offset_c) for x, y in base.points))


def hours_to_comfort(time_s: np.ndarray, t_room_c: np.ndarray, floor_c: float = 18.0) -> float:
    """Hours until no flat is below ``floor_c`` for the rest of the run (inf if never)."""
    cold = np.min(t_room_c, axis=1) < floor_c
    if cold[-1]:
        return float("inf")
    last = np.flatnonzero(cold)
    return 0.0 if len(last) == 0 else float(time_s[last[-1] + 1] / 3600.0)


def one(name: str, mode: str, days: float) -> dict:
    doc = json.loads(scenario_path(name).read_text())
    doc["control"] = "local"
    scn = build_scenario(doc, days=days)
    t0 = time.perf_counter()
    extra: dict = {}
    if mode == "limit":
        res, unreachable = run_limit(scn, warmup_s=WARMUP_S)
        extra["limit_short_plans"] = unreachable
    elif mode == "local":
        res = runner.run(scn, record_every_s=900.0, warmup_s=WARMUP_S)
    else:
        kw: dict = {}
        if mode != "return":
            kw = {
                "station": StationStrategySettings(
                    speed_min=scn.station.speed_min, speed_max=scn.station.speed_max
                ),
                "curve": station_curve(scn),
                "pump_speed0": scn.station.speed(float(scn.weather.at(0.0))),
            }
        if mode.startswith("model"):
            ff, speed = exact_feed_forward(scn)
            kw["feed_forward_pct"] = ff
            kw["seed_from_plan"] = mode == "model"
            kw["pump_speed0"] = speed
            extra["plan_speed"] = speed
        strategy = RoomLedStrategy(
            links_of(scn),
            runner.TYPE_OFFSET_C,
            mode="return" if mode == "return" else "room",
            **kw,
        )
        res = runner.run(scn, strategy=strategy, record_every_s=900.0, warmup_s=WARMUP_S)
        if mode != "return":
            reasons: dict[str, int] = {}
            for d in strategy.station_log:
                for r in (d.pump_reason, d.supply_reason):
                    reasons[r] = reasons.get(r, 0) + 1
            extra["station_reasons"] = reasons
            extra["offset_end_c"] = strategy.station_state.offset_c
    m = res.metrics
    s = res.series
    return {
        "scenario": name,
        "mode": mode,
        "wall_s": time.perf_counter() - t0,
        "pump_kwh": float(m["pump_electricity_kwh"]),
        "heat_mwh": float(m["heat_station_mwh"]),
        "cold_share": float(m["share_hours_below_18"]),
        "over22_kh": float(m["degree_hours_over_22_kh"]),
        "comfort_h": hours_to_comfort(s.time_s, s.t_room_c),
        "speed_mean": float(m["pump_speed_mean"]),
        "supply_mean_c": float(np.mean(s.t_supply_station_c)),
        **extra,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=4.0)
    ap.add_argument("--scenarios", default="compact,sized")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    jobs = [(n, m, args.days) for n in args.scenarios.split(",") for m in args.modes.split(",")]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(one, *zip(*jobs, strict=True)))
    limits = {r["scenario"]: r for r in rows if r["mode"] == "limit"}
    print(f"{args.days:g} days; figures after the first {WARMUP_S / 3600:.0f} h\n")
    print(
        "| scenario | mode | pump kWh | pump / limit | heat MWh | heat / limit "
        "| h-hours < 18 degC | K·h > 22 degC | hours to comfort | mean speed | mean supply |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        lim = limits.get(r["scenario"])
        pr = f"{r['pump_kwh'] / lim['pump_kwh']:.2f}" if lim else "—"
        hr = f"{r['heat_mwh'] / lim['heat_mwh']:.3f}" if lim else "—"
        comfort = "never" if np.isinf(r["comfort_h"]) else f"{r['comfort_h']:.1f}"
        print(
            f"| {r['scenario']} | {r['mode']} | {r['pump_kwh']:.0f} | {pr} | {r['heat_mwh']:.1f}"
            f" | {hr} | {100 * r['cold_share']:.2f} % | {r['over22_kh']:.0f} | {comfort}"
            f" | {r['speed_mean']:.2f} | {r['supply_mean_c']:.1f} |"
        )
    print(json.dumps(rows, default=str))


if __name__ == "__main__":
    main()
