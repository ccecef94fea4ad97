"""Model-based balancing in the loop: the identified network's openings and pump speed pushed
as feed-forward, the PI loops trimming.

A station whose balancing settings name a network file and an estimate file
(`feed_forward.network_file`, `feed_forward.estimate_file`: `evenheat estimate --json`'s output)
is planned by host/control/strategy/feed_forward.py: every household's valve and every
entrance valve gets its modelled opening as `opening_ff_pct` in its board's targets (the board
moves the valve there and its loop trims, edge/balancing.py), and the station control starts
its pump from the modelled speed. The plan is made

- when an operator asks (`POST /stations/{id}/feed-forward`: a new season, a valve replaced);
- when either file changes (a new estimate, an edited network), checked every tick;
- once after the service starts (the same plan again moves no valve: an unchanged
  feed-forward is not a step).

A plan the model cannot be trusted for (stale, uncertain, failed, another network, out of the
pump's reach) sends nothing: the loops go on as they are, and the audit and the log say why.
Network ids map to the registry's: an entrance by its id (its unit), a household by its id
(its unit and point); an entrance valve is `entrance` on its board.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from host.control.balancer import ENTRANCE_VALVE, Balancer, BalancerError, feed_forward_settings
from host.control.strategy.feed_forward import FeedForwardError, load_estimate, plan
from host.models.hydraulics.errors import HydraulicError
from host.models.hydraulics.loader import load_network
from host.storage import Storage

log = logging.getLogger(__name__)

PumpStart = Callable[[str, float, str], Any]  # (station id, speed ratio, who)


class ModelBalancing:
    """Plans and pushes the feed-forward of every station whose model files are named."""

    def __init__(
        self,
        storage: Storage,
        balancer: Balancer,
        clock: Callable[[], float],
        pump_start: PumpStart | None = None,
    ) -> None:
        self.storage = storage
        self.balancer = balancer
        self.clock = clock
        self.pump_start = pump_start
        self._seen: dict[str, tuple[Any, ...]] = {}
        self._lock = threading.Lock()

    def _files(self, station_id: str) -> tuple[str, str] | None:
        ff = self.balancer.settings(station_id)["feed_forward"]
        if not ff["network_file"] or not ff["estimate_file"]:
            return None
        return ff["network_file"], ff["estimate_file"]

    def tick(self, now_s: float) -> None:
        """Plan every station whose model files changed since its last plan."""
        for station_id in self.storage.station_ids():
            files = self._files(station_id)
            if files is None:
                continue
            signature = tuple(_mtime(f) for f in files) + files
            with self._lock:  # the service's tick and a caller's never both plan one change
                if self._seen.get(station_id) == signature:
                    continue
                self._seen[station_id] = signature
            try:
                self.run(station_id, "strategy", "model")
            except BalancerError as exc:
                log.error("model-based balancing of %s failed: %s", station_id, exc)

    def run(self, station_id: str, who: str, trigger: str = "manual") -> dict[str, Any]:
        """Plan now and push the plan when it can be trusted; returns what was done."""
        with self._lock:
            files = self._files(station_id)
            if files is None:
                raise BalancerError(
                    "no-model", f"station {station_id} names no network and estimate file"
                )
            settings = feed_forward_settings(self.balancer.settings(station_id)["feed_forward"])
            try:
                net = load_network(files[0])
                estimate = load_estimate(files[1])
            except (HydraulicError, FeedForwardError, OSError, ValueError) as exc:
                return self._fallback(station_id, who, trigger, "unreadable", str(exc))
            p = plan(net, estimate, self.clock(), settings)
            if not p.ok:
                return self._fallback(station_id, who, trigger, p.reason, p.detail)
            units = self.storage.entrance_units()
            openings: dict[tuple[str, str], float] = {}
            for entrance_id, pct in p.entrance_opening_pct.items():
                if entrance_id in units and pct == pct:
                    openings[(units[entrance_id][1], ENTRANCE_VALVE)] = pct
            for h in self.storage.station_households(station_id):
                hh_pct = p.household_opening_pct.get(str(h["household_id"]))
                if hh_pct is not None and h.get("point"):
                    openings[(str(h["unit"]), str(h["point"]))] = hh_pct
            inputs = {
                "model": "feed_forward",
                "pump_speed": p.pump_speed,
                "pump_head_m": p.pump_head_m,
                "pump_flow_m3h": p.pump_flow_m3h,
                "estimated_s": estimate.estimated_s,
                "detail": p.detail,
            }
            pushed = self.balancer.push_feed_forward(station_id, openings, inputs, who, trigger)
            if self.pump_start is not None and p.pump_speed is not None:
                self.pump_start(station_id, p.pump_speed, who)
            result = {
                "station_id": station_id,
                "reason": "ok",
                "detail": p.detail,
                "pump_speed": p.pump_speed,
                "valves": pushed["valves"],
                "published": pushed["published"],
                "run_id": pushed["run_id"],
            }
            with self.storage.transaction():
                self.storage.audit(who, "feed_forward", station_id, inputs, "done")
            log.info(
                "feed-forward for %s: %d valves, pump speed %.3f (%s)",
                station_id,
                pushed["valves"],
                p.pump_speed,
                p.detail,
            )
            return result

    def _fallback(
        self, station_id: str, who: str, trigger: str, reason: str, detail: str
    ) -> dict[str, Any]:
        log.warning(
            "no feed-forward for %s (%s): %s; the loops go on alone", station_id, reason, detail
        )
        with self.storage.transaction():
            self.storage.audit(
                who, "feed_forward", station_id, {"trigger": trigger}, f"fallback: {reason}"
            )
        return {
            "station_id": station_id,
            "reason": reason,
            "detail": detail,
            "pump_speed": None,
            "valves": 0,
            "published": {},
            "run_id": None,
        }


def _mtime(path: str) -> float | None:
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return None
