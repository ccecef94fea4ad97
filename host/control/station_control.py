"""The host commands the heat exchange station: pump speed and supply set-point per period.

For each station whose control names the unit that runs it (a station gateway,
docs/protocol.md `station`) and has a strategy switched on, every `period_s`: gather the
station's newest record, its rooms (the room estimator's, shared with the balancer) and its
valves' openings, run host.control.strategy.station (pump follows the valves; weather
compensation with its offset trimmed by the robust coldest rooms), store the decision with its
inputs and reason, and publish `desired/station` through the desired-state mechanism
(versioned, retained, acknowledged, audited). The command is re-issued before half its
validity has passed, so a station keeps the host's command while the host runs and returns to
its own curve (`valid_for_s` after the last one) when the host stops.

Each strategy is `off` (the station's own: its fallback speed, its own curve), `on`, or
`scheduled` (on, and the station's time-division schedule shifts the room targets, the floor
and the supply with them, host/control/strategy/schedule.py). Switching both off sends a
command with no set-point, which hands the station back to its own control at once.

Nothing is sent that the station could not safely apply: the strategy clamps its speed and
supply to `speed_min..speed_max` (1.0 is the pump's full speed, 100 %) and
`supply_min_c..supply_max_c`; a station that is `offline` or has not reported gets no new
command ("station-offline", "no-station-record"); settings, curve or schedule that do not
hold are refused as a whole before anything is stored (StationControlError). The station
itself refuses what is outside its own limits (its ack says why).

Thread-safety as the balancer's: `tick` on the ingest thread, the API from its own threads;
a lock makes runs serial.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import asdict, fields
from typing import Any

from host.control.desired import CommandError, Desired
from host.control.room_estimates import RoomEstimator
from host.control.strategy import room_led
from host.control.strategy import schedule as schedmod
from host.control.strategy.station import (
    HeatingCurve,
    StationSettingsError,
    StationState,
    StationStrategySettings,
    decide_station,
    station_inputs,
)
from host.errors import RefusedError
from host.storage import Storage

log = logging.getLogger(__name__)

Latest = Callable[[str, str], dict[str, Any] | None]  # (site, unit) -> newest tele message
MODES = ("off", "on", "scheduled")
ENTRANCE_VALVE = "entrance"
_STRATEGY_FIELDS = tuple(
    f.name
    for f in fields(StationStrategySettings)
    if f.name
    not in (
        "pump",
        "weather",
    )
)
#: The curve a station starts from: the quality curve of radiators designed 75/50 at -20 degC.
DEFAULT_CURVE = HeatingCurve.from_design(-20.0, 75.0, 50.0, n_points=6)


class StationControlError(RefusedError, ValueError):
    """Refused station-control settings or a run that cannot start; `reason` a short code."""


def defaults(period_s: float) -> dict[str, Any]:
    """Every setting of a station's control, before an operator changed any."""
    strategy = asdict(StationStrategySettings(speed_max=1.0))
    out: dict[str, Any] = {
        "unit": None,
        "pump": "off",
        "weather": "off",
        "period_s": float(period_s),
        "valid_for_s": 7200,
        "curve": [list(p) for p in DEFAULT_CURVE.points],
        "schedule": [],
        "utc_offset_h": 8.0,
        "valves": "off",  # "scheduled": the schedule shifts valve targets too
        "return_k_per_room_k": 1.5,
    }
    out.update({k: strategy[k] for k in _STRATEGY_FIELDS})
    return out


class StationControl:
    """Runs the station strategies of every station whose control is set up."""

    def __init__(
        self,
        storage: Storage,
        desired: Desired,
        latest: Latest,
        rooms: RoomEstimator,
        clock: Callable[[], float],
        period_s: float = 900.0,
    ) -> None:
        self.storage = storage
        self.desired = desired
        self.latest = latest
        self.rooms = rooms
        self.clock = clock
        self.period_s = period_s
        self._lock = threading.RLock()
        self._next_run_s: dict[str, float] = {}

    # ------------------------------------------------------------ settings ----
    def _need_station(self, station_id: str) -> str:
        site = self.storage.station_site(station_id)
        if site is None:
            raise StationControlError("unknown-station", f"no station {station_id!r}")
        return site

    def settings(self, station_id: str) -> dict[str, Any]:
        """Every setting of a station's control (defaults filled in)."""
        self._need_station(station_id)
        out = defaults(self.period_s)
        out.update(self.storage.station_control(station_id)[0])
        return out

    def set_settings(self, station_id: str, changes: dict[str, Any], who: str) -> dict[str, Any]:
        """Change some settings; refused as a whole (and audited) if any is bad."""
        try:
            site = self._need_station(station_id)
            new = self._checked(site, self.settings(station_id), changes)
        except StationControlError as exc:
            with self.storage.transaction():
                self.storage.audit(
                    who, "set_station_control", station_id, changes, f"refused: {exc}"
                )
            raise
        stored, state = self.storage.station_control(station_id)
        stored.update(changes)
        with self.storage.transaction():
            self.storage.save_station_control(station_id, stored, state, self.clock(), who)
            self.storage.audit(who, "set_station_control", station_id, changes, "done")
        self._next_run_s.pop(station_id, None)
        if new["unit"] and new["pump"] == new["weather"] == "off":
            self._release(station_id, site, new, who)
        return new

    def _checked(self, site: str, new: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(changes, dict) or not changes:
            raise StationControlError("bad-value", "give at least one setting to change")
        for key, value in changes.items():
            if key not in new:
                raise StationControlError("unknown-setting", f"{key!r}; one of {sorted(new)}")
            if key in ("pump", "weather"):
                if value not in MODES:
                    raise StationControlError("bad-value", f"{key} must be one of {MODES}")
            elif key == "valves":
                if value not in ("off", "scheduled"):
                    raise StationControlError("bad-value", "valves must be off or scheduled")
            elif key == "unit":
                if value is not None and (
                    not isinstance(value, str)
                    or self.storage.unit_id(site, value) is None
                    or self.storage.entrance_served_by(site, value)
                ):
                    raise StationControlError(
                        "bad-value",
                        f"unit {value!r} is not a station unit of {site} (registry:"
                        " add_station_unit)",
                    )
            elif key == "valid_for_s":
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int)
                    or not (600 <= value <= 86400)
                ):
                    raise StationControlError("bad-value", "valid_for_s must be 600..86400 s")
            elif key in ("curve", "schedule"):
                if not isinstance(value, list):
                    raise StationControlError("bad-value", f"{key} must be a list")
            else:
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int | float)
                    or not (math.isfinite(value))
                ):
                    raise StationControlError("bad-value", f"{key} must be a finite number")
            new[key] = value
        if not 0.0 <= new["return_k_per_room_k"] <= 5.0:
            raise StationControlError("bad-value", "return_k_per_room_k must be within 0..5")
        if new["period_s"] < 60 or new["valid_for_s"] < 2 * new["period_s"]:
            raise StationControlError(
                "bad-value", "period_s must be at least 60 s and valid_for_s twice period_s"
            )
        try:
            self._strategy(new)
            self._curve(new)
            self._schedule(new)
        except (StationSettingsError, schedmod.ScheduleError, TypeError) as exc:
            raise StationControlError("bad-value", str(exc)) from None
        return new

    def valve_schedule(self, station_id: str) -> tuple[schedmod.Schedule, float] | None:
        """The schedule the balancer applies to valve targets, with the return shift per K of
        room shift; None unless `valves` is `scheduled` and there are periods."""
        s = self.settings(station_id)
        if s["valves"] != "scheduled" or not s["schedule"]:
            return None
        return self._schedule(s), float(s["return_k_per_room_k"])

    @staticmethod
    def _strategy(s: dict[str, Any]) -> StationStrategySettings:
        kw = {k: s[k] for k in _STRATEGY_FIELDS}
        kw["coldest_rank"] = int(kw["coldest_rank"])
        kw["starved_min"] = int(kw["starved_min"])
        strategy = StationStrategySettings(
            pump=s["pump"] != "off", weather=s["weather"] != "off", **kw
        )
        if strategy.speed_max > 1.0:
            raise StationSettingsError("speed_max above 1.0: 1.0 is the pump's full speed")
        return strategy

    @staticmethod
    def _curve(s: dict[str, Any]) -> HeatingCurve:
        pts = s["curve"]
        if not all(isinstance(p, list | tuple) and len(p) == 2 for p in pts):
            raise StationSettingsError("a heating curve is a list of [t_outdoor_c, t_supply_c]")
        return HeatingCurve(tuple((float(a), float(b)) for a, b in pts))

    @staticmethod
    def _schedule(s: dict[str, Any]) -> schedmod.Schedule:
        return schedmod.parse(s["schedule"], utc_offset_h=float(s["utc_offset_h"]))

    # ------------------------------------------------------------ the loop ----
    def tick(self, now_s: float) -> None:
        """Run every station whose control is on and whose period has elapsed."""
        for station_id in self.storage.station_ids():
            due = self._next_run_s.get(station_id)
            if due is not None and now_s < due:
                continue
            s = self.settings(station_id)
            self._next_run_s[station_id] = now_s + s["period_s"]
            if due is None or not s["unit"] or s["pump"] == s["weather"] == "off":
                continue  # the first period starts now: the station has had no time to report
            try:
                self.run(station_id, "strategy", "period")
            except (StationControlError, CommandError) as exc:
                log.error("station control of %s failed: %s", station_id, exc)

    def run(self, station_id: str, who: str, trigger: str = "manual") -> dict[str, Any]:
        """Decide the station's pump and supply now, store the decision, publish it."""
        with self._lock:
            site = self._need_station(station_id)
            s = self.settings(station_id)
            unit = s["unit"]
            if not unit:
                raise StationControlError("no-unit", f"station {station_id} names no unit")
            if s["pump"] == s["weather"] == "off":
                raise StationControlError("off", f"both strategies of {station_id} are off")
            now_s = self.clock()
            msg = self.latest(site, unit)
            record = (msg or {}).get("station")
            stored, state_doc = self.storage.station_control(station_id)
            strategy = self._strategy(s)
            row: dict[str, Any] = {
                "station_id": station_id,
                "ts_s": now_s,
                "trigger": trigger,
                "site": site,
                "unit": unit,
                "pump_speed_pct": None,
                "t_supply_c": None,
                "offset_c": None,
                "desired_version": None,
            }
            if record is None or record.get("mode") == "offline":
                why = "no-station-record" if record is None else "station-offline"
                row.update(pump_reason=why, supply_reason=why, outcome=why, inputs={})
                row["id"] = self.storage.add_station_decision(row)
                return row
            state = self._state(state_doc, record, strategy)
            inputs = self._inputs(station_id, s, now_s, record)
            decision, new_state = decide_station(inputs, state, strategy, self._curve(s))
            speed_pct = (
                round(100.0 * decision.pump_speed, 1) if decision.pump_speed is not None else None
            )
            if s["pump"] == "off":
                speed_pct = None
            supply = round(decision.t_supply_c, 1) if decision.t_supply_c is not None else None
            if s["weather"] == "off":
                supply = None
            body = {
                "valid_for_s": int(s["valid_for_s"]),
                "pump_speed_pct": speed_pct,
                "t_supply_c": supply,
            }
            version, outcome = self._publish(site, unit, body, now_s, s, who)
            row.update(
                pump_speed_pct=speed_pct,
                t_supply_c=supply,
                offset_c=round(decision.offset_c, 3),
                pump_reason=decision.pump_reason,
                supply_reason=decision.supply_reason,
                inputs={**decision.inputs, "station_mode": record.get("mode")},
                desired_version=version,
                outcome=outcome,
            )
            with self.storage.transaction():
                row["id"] = self.storage.add_station_decision(row)
                self.storage.save_station_control(
                    station_id, stored, _state_doc(new_state), now_s, "strategy"
                )
        log.info(
            "station %s: pump %s %% (%s), supply %s degC (%s), %s",
            station_id,
            speed_pct,
            decision.pump_reason,
            supply,
            decision.supply_reason,
            outcome,
        )
        return row

    def start_pump_from(self, station_id: str, speed: float, who: str) -> dict[str, Any] | None:
        """Model-based balancing's pump speed (a fraction of full speed) as the pump
        strategy's new starting point, held like a change of its own; decided and sent at
        once where the pump strategy is on."""
        with self._lock:
            s = self.settings(station_id)
            strategy = self._strategy(s)
            now_s = self.clock()
            stored, doc = self.storage.station_control(station_id)
            offset = float(doc.get("offset_c", 0.0)) if doc else 0.0
            speed = min(max(speed, strategy.speed_min), strategy.speed_max)
            state = StationState(speed, offset, now_s)
            with self.storage.transaction():
                self.storage.save_station_control(
                    station_id, stored, _state_doc(state), now_s, who
                )
                self.storage.add_station_decision(
                    {
                        "station_id": station_id,
                        "ts_s": now_s,
                        "trigger": "feed_forward",
                        "site": self.storage.station_site(station_id),
                        "unit": s["unit"],
                        "pump_speed_pct": round(100.0 * speed, 1),
                        "t_supply_c": None,
                        "offset_c": offset,
                        "pump_reason": "feed_forward",
                        "supply_reason": "unchanged",
                        "inputs": {"model_speed": speed},
                        "desired_version": None,
                        "outcome": "state",
                    }
                )
        if s["unit"] and s["pump"] != "off":
            return self.run(station_id, who, "feed_forward")
        return None

    def _state(
        self,
        doc: dict[str, Any] | None,
        record: dict[str, Any],
        strategy: StationStrategySettings,
    ) -> StationState:
        if doc is not None:
            changed = doc.get("speed_changed_s")
            return StationState(
                float(doc["pump_speed"]),
                float(doc.get("offset_c", 0.0)),
                float("-inf") if changed is None else float(changed),
            )
        reported = record.get("pump_speed_pct")  # start from where the station is
        speed = reported / 100.0 if reported is not None else strategy.speed_max
        return StationState(min(max(speed, strategy.speed_min), strategy.speed_max))

    def _inputs(self, station_id: str, s: dict[str, Any], now_s: float, record: dict[str, Any]):
        rooms = self.rooms.run(station_id)
        cfg = room_led.RoomSettings()
        by_hh = rooms.by_household()
        members = []
        own: list[room_led.Room | None] = []
        for h in rooms.households:
            value = by_hh.get(str(h["household_id"]))
            room = room_led.Room(*value) if value is not None else None
            own.append(room)
            members.append(
                (str(h["unit"]), h.get("point") or None, str(h.get("household_type") or ""), room)
            )
        valve_rooms = room_led.valve_rooms(members, ENTRANCE_VALVE, cfg)
        openings = []
        for site, unit, _points in self.storage.station_layout(station_id):
            msg = self.latest(site, unit) or {"valves": []}
            for v in msg["valves"]:
                if v.get("opening_cmd_pct") is not None:
                    openings.append((f"{unit}/{v['id']}", float(v["opening_cmd_pct"])))
        t_out = record.get("t_outdoor_c")
        if t_out is None:
            found = self.storage.station_outdoor_c(station_id, int(now_s - 2 * 3600))
            t_out = found[1] if found else None
        shift = 0.0
        if "scheduled" in (s["pump"], s["weather"]):
            shift = self._schedule(s).shift_c(now_s)
        return station_inputs(
            now_s, t_out, openings, valve_rooms, own, cfg.max_se_c, float(s["period_s"]), shift
        )

    def _publish(
        self, site: str, unit: str, body: dict[str, Any], now_s: float, s: dict[str, Any], who: str
    ) -> tuple[int | None, str]:
        """Issue the command when it changed or half its validity has passed."""
        last = self.desired.payload(site, unit, "station")
        if last is not None:
            same = all(last.get(k) == body.get(k) for k in ("pump_speed_pct", "t_supply_c"))
            fresh = now_s - float(last["ts_s"]) < 0.5 * float(last.get("valid_for_s", 0))
            if same and fresh:
                return None, "unchanged"
        return self.desired.set(site, unit, "station", body, who), "published"

    def _release(self, station_id: str, site: str, s: dict[str, Any], who: str) -> None:
        """Both strategies off: a command without set-points hands the station back."""
        try:
            self.desired.set(site, s["unit"], "station", {"valid_for_s": 600}, who)
        except CommandError as exc:
            log.warning("could not release station %s: %s", station_id, exc)

    def decisions(self, station_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first: the station's decisions with their inputs and outcomes."""
        self._need_station(station_id)
        return self.storage.station_decisions(station_id, limit)


def _state_doc(state: StationState) -> dict[str, Any]:
    """The state as JSON can hold it (no change yet: null, not -inf)."""
    doc = asdict(state)
    if not math.isfinite(doc["speed_changed_s"]):
        doc["speed_changed_s"] = None
    return doc
