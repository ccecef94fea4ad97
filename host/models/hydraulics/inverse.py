"""Inverse problem: the valve openings that give wanted flows, or why they cannot.

With the wanted flow of every entrance fixed, the flows in the mains follow from the network
alone, and so does the head available across every entrance (one solve with the entrances
as fixed demands; the pump delivers the total flow at the head its curve gives). Each
entrance then needs, with its valves fully open, S_internal·G² (+ the head of its most
demanding household) + S_valve,open·G². If the available head is smaller the flow is
unreachable with the pump as it is and the result says by how much (``shortfall_m``).
Otherwise the entrance valve takes up the surplus; inside an entrance the most demanding
household stays fully open and the others throttle to the same head.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from host.models.hydraulics.errors import UnreachableFlowError
from host.models.hydraulics.network import Entrance, Household, Network
from host.models.hydraulics.solver import SolveResult, SolverOptions, solve_system
from host.models.hydraulics.system import HydraulicSystem, compile_network
from host.models.hydraulics.valves import Valve, kv_from_s, opening_for_kv

#: Relative head tolerance below which a shortfall counts as reached (solver round-off).
_HEAD_REL_TOL = 1e-9


@dataclass(frozen=True)
class InverseResult:
    """Valve openings for wanted flows, with a clear verdict per entrance.

    ``entrance_opening`` / ``household_opening`` hold openings in 0..1 (NaN when that
    entrance is unreachable). ``available_head_m`` is the head across each entrance at the
    wanted flows, ``needed_open_head_m`` what it needs with its valves fully open, and
    ``shortfall_m`` the difference where positive.
    """

    success: bool
    message: str
    entrance_opening: dict[str, float]
    household_opening: dict[str, float]
    available_head_m: dict[str, float]
    needed_open_head_m: dict[str, float]
    shortfall_m: dict[str, float]
    unreachable: tuple[str, ...]
    pump_flow_m3h: float
    pump_head_m: float
    network: Network | None = field(default=None, compare=False)

    def raise_if_unreachable(self) -> None:
        """Raise :class:`UnreachableFlowError` with the message when not successful."""
        if not self.success:
            raise UnreachableFlowError(self.message)


def available_head_m(net: Network, system: HydraulicSystem, res: SolveResult) -> np.ndarray:
    """Head difference supply − return node across every entrance (m), network order."""
    idx = system.node_index
    s = np.array([idx[e.supply_node] for e in net.entrances], dtype=np.int64)
    r = np.array([idx[e.return_node] for e in net.entrances], dtype=np.int64)
    return res.head_m[s] - res.head_m[r]


def _household_head_m(h: Household, g: float, rho: float) -> float:
    s = h.s_m_per_m3h2 + (h.valve.s_m_per_m3h2(rho, 1.0) if h.valve else 0.0)
    return s * g * g


def open_branch_head_m(
    net: Network, entrance_flows: Mapping[str, float], household_flows: Mapping[str, float]
) -> dict[str, float]:
    """Head each entrance needs for its flow with every valve fully open (m)."""
    rho = net.mean_density_kg_m3
    hh = net.households_by_entrance
    out: dict[str, float] = {}
    for e in net.entrances:
        g = entrance_flows[e.id]
        head = (e.internal_s_m_per_m3h2 + e.valve.s_m_per_m3h2(rho, 1.0)) * g * g
        inner = [_household_head_m(h, household_flows[h.id], rho) for h in hh.get(e.id, ())]
        out[e.id] = head + (max(inner) if inner else 0.0)
    return out


def _split_households(
    net: Network,
    wanted_entrance: Mapping[str, float],
    wanted_household: Mapping[str, float],
) -> tuple[dict[str, float], dict[str, float]]:
    """Complete the wanted flows: households from entrances (by design flow) and back."""
    ent: dict[str, float] = {}
    hhf: dict[str, float] = {}
    for e in net.entrances:
        households = net.households_by_entrance.get(e.id, ())
        if households and all(h.id in wanted_household for h in households):
            total = sum(wanted_household[h.id] for h in households)
            given = wanted_entrance.get(e.id)
            if given is not None and not math.isclose(given, total, rel_tol=1e-9):
                raise ValueError(
                    f"entrance {e.id!r}: wanted flow {given} m3/h is not the sum "
                    f"{total} m3/h of its households' wanted flows"
                )
            ent[e.id] = total
            hhf.update({h.id: wanted_household[h.id] for h in households})
            continue
        if e.id not in wanted_entrance:
            raise ValueError(f"no wanted flow for entrance {e.id!r}")
        g = wanted_entrance[e.id]
        if g < 0.0:
            raise ValueError(f"entrance {e.id!r}: wanted flow {g} m3/h is negative")
        ent[e.id] = g
        weights = [h.design_flow_m3h or 1.0 for h in households]
        for h, w in zip(households, weights, strict=True):
            hhf[h.id] = g * w / sum(weights)
    return ent, hhf


def _valve_opening(valve: Valve, s_m_per_m3h2: float, rho: float) -> float:
    if s_m_per_m3h2 <= 0.0:
        return 1.0
    return opening_for_kv(valve, kv_from_s(s_m_per_m3h2, rho))


def _entrance_openings(
    e: Entrance,
    households: tuple[Household, ...],
    g: float,
    hhf: Mapping[str, float],
    available_m: float,
    rho: float,
) -> tuple[float, dict[str, float], str | None]:
    """Openings of one reachable entrance; a reason string if a household cannot be set."""
    if g <= 0.0:
        return 0.0, {h.id: 0.0 for h in households if h.valve}, None
    inner = {h.id: _household_head_m(h, hhf[h.id], rho) for h in households}
    dp_hh = max(inner.values()) if inner else 0.0
    hh_open: dict[str, float] = {}
    for h in households:
        if h.valve is None:
            if inner[h.id] < dp_hh * (1.0 - 1e-9):
                return math.nan, {}, f"household {h.id!r} has no valve to throttle"
            continue
        q = hhf[h.id]
        hh_open[h.id] = (
            0.0 if q <= 0.0 else _valve_opening(h.valve, dp_hh / (q * q) - h.s_m_per_m3h2, rho)
        )
    s_valve = (available_m - dp_hh) / (g * g) - e.internal_s_m_per_m3h2
    return _valve_opening(e.valve, s_valve, rho), hh_open, None


def valve_openings(
    net: Network,
    wanted_entrance_flow_m3h: Mapping[str, float] | None = None,
    wanted_household_flow_m3h: Mapping[str, float] | None = None,
    options: SolverOptions | None = None,
) -> InverseResult:
    """Valve openings that give the wanted flows with the pump as it is.

    Give a flow per entrance, or per household (the entrance then gets the sum), or both.
    Households of an entrance given only by its total share it by their design flows.
    Returns an :class:`InverseResult`; ``success`` is False and ``unreachable`` names the
    entrances when the pump cannot provide the head they need.
    """
    ent, hhf = _split_households(
        net, wanted_entrance_flow_m3h or {}, wanted_household_flow_m3h or {}
    )
    pump = net.station.pump
    assert pump is not None
    total = sum(ent.values())
    pump_head = pump.head_m(total)
    empty = {e.id: math.nan for e in net.entrances}
    if total > pump.max_flow_m3h or pump_head <= 0.0:
        msg = (
            f"the pump cannot deliver {total:.4g} m3/h at speed ratio {pump.speed_ratio}: "
            f"its curve ends at {pump.max_flow_m3h:.4g} m3/h (head there "
            f"{pump.head_m(pump.max_flow_m3h):.3g} m)"
        )
        return InverseResult(
            False,
            msg,
            empty,
            {},
            empty,
            empty,
            empty,
            tuple(e.id for e in net.entrances),
            total,
            pump_head,
        )
    system = compile_network(net, entrance_flows_m3h=ent)
    res = solve_system(system, options)
    if not res.success:
        return InverseResult(
            False,
            f"fixed-flow solve failed: {res.message}",
            empty,
            {},
            empty,
            empty,
            empty,
            (),
            total,
            pump_head,
        )
    avail = dict(
        zip((e.id for e in net.entrances), available_head_m(net, system, res), strict=True)
    )
    need = open_branch_head_m(net, ent, hhf)
    rho = net.mean_density_kg_m3
    shortfall = {k: max(0.0, need[k] - avail[k]) for k in need}
    e_open: dict[str, float] = {}
    h_open: dict[str, float] = {}
    unreachable: list[str] = []
    reasons: list[str] = []
    for e in net.entrances:
        if shortfall[e.id] > _HEAD_REL_TOL * max(pump_head, 1.0):
            unreachable.append(e.id)
            e_open[e.id] = math.nan
            reasons.append(
                f"{e.id}: needs {need[e.id]:.4g} m fully open, "
                f"has {avail[e.id]:.4g} m (short by {shortfall[e.id]:.3g} m)"
            )
            continue
        households = net.households_by_entrance.get(e.id, ())
        x, hh, why = _entrance_openings(e, households, ent[e.id], hhf, avail[e.id], rho)
        if why is not None:
            unreachable.append(e.id)
            reasons.append(f"{e.id}: {why}")
        e_open[e.id] = x
        h_open.update(hh)
    if unreachable:
        shown = "; ".join(reasons[:5]) + (" ..." if len(reasons) > 5 else "")
        msg = (
            f"{len(unreachable)} entrance(s) cannot reach the wanted flow with the pump as "
            f"it is ({pump_head:.4g} m at {total:.4g} m3/h): {shown}"
        )
    else:
        msg = f"all {len(net.entrances)} entrances reachable; pump {pump_head:.4g} m at " + (
            f"{total:.4g} m3/h"
        )
    return InverseResult(
        success=not unreachable,
        message=msg,
        entrance_opening=e_open,
        household_opening=h_open,
        available_head_m=avail,
        needed_open_head_m=need,
        shortfall_m=shortfall,
        unreachable=tuple(unreachable),
        pump_flow_m3h=total,
        pump_head_m=pump_head,
        network=None if unreachable else net.with_openings(e_open, h_open),
    )


def lowest_speed_openings(
    net: Network,
    wanted_household_flow_m3h: Mapping[str, float] | None = None,
    speed_min: float = 0.3,
    speed_max: float = 1.0,
    wanted_entrance_flow_m3h: Mapping[str, float] | None = None,
    bisections: int = 12,
    options: SolverOptions | None = None,
) -> tuple[float, InverseResult] | None:
    """The lowest pump speed ratio in ``speed_min..speed_max`` at which the wanted flows are
    reachable, with the openings there (the most demanding branch fully open), to within
    ``(speed_max - speed_min) / 2**bisections``; None when even ``speed_max`` cannot."""

    def attempt(speed: float) -> InverseResult:
        return valve_openings(
            net.with_pump_speed(speed),
            wanted_entrance_flow_m3h,
            wanted_household_flow_m3h,
            options,
        )

    best = attempt(speed_max)
    if not best.success:
        return None
    lo, hi = speed_min, speed_max
    at_min = attempt(lo)
    if at_min.success:
        return lo, at_min
    for _ in range(bisections):
        mid = 0.5 * (lo + hi)
        res = attempt(mid)
        if res.success:
            hi, best = mid, res
        else:
            lo = mid
    return hi, best
