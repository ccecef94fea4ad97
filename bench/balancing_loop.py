"""Benchmark: the closed loop over a real broker, against the unbalanced estate.

Main run: `evenheat run`'s parts in process (sim/demo.Demo): Mosquitto, the typical
station's 60 virtual boards (real board program and link, simulated hardware and plant), the
host service storing everything in SQLite and balancing every 30 simulated minutes, on an
accelerated clock. Peer, in the same run: the same scenario and seed unbalanced (every valve as
installed, no boards: sim.runner with control "none"). Printed per simulated hour for both:
the entrances' return-temperature spread (largest deviation from the flow-weighted mean, K)
and the share of flats below 18 degC (simulator truth); then the ratios at the end and the
wall time of the loop.

The clock is event-driven (sim.broker_run.BrokerPlant.settle): each step waits for the host to
store what the boards sent and for the boards to receive what it sent back, so the wall time is
what the work costs; `--speedup` adds pacing on top, as `evenheat run` does for people watching.

Run: .venv/bin/python bench/balancing_loop.py [--days 1] [--scenario typical] [--speedup 600]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.demo import Demo, truth  # noqa: E402
from sim.mosquitto import free_port  # noqa: E402
from sim.runner import run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--speedup", type=float, default=None, help="default: no pacing")
    parser.add_argument("--scenario", default="typical")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evenheat-bench-loop-"))
    demo = Demo(args.scenario, args.days, args.speedup, free_port(), None, work / "demo")
    demo.start()
    try:
        hours = demo.simulate(threading.Event())
        counts = demo.service.storage.fetch_one(
            "SELECT COUNT(*), SUM(CASE WHEN status = 'applied' THEN 1 ELSE 0 END) FROM desired"
        )
        runs = demo.service.storage.fetch_one("SELECT COUNT(DISTINCT run_id) FROM decisions")
    finally:
        demo.stop()
    peer = run(replace(demo.scn, control="none"), record_every_s=3600.0)
    s = peer.series
    base = [
        truth(s.t_return_entrance_c[k], s.entrance_flow_m3h[k], s.t_room_c[k])
        for k in range(len(s.time_s))
    ]
    print(
        f"{args.scenario}: {len(demo.scn.estate.network.entrances)} entrances, "
        f"{len(demo.scn.estate.network.households)} flats, {args.days:g} days, "
        f"speedup {args.speedup or 'none (event-driven)'}"
    )
    print(
        "| hour | spread unbalanced (K) | spread balanced (K) | below 18 degC unbalanced |"
        " below 18 degC balanced |"
    )
    print("|---:|---:|---:|---:|---:|")
    for k, h in enumerate(hours):
        b = base[min(int(round(h["hour"])), len(base) - 1)]
        if k % 3 == 0 or k == len(hours) - 1:
            print(
                f"| {h['hour']:.0f} | {b['spread_k']:.2f} | {h['spread_k']:.2f} |"
                f" {100 * b['cold_share']:.1f} % | {100 * h['cold_share']:.1f} % |"
            )
    end, b_end = hours[-1], base[-1]
    print(
        f"end: spread {end['spread_k']:.2f} K vs {b_end['spread_k']:.2f} K unbalanced"
        f" (ratio {end['spread_k'] / max(b_end['spread_k'], 1e-9):.2f}); flats below 18 degC"
        f" {100 * end['cold_share']:.1f} % vs {100 * b_end['cold_share']:.1f} %;"
        f" coldest {end['room_min_c']:.1f} vs {b_end['room_min_c']:.1f} degC"
    )
    print(
        f"host: {runs[0]} balancing runs, {counts[0]} target messages, {counts[1]} applied;"
        f" loop wall {end['wall_s']:.0f} s, peer wall {peer.wall_s:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
