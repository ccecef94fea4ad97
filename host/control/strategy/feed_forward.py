"""Model-based balancing: the openings and the pump speed the identified network needs.

From the network file and the friction parameters the estimator identified (`evenheat
estimate --json`), compute with the hydraulic inverse (host/models/hydraulics/inverse.py) the
entrance and household openings that give every household its wanted flow (its design flow
times ``flow_share``) at the lowest pump speed that can, the most demanding branch fully open.
The balancer pushes them as each valve's feed-forward opening (`opening_ff_pct`: the board
moves the valve there and its PI loop trims from it) and the station control starts its pump
from that speed.

Never from a model it should not trust. No plan, with the reason, when:

- ``stale``: the estimate is older than ``max_age_s`` (a season, a valve replaced since);
- ``estimate-failed``: the estimator did not succeed;
- ``uncertain``: a pipe the estimate covers is not identifiable, or its standard error is
  above ``max_rel_se`` of its value (a wrong S moves every valve downstream of it);
- ``unknown-pipe``: the estimate names pipes the network file does not have (another network);
- ``unreachable``: even the pump's highest speed cannot give the wanted flows.

Then the valves keep their loops as they are (nothing is sent), and the decision says why.
Pure logic apart from reading the two files (`load_estimate`); the caller passes the time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from host.errors import EvenheatError
from host.models.hydraulics.inverse import lowest_speed_openings
from host.models.hydraulics.network import Network


class FeedForwardError(EvenheatError, ValueError):
    """An estimate file that cannot be read as one."""

    reason = "bad-value"


@dataclass(frozen=True)
class FrictionEstimate:
    """What the estimator identified: S (m/(m3/h)^2) and its standard error per pipe, when."""

    success: bool
    estimated_s: float  # when (UTC seconds): the file's `estimated_s`, else its time
    s_m_per_m3h2: Mapping[str, float]
    s_se_m_per_m3h2: Mapping[str, float]
    identifiable: Mapping[str, bool]


@dataclass(frozen=True)
class FeedForwardSettings:
    """When a plan is trusted and what it aims at."""

    max_age_s: float = 120 * 86400.0
    max_rel_se: float = 0.3
    flow_share: float = 1.0  # of every household's design flow
    speed_min: float = 0.3  # pump speed ratios (n / n_rated) the plan may choose from
    speed_max: float = 1.0

    def __post_init__(self) -> None:
        if self.max_age_s <= 0 or self.max_rel_se <= 0:
            raise FeedForwardError("max_age_s and max_rel_se must be positive")
        if not 0.1 <= self.flow_share <= 1.5:
            raise FeedForwardError("flow_share must be within 0.1..1.5")
        if not 0.0 < self.speed_min <= self.speed_max:
            raise FeedForwardError("need 0 < speed_min <= speed_max")


@dataclass(frozen=True)
class FeedForwardPlan:
    """Openings (%) by entrance and household id and the pump speed ratio, or the reason
    there is none (``reason`` not ``ok``; ``detail`` says more)."""

    reason: str
    detail: str
    entrance_opening_pct: dict[str, float] = field(default_factory=dict)
    household_opening_pct: dict[str, float] = field(default_factory=dict)
    pump_speed: float | None = None
    pump_head_m: float | None = None
    pump_flow_m3h: float | None = None

    @property
    def ok(self) -> bool:
        return self.reason == "ok"


def load_estimate(path: str | Path) -> FrictionEstimate:
    """Read an estimate written by `evenheat estimate --json` (both sides' pipes)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
        pipes = [pipe for side in doc["sides"].values() for pipe in side["pipes"]]
        s = {str(x["id"]): _num(x["s_m_per_m3h2"]) for x in pipes}
        se = {str(x["id"]): _num(x["s_se_m_per_m3h2"]) for x in pipes}
        ident = {str(x["id"]): bool(x["identifiable"]) for x in pipes}
        when = float(doc.get("estimated_s", p.stat().st_mtime))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise FeedForwardError(f"{p}: not an estimate file ({exc})") from None
    return FrictionEstimate(bool(doc.get("success")), when, s, se, ident)


def _num(x: Any) -> float:  # noqa: ANN401 - JSON
    return float("nan") if x is None else float(x)


def plan(
    net: Network,
    estimate: FrictionEstimate,
    now_s: float,
    settings: FeedForwardSettings | None = None,
) -> FeedForwardPlan:
    """The feed-forward the identified network gives, or why there is none."""
    s = settings or FeedForwardSettings()
    age_s = now_s - estimate.estimated_s
    if age_s > s.max_age_s:
        return FeedForwardPlan("stale", f"the estimate is {age_s / 86400.0:.0f} days old")
    if not estimate.success:
        return FeedForwardPlan("estimate-failed", "the estimator did not succeed")
    pipes = {p.id: p for p in net.pipes}
    unknown = sorted(set(estimate.s_m_per_m3h2) - set(pipes))
    if unknown:
        return FeedForwardPlan("unknown-pipe", "not in the network: " + ", ".join(unknown[:5]))
    doubtful = []
    for pid, value in estimate.s_m_per_m3h2.items():
        se = estimate.s_se_m_per_m3h2.get(pid, math.nan)
        trusted = (
            estimate.identifiable.get(pid, False)
            and math.isfinite(value)
            and value > 0
            and math.isfinite(se)
            and se <= s.max_rel_se * value
        )
        if not trusted:
            doubtful.append(pid)
    if doubtful:
        shown = ", ".join(sorted(doubtful)[:5]) + (" ..." if len(doubtful) > 5 else "")
        return FeedForwardPlan("uncertain", f"{len(doubtful)} pipe(s) not known well: {shown}")
    identified = replace(
        net,
        pipes=tuple(
            replace(p, s_m_per_m3h2=estimate.s_m_per_m3h2[p.id], length_m=None)
            if p.id in estimate.s_m_per_m3h2
            else p
            for p in net.pipes
        ),
    )
    wanted_hh: dict[str, float] = {}
    wanted_ent: dict[str, float] = {}
    for e in net.entrances:
        households = net.households_by_entrance.get(e.id, ())
        flows = [h.design_flow_m3h for h in households]
        if households and all(h.valve is not None for h in households) and None not in flows:
            wanted_hh.update(
                {h.id: float(h.design_flow_m3h or 0.0) * s.flow_share for h in households}
            )
        elif e.design_flow_m3h is not None:  # the inverse shares it by design flows
            wanted_ent[e.id] = e.design_flow_m3h * s.flow_share
        else:
            return FeedForwardPlan("no-design-flow", f"entrance {e.id} has no design flow")
    found = lowest_speed_openings(
        identified, wanted_hh, s.speed_min, s.speed_max, wanted_entrance_flow_m3h=wanted_ent
    )
    if found is None:
        return FeedForwardPlan(
            "unreachable", f"the wanted flows need more than pump speed {s.speed_max}"
        )
    speed, res = found
    return FeedForwardPlan(
        "ok",
        res.message,
        {k: round(100.0 * v, 1) for k, v in res.entrance_opening.items()},
        {k: round(100.0 * v, 1) for k, v in res.household_opening.items()},
        speed,
        res.pump_head_m,
        res.pump_flow_m3h,
    )
