"""Time-division with pre-heat: a night set-back, warm again on time?

The full stack (room mode and the station strategies, as bench/balancing.py's ``full``) on
the same simulated days, three ways:

- ``none``: no schedule (the peer every figure is compared with);
- ``preheat``: a night set-back of ``--setback-k`` from 22:00 to 06:00 local time every day,
  ended early by the pre-heat (1 h per K, at most 4 h: host.control.strategy.schedule);
- ``late``: the same set-back without pre-heat (it ends at 06:00 sharp).

Printed: heat and its saving against ``none``; the mean room and the share of flats below
18 degC over 06:00-09:00 local (when the set-back should be over), against ``none``'s.
Figures after the first day (as-found state settled).

    .venv/bin/python bench/preheat.py [--days 3] [--scenario compact] [--workers 2]
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

from bench.balancing import station_curve  # noqa: E402
from host.control.strategy import schedule as schedmod  # noqa: E402
from host.control.strategy.station import StationStrategySettings  # noqa: E402
from sim import runner  # noqa: E402
from sim.room_strategy import RoomLedStrategy, links_of  # noqa: E402
from sim.scenario import build_scenario, scenario_path  # noqa: E402
from sim.virtual_board import EPOCH_S  # noqa: E402

SKIP_S = 86400.0
UTC_OFFSET_H = 8.0


def one(name: str, variant: str, days: float, setback_k: float) -> dict:
    doc = json.loads(scenario_path(name).read_text())
    doc["control"] = "local"
    scn = build_scenario(doc, days=days)
    plan = None
    if variant != "none":
        periods = [
            {"days": list(range(7)), "start_h": 22, "end_h": 24, "shift_c": -setback_k},
            {"days": list(range(7)), "start_h": 0, "end_h": 6, "shift_c": -setback_k},
        ]
        max_h = 4.0 if variant == "preheat" else 0.0
        plan = schedmod.parse(periods, utc_offset_h=UTC_OFFSET_H, max_preheat_h=max_h)
    strategy = RoomLedStrategy(
        links_of(scn),
        runner.TYPE_OFFSET_C,
        mode="room",
        station=StationStrategySettings(
            speed_min=scn.station.speed_min, speed_max=scn.station.speed_max
        ),
        curve=station_curve(scn),
        pump_speed0=scn.station.speed(float(scn.weather.at(0.0))),
        schedule=plan,
    )
    t0 = time.perf_counter()
    res = runner.run(scn, strategy=strategy, record_every_s=900.0, warmup_s=SKIP_S)
    s = res.series
    local_h = ((EPOCH_S + s.time_s) / 3600.0 + UTC_OFFSET_H) % 24.0
    morning = (s.time_s >= SKIP_S) & (local_h >= 6.0) & (local_h < 9.0)
    rooms = s.t_room_c[morning]
    return {
        "variant": variant,
        "wall_s": time.perf_counter() - t0,
        "heat_mwh": float(res.metrics["heat_station_mwh"]),
        "morning_mean_c": float(np.mean(rooms)),
        "morning_cold_share": float(np.mean(rooms < 18.0)),
        "morning_min_c": float(np.min(rooms)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=3.0)
    ap.add_argument("--scenario", default="compact")
    ap.add_argument("--setback-k", type=float, default=3.0)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    variants = ("none", "preheat", "late")
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(
            pool.map(
                one,
                [args.scenario] * 3,
                variants,
                [args.days] * 3,
                [args.setback_k] * 3,
            )
        )
    peer = rows[0]
    print(
        f"{args.scenario}, {args.days:g} days, set-back {args.setback_k:g} K 22-06 local;"
        " after the first day\n"
    )
    print(
        "| variant | heat MWh | saved vs none | mean room 06-09 h | vs none "
        "| below 18 degC 06-09 h | coldest |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        saved = 1.0 - r["heat_mwh"] / peer["heat_mwh"]
        print(
            f"| {r['variant']} | {r['heat_mwh']:.2f} | {100 * saved:.1f} % "
            f"| {r['morning_mean_c']:.2f} | {r['morning_mean_c'] - peer['morning_mean_c']:+.2f} K"
            f" | {100 * r['morning_cold_share']:.1f} % | {r['morning_min_c']:.1f} |"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
