"""How well any estimate of an unsensored flat's room can do on an estate, measured: the
host's estimator against one that is also handed each flat's true water flow.

The host's estimator (host.models.rooms) knows a flat by its type and its water
temperatures. Where each flat's radiators scatter about their sizing (the sized estate,
+-10 % per flat), its error is the flat's own unknown ratio, the same every hour. The
question a user asks is whether more data would close it. This benchmark hands a second
estimate what the host does not have, the simulator's true flow through every flat's
radiators, and uses the other balance the flat obeys: heat delivered G c (t_supply -
t_return) plus internal gains equals the loss H (t_room - t_out), with H the flat's heated
area times its type's relative loss (host/models/rooms/household_types.json) times one
level calibrated on the sensed flats (same memory as the host's). Its error is the flat's
own envelope (+-10 % per flat) instead. Printed: RMS and max of the host's estimate (the
peer), of the flow-informed one, and of their best blend, with the share of the error that
is constant per flat (what no amount of history removes).

    .venv/bin/python bench/room_limits.py [--scenario sized] [--share 0.1] [--days 4]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from host.models.rooms.estimate import RELATIVE_LOSS  # noqa: E402
from sim import runner  # noqa: E402
from sim.household import gains_w  # noqa: E402
from sim.radiator import water_capacity_w_k  # noqa: E402
from sim.room_strategy import RoomLedStrategy, links_of  # noqa: E402
from sim.scenario import build_scenario, scenario_path  # noqa: E402

TAU_H = 24.0


class _Recording(RoomLedStrategy):
    """Return mode, keeping every snapshot's supply temperatures (what the host saw)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.supply: list[np.ndarray] = []  # per decision, each household's supply degC

    def _snapshot(self, records):  # type: ignore[no-untyped-def]
        room = super()._snapshot(records)
        self.supply.append(self._hist[-1][0])
        return room


def _rms(e: np.ndarray) -> float:
    return float(np.sqrt(np.mean(e**2)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="sized")
    ap.add_argument("--share", type=float, default=0.1)
    ap.add_argument("--days", type=float, default=4.0)
    args = ap.parse_args()
    doc = json.loads(scenario_path(args.scenario).read_text())
    doc.setdefault("rooms", {})["share"] = args.share
    doc["control"] = "local"
    scn = build_scenario(doc, days=args.days)
    strategy = _Recording(links_of(scn), runner.TYPE_OFFSET_C, mode="return")
    res = runner.run(scn, strategy=strategy, record_every_s=900.0)
    s, p = res.series, scn.estate.params
    sensed, unsensed = res.room_households, res.unsensed()
    times = np.array([t - runner.EPOCH_S for t, _ in strategy.log])
    rows = np.array([int(np.argmin(np.abs(s.time_s - t))) for t in times])
    ts = np.array(strategy.supply)
    heat_w = water_capacity_w_k(s.household_flow_m3h[rows]) * (ts - s.t_return_household_c[rows])
    gain_w = np.array([gains_w(p, t) for t in times])
    kinds = scn.estate.household_type
    h_shape = p.area_m2 * np.array([RELATIVE_LOSS.get(k, 1.0) for k in kinds])
    step_h = float(np.median(np.diff(times))) / 3600.0
    host_err, flow_err = [], []
    for k, (t, est) in enumerate(strategy.log):
        if est is None or t - runner.EPOCH_S < 86400.0:
            continue
        w = np.exp(-(k - np.arange(k + 1)) * step_h / TAU_H)
        w /= w.sum()
        q = w @ (heat_w[: k + 1] + gain_w[: k + 1])
        t_out = float(w @ s.t_out_c[rows[: k + 1]])
        truth = s.t_room_c[rows[k]]
        level = np.median(q[sensed] / (truth[sensed] - t_out) / h_shape[sensed])
        flow_est = t_out + q / (level * h_shape)
        host_err.append((est.t_room_c - truth)[unsensed])
        flow_err.append((flow_est - truth)[unsensed])
    a, b = np.array(host_err), np.array(flow_err)
    n = s.t_room_c.shape[1]
    print(f"{args.scenario}, {len(sensed)} of {n} flats sensed, {args.days} days")
    print(f"{'estimate':34} {'RMS':>5} {'max':>5} {'per-flat share':>14}")
    for name, e in (
        ("host (types and temperatures)", a),
        ("with each flat's true flow", b),
        *((f"blend {x:.1f} host + {1 - x:.1f} flow", x * a + (1 - x) * b) for x in (0.4, 0.6)),
    ):
        per_flat = _rms(e.mean(axis=0)) ** 2 / _rms(e) ** 2
        print(f"{name:34} {_rms(e):5.2f} {np.max(np.abs(e)):5.2f} {per_flat:14.2f}")
    best = min(_rms(0.4 * a + 0.6 * b), _rms(0.6 * a + 0.4 * b))
    print(f"ratio host / best blend RMS: {_rms(a) / best:.2f}")


if __name__ == "__main__":
    main()
