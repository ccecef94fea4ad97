"""Room temperatures: the host's estimates against the simulator's truth, and room-led
balancing against return-led balancing on the same days.

For each scenario (default: compact and sized, a week of their weather with cold and mild
days) and each share of sensed households (10 % and 5 %, chosen as an installer would by
sim.room_sensors), two in-process runs with the real board program: the host hook
(sim.room_strategy.RoomLedStrategy) in room mode and in return mode, both estimating every
household's room from the boards' telemetry as the host does (host.models.rooms).

Printed per run: the error of the unsensored households' estimates against truth over the
days after the first (max, RMS, share within ±1 °C, the share of honest 95 % intervals,
i.e. |error| <= 1.96 se), and the outcome: share of household-hours below 18 °C,
degree-hours above 22 °C, heat and pump electricity. The peer is return mode on the same
days: the ratio room/return is printed for each outcome.

    .venv/bin/python bench/rooms.py [--days 7] [--scenarios compact,sized] [--shares 0.1,0.05]
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

from sim import runner  # noqa: E402
from sim.room_strategy import RoomLedStrategy, links_of  # noqa: E402
from sim.scenario import build_scenario, scenario_path  # noqa: E402

OUTCOMES = (
    "share_hours_below_18",
    "degree_hours_under_18_kh",
    "degree_hours_over_22_kh",
    "heat_station_mwh",
    "pump_electricity_kwh",
)


def one(name: str, share: float, mode: str, days: float) -> dict:
    doc = json.loads(scenario_path(name).read_text())
    doc.setdefault("rooms", {})["share"] = share
    doc["control"] = "local"
    scn = build_scenario(doc, days=days)
    strategy = RoomLedStrategy(links_of(scn), runner.TYPE_OFFSET_C, mode=mode)
    t0 = time.perf_counter()
    res = runner.run(scn, strategy=strategy, record_every_s=900.0)
    wall = time.perf_counter() - t0
    truth_t = res.series.time_s
    unsensed = res.unsensed()
    errs, inside = [], []
    for now_s, est in strategy.log:
        if est is None or now_s - runner.EPOCH_S < 86400.0:
            continue
        k = int(np.argmin(np.abs(truth_t - (now_s - runner.EPOCH_S))))
        truth = res.series.t_room_c[k]
        e = est.t_room_c[unsensed] - truth[unsensed]
        ok = np.isfinite(e)
        errs.append(e[ok])
        inside.append(np.abs(e[ok]) <= 1.96 * est.se_c[unsensed][ok])
    err = np.concatenate(errs) if errs else np.array([np.nan])
    honest = np.concatenate(inside) if inside else np.array([np.nan])
    return {
        "scenario": name,
        "share": share,
        "mode": mode,
        "sensed": int(len(res.room_households)),
        "households": int(res.series.t_room_c.shape[1]),
        "max_c": float(np.max(np.abs(err))),
        "rms_c": float(np.sqrt(np.mean(err**2))),
        "within_1c": float(np.mean(np.abs(err) <= 1.0)),
        "honest_95": float(np.mean(honest)),
        "wall_s": wall,
        **{k: float(res.metrics[k]) for k in OUTCOMES},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--scenarios", default="compact,sized")
    ap.add_argument("--shares", default="0.1,0.05")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--modes", default="room,return", help="room,return (the peer) or one")
    args = ap.parse_args()
    jobs = [
        (name, float(share), mode, args.days)
        for name in args.scenarios.split(",")
        for share in args.shares.split(",")
        for mode in args.modes.split(",")
    ]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(one, *zip(*jobs, strict=True)))
    print(
        f"{'scenario':8} {'share':>5} {'mode':6} {'sensed':>6} {'max':>5} {'rms':>5} "
        f"{'<=1C':>5} {'hon95':>5} {'cold_h':>6} {'over22':>7} {'heat':>6} {'pump':>6}"
    )
    for r in rows:
        print(
            f"{r['scenario']:8} {r['share']:5.2f} {r['mode']:6} {r['sensed']:6d} "
            f"{r['max_c']:5.2f} {r['rms_c']:5.2f} {r['within_1c']:5.3f} {r['honest_95']:5.3f} "
            f"{r['share_hours_below_18']:6.3f} {r['degree_hours_over_22_kh']:7.0f} "
            f"{r['heat_station_mwh']:6.1f} {r['pump_electricity_kwh']:6.0f}"
        )
    print("\nroom mode / return mode on the same days:")
    by = {(r["scenario"], r["share"], r["mode"]): r for r in rows}
    for name, share, mode, _ in jobs:
        if mode != "room" or (name, share, "return") not in by:
            continue
        a, b = by[(name, share, "room")], by[(name, share, "return")]
        ratios = ", ".join(
            f"{k} {a[k]:.3g}/{b[k]:.3g}" + (f" = {a[k] / b[k]:.2f}" if b[k] else "")
            for k in OUTCOMES
        )
        print(f"  {name} {share:.2f}: {ratios}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
