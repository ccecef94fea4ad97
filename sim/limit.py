"""The best achievable operation with perfect knowledge: what balancing could do at most.

Every ``every_s`` of simulated time, from the simulator's truth (each flat's envelope,
radiators and gains, the pipes' and branches' true resistance, the supply that reaches each
entrance now):

1. every flat's heat need at its target room temperature in steady state (sim.household);
2. the flow its radiators need for that heat at the supply that reaches it (sim.radiator,
   bisection on the flow);
3. the entrance and household openings that give those flows, and the lowest pump speed for
   which the hydraulic inverse reaches every one (host.models.hydraulics.inverse, bisection
   on the speed);

An undersized radiator cannot give its flat's need at any flow; it gets the flow that
makes it give 95 % of its most, or less until the pump at its highest speed can deliver
every flow (``MAX_SHARES_OF_INFINITE_FLOW``; ``reached`` is False below 95 %, and
``run_limit`` counts those re-plans). Then the plant runs with those openings and that speed,
the supply on the station's own curve. No boards, no noise, no delay in knowing: no strategy
that sees only probes can do better with that curve, so the ratio of a strategy's pump
electricity and heat to these is how far it is from the limit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from host.models.hydraulics.inverse import lowest_speed_openings
from sim import household as hh
from sim import radiator
from sim.metrics import MetricsAccumulator
from sim.plant import EnergyLedger, Plant
from sim.runner import RunResult, Series, run_result
from sim.scenario import Scenario
from sim.station import StationCommand

_FLOW_BISECTIONS = 40
_SPEED_BISECTIONS = 12


#: An undersized radiator is asked for at most this share of what it gives at infinite
#: flow, the first share the pump can deliver at its highest speed: it gets the flow that
#: makes it nearly as warm as it can be, not a pipe's.
MAX_SHARES_OF_INFINITE_FLOW = (0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5)


def needed_flow_m3h(
    q_need_w: np.ndarray,
    t_supply_c: np.ndarray,
    t_room_c: float,
    q_nominal_w: np.ndarray,
    max_share: float = 0.95,
) -> np.ndarray:
    """The flow (m³/h) at which each radiator gives ``q_need_w``, or ``max_share`` of its
    most (at infinite flow) where it cannot (bisection in log flow)."""
    a = np.maximum(t_supply_c - t_room_c, 0.0)
    q_inf = q_nominal_w * (a / radiator.NOMINAL_DT_K) ** radiator.EXPONENT
    q_need_w = np.minimum(q_need_w, max_share * q_inf)
    lo = np.full(q_need_w.shape, np.log(1e-5))
    hi = np.full(q_need_w.shape, np.log(20.0))
    for _ in range(_FLOW_BISECTIONS):
        mid = 0.5 * (lo + hi)
        _, q = radiator.solve_return_fast(np.exp(mid), t_supply_c, t_room_c, q_nominal_w)
        short = q < q_need_w
        lo = np.where(short, mid, lo)
        hi = np.where(short, hi, mid)
    return np.exp(hi)


@dataclass(frozen=True)
class Operating:
    """One limit operating point: openings (fractions), speed ratio, and whether all reached."""

    entrance_opening: np.ndarray
    household_opening: np.ndarray
    pump_speed: float
    reached: bool


def operating_point(
    plant: Plant, t_out_c: float, time_s: float, t_room_c: float = 20.0
) -> Operating:
    """Openings and the lowest pump speed that give every flat its steady need now."""
    est = plant.estate
    p = est.params
    h_series = 1.0 / (1.0 / p.h_am_w_k + 1.0 / p.h_env_w_k)
    need = (p.h_vent_w_k + h_series) * (t_room_c - t_out_c) - hh.gains_w(p, time_s)
    need = np.maximum(need, 1.0)
    ts_h = plant.outputs.t_supply_entrance_c[plant.hh_entrance]
    net = plant.net
    st = plant.station
    for share in MAX_SHARES_OF_INFINITE_FLOW:
        g = needed_flow_m3h(need, ts_h, t_room_c, est.q_nominal_w, share)
        wanted = {h.id: float(x) for h, x in zip(net.households, g, strict=True)}
        found = lowest_speed_openings(
            net, wanted, st.speed_min, st.speed_max, bisections=_SPEED_BISECTIONS
        )
        if found is not None:
            break
    else:
        # the most the pump can do: every valve open at full speed
        return Operating(np.ones(plant.n_e), np.ones(plant.n_h), st.speed_max, reached=False)
    reached = share == MAX_SHARES_OF_INFINITE_FLOW[0]
    hi, best = found
    ent = np.array([best.entrance_opening[e.id] for e in net.entrances])
    hho = np.array([best.household_opening.get(h.id, 1.0) for h in net.households])
    return Operating(ent, hho, hi, reached)


def run_limit(
    scn: Scenario, every_s: float = 3600.0, record_every_s: float = 900.0, warmup_s: float = 0.0
) -> tuple[RunResult, int]:
    """Run ``scn`` at the limit; returns the run and how many re-plans could not reach all."""
    t0 = time.perf_counter()
    dt = scn.dt_s
    n_steps = int(round(scn.days * 86400.0 / dt))
    plant = Plant(scn.estate, scn.weather, replace(scn.station, host_silent_s=1e12), dt)
    n_e, n_h = plant.n_e, plant.n_h
    rec_every = max(1, int(round(record_every_s / dt)))
    series = Series.empty(-(-n_steps // rec_every), n_e, n_h)
    acc = MetricsAccumulator(n_e, n_h)
    plan_every = max(1, int(round(every_s / dt)))
    unreachable = 0
    op = None
    for k in range(n_steps):
        if k % plan_every == 0:
            t_out = float(scn.weather.at(plant.time_s))
            op = operating_point(plant, t_out, plant.time_s)
            unreachable += not op.reached
            plant.command = StationCommand(plant.time_s, op.pump_speed, None)
        assert op is not None
        out = plant.step(op.entrance_opening, op.household_opening)
        if k % rec_every == 0:
            series.put(k // rec_every, out, op.entrance_opening, op.household_opening)
        if out.time_s >= warmup_s:
            if acc.ledger_start is None:
                acc.ledger_start = EnergyLedger(**vars(plant.ledger))
            acc.add(out, dt)
    res = run_result(scn, "limit", series, acc, plant, t0)
    return res, unreachable
