"""Human and machine reports of an estimate: a fixed-width table and JSON-ready data.

Table columns: pipe or group, S in m/(m³/h)², the 95 % interval, and "yes" when the value is
identifiable or the reason when it is not. Groups (series, parallel, coupled) follow the pipes
of their side; then rank, condition number, minimum conditions, suspect sensors and
suggestions. Infinite or missing values print as "-" in the table and ``null`` in JSON.
"""

from __future__ import annotations

import math
from typing import Any, TextIO

from host.models.estimation.adapter import NetworkEstimate
from host.models.estimation.entrances import EntranceEstimate
from host.models.estimation.result import EstimationResult


def _num(x: float) -> str:
    if x is None or not math.isfinite(float(x)):
        return "-"
    return f"{float(x):.6g}"


def _json_num(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def result_to_dict(res: EstimationResult) -> dict[str, Any]:
    """One side's result as plain data (units in the keys)."""
    return {
        "method": res.method,
        "success": res.success,
        "status": res.status.name.lower(),
        "message": res.message,
        "rank": res.rank,
        "n_unknowns": res.n_unknowns,
        "condition_number": _json_num(res.condition_number),
        "n_conditions": res.n_conditions,
        "min_conditions": res.min_conditions,
        "chi2_per_dof": _json_num(res.chi2_per_dof),
        "pipes": [
            {
                "id": pid,
                "s_m_per_m3h2": _json_num(res.s_m_per_m3h2[j]),
                "s_se_m_per_m3h2": _json_num(res.s_se[j]),
                "s_low_m_per_m3h2": _json_num(res.s_low[j]),
                "s_high_m_per_m3h2": _json_num(res.s_high[j]),
                "identifiable": bool(res.identifiable[j]),
                "reason": res.reason[j],
            }
            for j, pid in enumerate(res.pipe_ids)
        ],
        "groups": [
            {
                "name": g.name,
                "kind": g.kind,
                "pipes": list(g.pipe_ids),
                "end_nodes": list(g.end_nodes),
                "s_m_per_m3h2": _json_num(g.s_m_per_m3h2),
                "s_low_m_per_m3h2": _json_num(g.s_low),
                "s_high_m_per_m3h2": _json_num(g.s_high),
                "identifiable": bool(g.identifiable),
                "reason": g.reason,
            }
            for g in res.groups
        ],
        "suspect_sensors": list(res.suspect_sensors),
        "suggestions": list(res.suggestions),
    }


def entrances_to_dict(ent: EntranceEstimate) -> dict[str, Any]:
    """The entrance estimate as plain data: per entrance the building's internal S
    (``s_*_m_per_m3h2``), the cross-side groups, the joint system's diagnostics and the valve
    factor (``null`` in mode "internal")."""
    data = result_to_dict(ent.result)
    data["entrances"] = data.pop("pipes")
    data["mode"] = ent.mode
    data["valve_factor"] = (
        None
        if ent.mode == "internal"
        else {
            "value": _json_num(ent.factor),
            "se": _json_num(ent.factor_se),
            "low": _json_num(ent.factor_low),
            "high": _json_num(ent.factor_high),
            "identifiable": ent.factor_identifiable,
            "reason": ent.factor_reason,
        }
    )
    return data


def estimate_to_dict(est: NetworkEstimate) -> dict[str, Any]:
    """Both sides of a network estimate (and the entrances, when used) as plain data."""
    return {
        "network": est.network_name,
        "success": est.success,
        "unit_s": "m/(m3/h)^2",
        "interval": "95 %",
        "sides": {side: result_to_dict(r) for side, r in est.sides},
        "entrances": entrances_to_dict(est.entrances) if est.entrances else None,
    }


def print_result(
    res: EstimationResult, out: TextIO, title: str = "", label: str = "pipe / group"
) -> None:
    """Print one side's table and diagnostics (``label``: the first column's heading)."""
    if title:
        out.write(f"== {title} ({res.method}) ==\n")
    w = max(
        [
            len(label),
            *(len(p) for p in res.pipe_ids),
            *(len(g.name) + 2 for g in res.groups),
        ]
    )
    out.write(f"{label:<{w}}  {'S m/(m3/h)^2':>13}  {'95 % interval':>25}  identifiable\n")
    for j, pid in enumerate(res.pipe_ids):
        ok = "yes" if res.identifiable[j] else f"no: {res.reason[j]}"
        interval = f"[{_num(res.s_low[j])}, {_num(res.s_high[j])}]"
        out.write(f"{pid:<{w}}  {_num(res.s_m_per_m3h2[j]):>13}  {interval:>25}  {ok}\n")
    for g in res.groups:
        ok = "yes" if g.identifiable else f"no: {g.reason}"
        interval = f"[{_num(g.s_low)}, {_num(g.s_high)}]"
        label = f"{g.name} ({g.kind})"
        members = ", ".join(g.pipe_ids[:8]) + (" …" if len(g.pipe_ids) > 8 else "")
        out.write(f"{label:<{w}}  {_num(g.s_m_per_m3h2):>13}  {interval:>25}  {ok}  [{members}]\n")
    out.write(
        f"rank {res.rank} of {res.n_unknowns}, condition number {_num(res.condition_number)}, "
        f"{res.n_conditions} condition(s) used, at least {res.min_conditions} needed, "
        f"chi2/dof {_num(res.chi2_per_dof)}\n"
    )
    out.write(f"{res.message}\n")
    for s in res.suspect_sensors:
        out.write(f"suspect sensor: {s}\n")
    for s in res.suggestions:
        out.write(f"suggestion: {s}\n")


def print_estimate(est: NetworkEstimate, out: TextIO) -> None:
    """Print both sides, then the entrances when their valves were used."""
    for side, res in est.sides:
        print_result(res, out, f"{est.network_name}: {side}")
        out.write("\n")
    ent = est.entrances
    if ent is None:
        return
    print_result(
        ent.result,
        out,
        f"{est.network_name}: entrances, building S without the valve, mode {ent.mode}",
        label="entrance / group",
    )
    if ent.mode != "internal":
        ok = "yes" if ent.factor_identifiable else f"no: {ent.factor_reason}"
        interval = f"[{_num(ent.factor_low)}, {_num(ent.factor_high)}]"
        out.write(
            f"valve factor c (S_valve = c·S_valve,nominal(opening)): {_num(ent.factor)}  "
            f"95 % interval {interval}  identifiable: {ok}\n"
        )
    out.write("\n")
