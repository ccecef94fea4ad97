"""The host's balancing loop: every control period, per station, decide and push targets.

For each station of the registry, every `period_s` (the station's own setting, else
[strategy] period_s): build one reading per valve from the newest telemetry of its board
(`Ingest.latest`) and the entrance heat meter's flow, run host.control.strategy.equalise
(horizontal, then vertical), and publish every board whose targets changed through the
desired-state mechanism (host/control/desired.py: versioned, retained, acknowledged, audited). A
board's message always carries its complete target set, since only the last retained message
survives on the broker.

Every decision, changed or not, is recorded in `decisions` with its inputs and reason, so an
operator can see why a target moved (or why it did not: "stale", "hysteresis", ...). A valve
an operator has overridden (a fixed target or a manual opening) is left out of the strategy
until released. Per-station settings live in `strategy_settings` and are checked by
StrategySettings before anything is stored.

Thread-safety: `tick` runs on the service's ingest thread; the API calls `run_station`,
`set_settings`, `override` from its own threads. A lock makes runs of one balancer serial.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from host.control.desired import CommandError, Desired
from host.control.room_estimates import RoomEstimator, StationRooms
from host.control.strategy import room_led
from host.control.strategy.equalise import (
    TYPE_OFFSET_C,
    Decision,
    StrategySettings,
    ValveReading,
    balance_station,
)
from host.control.strategy.feed_forward import FeedForwardError, FeedForwardSettings
from host.control.strategy.schedule import Schedule
from host.errors import RefusedError
from host.service.config import StrategyConfig
from host.storage import Storage

log = logging.getLogger(__name__)

Latest = Callable[[str, str], dict[str, Any] | None]  # (site, unit) -> newest tele message
ENTRANCE_VALVE = "entrance"
_EXTRA_SETTINGS = (
    "period_s",
    "enabled",
    "offsets",
    "household_type_offsets",
    "mode",
    "building_modes",
    "feed_forward",
)
_LEARNED = "room_offsets"  # stored with the settings, not one of them: what room mode learned


class BalancerError(RefusedError, ValueError):
    """A refused balancing command; `reason` is a short code, `detail` says why."""


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BalancerError("bad-value", f"{name} must be a finite number, not {value!r}")
    return float(value)


def _offsets(value: Any, name: str) -> dict[str, float]:
    if not isinstance(value, dict):
        raise BalancerError("bad-value", f"{name} must be an object of name -> degC")
    out = {}
    for key, offset in value.items():
        off = _number(offset, f"{name}.{key}")
        if not -20.0 <= off <= 20.0:
            raise BalancerError("bad-value", f"{name}.{key} = {off} outside -20..20 degC")
        out[str(key)] = off
    return out


def _mode(value: Any, name: str) -> str:
    if value not in room_led.MODES:
        raise BalancerError("bad-value", f"{name} must be one of {list(room_led.MODES)}")
    return str(value)


#: Model-based balancing (host/control/model_balancing.py): off while no files are named.
FEED_FORWARD_DEFAULTS: dict[str, Any] = {
    "network_file": None,
    "estimate_file": None,
    "flow_share": 1.0,
    "max_age_days": 120.0,
    "max_rel_se": 0.3,
    "speed_min": 0.3,
    "speed_max": 1.0,
}


def _feed_forward(value: Any, old: dict[str, Any]) -> dict[str, Any]:  # noqa: ANN401
    if not isinstance(value, dict):
        raise BalancerError("bad-value", "feed_forward must be an object")
    new = {**old}
    for key, x in value.items():
        if key not in FEED_FORWARD_DEFAULTS:
            raise BalancerError(
                "unknown-setting", f"feed_forward.{key}; one of {sorted(FEED_FORWARD_DEFAULTS)}"
            )
        if key.endswith("_file"):
            if x is not None and (not isinstance(x, str) or not Path(x).is_file()):
                raise BalancerError("bad-value", f"feed_forward.{key}: no file {x!r}")
            new[key] = x
        else:
            new[key] = _number(x, f"feed_forward.{key}")
    try:
        feed_forward_settings(new)
    except FeedForwardError as exc:
        raise BalancerError("bad-value", f"feed_forward: {exc}") from None
    return new


def feed_forward_settings(ff: dict[str, Any]) -> FeedForwardSettings:
    """The planner's settings from a station's `feed_forward` setting."""
    return FeedForwardSettings(
        max_age_s=float(ff["max_age_days"]) * 86400.0,
        max_rel_se=float(ff["max_rel_se"]),
        flow_share=float(ff["flow_share"]),
        speed_min=float(ff["speed_min"]),
        speed_max=float(ff["speed_max"]),
    )


class Balancer:
    """Runs the first balancing strategy for every station the registry knows."""

    def __init__(
        self,
        storage: Storage,
        desired: Desired,
        latest: Latest,
        cfg: StrategyConfig,
        clock: Callable[[], float],
    ) -> None:
        self.storage = storage
        self.desired = desired
        self.latest = latest
        self.cfg = cfg
        self.clock = clock
        self._lock = threading.RLock()
        self._next_run_s: dict[str, float] = {}
        self.rooms = RoomEstimator(storage, clock)
        # the station's time-division schedule for valve targets and the return shift per K
        # of room shift, or None (host/control/station_control.py `valves: scheduled`)
        self.schedule_of: Callable[[str], tuple[Schedule, float] | None] | None = None

    # ------------------------------------------------------------ registry view ----
    def stations(self) -> list[str]:
        return self.storage.station_ids()

    def _need_station(self, station_id: str) -> None:
        if not self.storage.registry_has("stations", station_id):
            raise BalancerError("unknown-station", f"no station {station_id!r}")

    def _layout(self, station_id: str) -> list[tuple[str, str, dict[str, str | None]]]:
        """(site, unit, {household valve point: household type}) of every entrance."""
        return self.storage.station_layout(station_id)

    # ------------------------------------------------------------ settings ----
    def settings(self, station_id: str) -> dict[str, Any]:
        """Every setting of a station: the strategy's, the period, offsets (defaults filled)."""
        self._need_station(station_id)
        out: dict[str, Any] = asdict(StrategySettings())
        out.update(
            period_s=self.cfg.period_s,
            enabled=self.cfg.enabled,
            offsets={},
            household_type_offsets=dict(TYPE_OFFSET_C),
            mode="return",
            building_modes={},
            feed_forward=dict(FEED_FORWARD_DEFAULTS),
        )
        stored = self.storage.strategy_settings(station_id)
        if stored:
            out.update({k: v for k, v in stored.items() if k != _LEARNED})
        return out

    def learned_offsets(self, station_id: str) -> dict[str, float]:
        """What room mode has learned: offset (degC) by `unit/valve`."""
        stored = self.storage.strategy_settings(station_id) or {}
        return dict(stored.get(_LEARNED, {}))

    def _strategy_settings(self, settings: dict[str, Any]) -> StrategySettings:
        names = {f.name for f in fields(StrategySettings)}
        return StrategySettings(**{k: v for k, v in settings.items() if k in names})

    def set_settings(self, station_id: str, changes: dict[str, Any], who: str) -> dict[str, Any]:
        """Change some settings of a station; refused as a whole (and audited) if any is bad."""
        try:
            new = self._checked(station_id, changes)
        except BalancerError as exc:
            with self.storage.transaction():
                self.storage.audit(who, "set_strategy", station_id, changes, f"refused: {exc}")
            raise
        stored = {k: v for k, v in new.items() if k in changes or self._is_stored(station_id, k)}
        learned = self.learned_offsets(station_id)
        if learned:
            stored[_LEARNED] = learned
        with self.storage.transaction():
            self.storage.save_strategy_settings(station_id, stored, self.clock(), who)
            self.storage.audit(who, "set_strategy", station_id, changes, "done")
        if "period_s" in changes:
            self._next_run_s.pop(station_id, None)
        return new

    def _is_stored(self, station_id: str, key: str) -> bool:
        stored = self.storage.strategy_settings(station_id)
        return stored is not None and key in stored

    def _checked(self, station_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(changes, dict) or not changes:
            raise BalancerError("bad-value", "give at least one setting to change")
        new = self.settings(station_id)
        known = set(new)
        for key, value in changes.items():
            if key not in known:
                raise BalancerError("unknown-setting", f"{key!r}; one of {sorted(known)}")
            if key == "enabled":
                if not isinstance(value, bool):
                    raise BalancerError("bad-value", "enabled must be true or false")
                new[key] = value
            elif key in ("offsets", "household_type_offsets"):
                new[key] = _offsets(value, key)
            elif key == "mode":
                new[key] = _mode(value, key)
            elif key == "feed_forward":
                new[key] = _feed_forward(value, new[key])
            elif key == "building_modes":
                if not isinstance(value, dict):
                    raise BalancerError("bad-value", "building_modes must be an object")
                new[key] = {str(b): _mode(m, f"building_modes.{b}") for b, m in value.items()}
            else:
                new[key] = _number(value, key)
        if new["period_s"] < 60:
            raise BalancerError("bad-value", "period_s must be at least 60 s")
        try:
            self._strategy_settings(new)
        except ValueError as exc:
            raise BalancerError("bad-value", str(exc)) from None
        return new

    # ------------------------------------------------------------ the loop ----
    def tick(self, now_s: float) -> None:
        """Run every enabled station whose period has elapsed (called by the service)."""
        for station_id in self.stations():
            due = self._next_run_s.get(station_id)
            if due is not None and now_s < due:
                continue
            settings = self.settings(station_id)
            self._next_run_s[station_id] = now_s + settings["period_s"]
            if due is None or not settings["enabled"]:
                continue  # the first period starts now: boards have had no time to report
            try:
                self.run_station(station_id, "strategy", "period")
            except (BalancerError, CommandError) as exc:
                log.error("balancing %s failed: %s", station_id, exc)

    def run_station(self, station_id: str, who: str, trigger: str = "manual") -> dict[str, Any]:
        """Decide and publish one station's targets now; return the run with its decisions."""
        with self._lock:
            settings = self.settings(station_id)
            strategy = self._strategy_settings(settings)
            now_s = self.clock()
            overridden = {(o["site"], o["unit"], o["valve"]) for o in self.overrides()}
            rooms = self.rooms.run(station_id)
            shifts, k_return = self._shifts(station_id, rooms, now_s)
            room_inputs = self._room_inputs(station_id, settings, strategy, rooms, shifts)
            entrances, households, sites = self._readings(
                station_id, settings, overridden, room_inputs, shifts, k_return
            )
            decisions = balance_station(entrances, households, now_s, strategy)
            for d in decisions:
                d.inputs.update(room_inputs.notes.get(f"{d.unit}/{d.valve}", {"mode": "return"}))
            published = self._publish(decisions, sites, who)
            run_id = self._record(station_id, now_s, decisions, sites, published, trigger)
            with self.storage.transaction():
                self.storage.audit(
                    who,
                    "balance_station",
                    station_id,
                    {"trigger": trigger, "run_id": run_id, "published": published},
                    "done",
                )
        changed = sum(d.changed for d in decisions)
        log.info(
            "balanced %s (%s): %d valves, %d changed, %d boards published",
            station_id,
            trigger,
            len(decisions),
            changed,
            len(published),
        )
        return {
            "run_id": run_id,
            "station_id": station_id,
            "ts_s": now_s,
            "trigger": trigger,
            "decisions": [_decision_dict(d, sites[d.unit]) for d in decisions],
            "published": published,
        }

    def _shifts(
        self, station_id: str, rooms: StationRooms, now_s: float
    ) -> tuple[dict[str, float], float]:
        """The scheduled room-target shift (K) of every valve where one holds now, by
        "unit/valve": a household valve its household's (station, building and type
        periods), an entrance valve its building's; and the return K per room K."""
        found = self.schedule_of(station_id) if self.schedule_of is not None else None
        if found is None:
            return {}, 0.0
        schedule, k_return = found
        out: dict[str, float] = {}
        for h in rooms.households:
            unit, building = str(h["unit"]), str(h.get("building_id") or "")
            if h.get("point"):
                kind = str(h.get("household_type") or "") or None
                out[f"{unit}/{h['point']}"] = schedule.shift_c(now_s, building, kind)
            out[f"{unit}/{ENTRANCE_VALVE}"] = schedule.shift_c(now_s, building, None)
        return {k: v for k, v in out.items() if v}, k_return

    def _room_inputs(
        self,
        station_id: str,
        settings: dict[str, Any],
        strategy: StrategySettings,
        rooms: StationRooms,
        shifts: Mapping[str, float] | None = None,
    ) -> _RoomInputs:
        """Room mode's part of a run: each valve's room and its learned offset (stored)."""
        cfg = room_led.RoomSettings(
            target_c=strategy.room_target_c,
            floor_c=strategy.room_floor_c,
            gain_c_per_k_h=strategy.room_offset_gain_c_per_k_h,
            max_se_c=strategy.room_max_se_c,
        )
        modes = settings["building_modes"]
        by_hh = rooms.by_household()
        building_of = {str(h["unit"]): str(h.get("building_id") or "") for h in rooms.households}
        members = []
        for h in rooms.households:
            value = by_hh.get(str(h["household_id"]))
            room = room_led.Room(*value) if value is not None else None
            kind = str(h.get("household_type") or "")
            members.append((str(h["unit"]), h.get("point") or None, kind, room))
        valve_rooms = room_led.valve_rooms(members, ENTRANCE_VALVE, cfg)
        in_room_mode = {
            key
            for key in valve_rooms
            if modes.get(building_of.get(key.split("/", 1)[0], ""), settings["mode"]) == "room"
        }
        learned = self.learned_offsets(station_id)
        priors = {
            f"{h['unit']}/{h['point']}": settings["household_type_offsets"].get(
                str(h.get("household_type") or ""), 0.0
            )
            for h in rooms.households
            if h.get("point")
        }
        dt_h = float(settings["period_s"]) / 3600.0
        openings: dict[str, float | None] = {}
        for site, unit in {(str(h["site"]), str(h["unit"])) for h in rooms.households}:
            msg = self.latest(site, unit) or {"valves": []}
            for v in msg["valves"]:
                openings[f"{unit}/{v['id']}"] = v.get("opening_cmd_pct")
        # a scheduled shift is not a reason to learn anything: those valves hold their offsets
        shifts = shifts or {}
        learning = {k: valve_rooms[k] for k in in_room_mode if k not in shifts}
        groups = room_led.groups_of(list(learning), ENTRANCE_VALVE)
        new, why = room_led.learn_all(learned, priors, learning, cfg, dt_h, openings, groups)
        for key in in_room_mode - set(learning):
            new[key] = learned.get(key, priors.get(key, 0.0))
            why[key] = "scheduled"
        if new != {k: learned.get(k) for k in new}:
            stored = self.storage.strategy_settings(station_id) or {}
            stored[_LEARNED] = {**learned, **new}
            with self.storage.transaction():
                self.storage.save_strategy_settings(station_id, stored, self.clock(), "strategy")
        notes: dict[str, dict[str, Any]] = {}
        for key, room in valve_rooms.items():
            mode = "room" if key in in_room_mode else "return"
            note: dict[str, Any] = {"mode": mode}
            if room is not None:
                note.update(t_room_c=round(room.t_room_c, 2), room_se_c=round(room.se_c, 2))
                note["room_measured"] = room.measured
                if room.pooled:
                    note["room_pooled_by_type"] = True
            if mode == "room":
                note.update(learned_offset_c=new[key], room_note=why[key])
            if key in shifts:
                note["schedule_shift_c"] = shifts[key]
            notes[key] = note
        if rooms.problem:
            for note in notes.values():
                note["room_problem"] = rooms.problem
        return _RoomInputs({k: new[k] for k in in_room_mode}, notes)

    def _readings(
        self,
        station_id: str,
        settings: dict[str, Any],
        overridden: set[tuple[str, str, str]],
        room_inputs: _RoomInputs | None = None,
        shifts: Mapping[str, float] | None = None,
        k_return: float = 0.0,
    ) -> tuple[list[ValveReading], dict[str, list[ValveReading]], dict[str, str]]:
        entrances: list[ValveReading] = []
        households: dict[str, list[ValveReading]] = {}
        sites: dict[str, str] = {}
        offsets = settings["offsets"]
        type_offsets = settings["household_type_offsets"]
        for site, unit, points in self._layout(station_id):
            sites[unit] = site
            msg = self.latest(site, unit)
            if msg is None:
                continue  # never heard of since start: nothing to decide, its target stays
            desired = self.desired.payload(site, unit, "targets") or {}
            in_force = desired.get("targets", {})
            flow = (msg.get("entrance") or {}).get("flow_m3h")
            for v in msg["valves"]:
                vid = v["id"]
                if (site, unit, vid) in overridden:
                    continue
                is_entrance = vid == ENTRANCE_VALVE
                target = in_force.get(vid, {}).get("t_return_c", v.get("target_c"))
                key = f"{unit}/{vid}"
                offset = offsets.get(key, 0.0)
                if room_inputs is not None and key in room_inputs.offsets_c:
                    offset += room_inputs.offsets_c[key]  # learned, from the type's prior
                elif not is_entrance:
                    offset += type_offsets.get(points.get(vid) or "", 0.0)
                offset += k_return * (shifts or {}).get(key, 0.0)
                reading = ValveReading(
                    unit=unit,
                    valve=vid,
                    t_return_c=v.get("t_return_c") if v.get("sensor_ok", True) else None,
                    flow_m3h=flow if is_entrance else None,
                    measured_at_s=float(msg["ts_s"]),
                    target_c=target,
                    offset_c=offset,
                    opening_pct=v.get("opening_cmd_pct"),
                    household_type=None if is_entrance else points.get(vid),
                )
                if is_entrance:
                    entrances.append(reading)
                else:
                    households.setdefault(unit, []).append(reading)
        return entrances, households, sites

    def _publish(self, decisions: list[Decision], sites: dict[str, str], who: str):
        by_unit: dict[str, dict[str, float]] = {}
        for d in decisions:
            if d.changed and d.new_target_c is not None:
                by_unit.setdefault(d.unit, {})[d.valve] = d.new_target_c
        published: dict[str, int] = {}
        for unit, changes in sorted(by_unit.items()):
            site = sites[unit]
            targets = self._complete(site, unit)
            for vid, t_c in changes.items():
                targets[vid] = {**targets.get(vid, {}), "t_return_c": t_c}
            published[unit] = self.desired.set(site, unit, "targets", {"targets": targets}, who)
        return published

    def push_feed_forward(
        self,
        station_id: str,
        openings_pct: Mapping[tuple[str, str], float],
        inputs: dict[str, Any],
        who: str,
        trigger: str,
    ) -> dict[str, Any]:
        """Publish each valve's feed-forward opening (% by (unit, valve)) in its board's
        complete targets, targets unchanged; record one decision per valve (reason
        `feed_forward`, the plan in its inputs). A valve overridden by an operator, or with no
        target known yet, is left out."""
        with self._lock:
            now_s = self.clock()
            overridden = {(o["unit"], o["valve"]) for o in self.overrides()}
            sites = {unit: site for site, unit, _ in self._layout(station_id)}
            by_unit: dict[str, dict[str, float]] = {}
            for (unit, valve), pct in openings_pct.items():
                if unit in sites and (unit, valve) not in overridden:
                    by_unit.setdefault(unit, {})[valve] = pct
            published: dict[str, int] = {}
            rows = []
            for unit, changes in sorted(by_unit.items()):
                site = sites[unit]
                targets = self._complete(site, unit)
                reported = {
                    v["id"]: v.get("target_c")
                    for v in (self.latest(site, unit) or {}).get("valves", [])
                }
                for valve, pct in changes.items():
                    t_c = targets.get(valve, {}).get("t_return_c", reported.get(valve))
                    if t_c is None:
                        continue
                    targets[valve] = {**targets.get(valve, {}), "t_return_c": t_c}
                    targets[valve]["opening_ff_pct"] = pct
                    rows.append((site, unit, valve, t_c, pct))
                if targets:
                    published[unit] = self.desired.set(
                        site, unit, "targets", {"targets": targets}, who
                    )
            record = [
                {
                    "site": site,
                    "unit": unit,
                    "valve": valve,
                    "old_target_c": t_c,
                    "new_target_c": t_c,
                    "reason": "feed_forward",
                    "group_mean_c": None,
                    "inputs": {**inputs, "opening_ff_pct": pct},
                    "desired_version": published.get(unit),
                }
                for site, unit, valve, t_c, pct in rows
            ]
            run_id = self.storage.record_run(station_id, now_s, trigger, record)
        return {"run_id": run_id, "valves": len(record), "published": published}

    def _complete(self, site: str, unit: str) -> dict[str, dict[str, Any]]:
        """The board's complete target set in force (a copy), to change and republish."""
        payload = self.desired.payload(site, unit, "targets") or {}
        return {vid: dict(t) for vid, t in payload.get("targets", {}).items()}

    def _record(self, station_id, now_s, decisions, sites, published, trigger) -> int:
        rows = [
            {
                "site": sites[d.unit],
                "unit": d.unit,
                "valve": d.valve,
                "old_target_c": d.old_target_c,
                "new_target_c": d.new_target_c,
                "reason": d.reason,
                "group_mean_c": d.group_mean_c,
                "inputs": d.inputs,
                "desired_version": published.get(d.unit) if d.changed else None,
            }
            for d in decisions
        ]
        return self.storage.record_run(station_id, now_s, trigger, rows)

    def decisions(
        self, station_id: str, since_s: float | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        """Newest first: every recorded decision of a station, with its inputs."""
        self._need_station(station_id)
        return self.storage.decisions(station_id, since_s, limit)

    def station_summary(self, station_id: str) -> dict[str, Any]:
        """What the host sees of a station now: the spread of its entrances' newest return
        temperatures (degC, fresh readings only), how many boards report, the last run."""
        settings = self.settings(station_id)
        now_s = self.clock()
        returns: dict[str, float] = {}
        layout = self._layout(station_id)
        for site, unit, _points in layout:
            msg = self.latest(site, unit)
            if msg is None or not 0 <= now_s - msg["ts_s"] <= settings["stale_after_s"]:
                continue
            for v in msg["valves"]:
                if v["id"] == ENTRANCE_VALVE and v.get("t_return_c") is not None:
                    returns[unit] = float(v["t_return_c"])
        mean_c = sum(returns.values()) / len(returns) if returns else None
        last = self.storage.last_run(station_id)
        return {
            "station_id": station_id,
            "ts_s": now_s,
            "entrances": len(layout),
            "reporting": len(returns),
            "t_return_mean_c": mean_c,
            "t_return_min_c": min(returns.values()) if returns else None,
            "t_return_max_c": max(returns.values()) if returns else None,
            # the largest deviation from the mean: "within +-x K"
            "t_return_spread_k": (
                max(abs(t - mean_c) for t in returns.values()) if mean_c is not None else None
            ),
            "last_run": (
                {
                    "run_id": int(last[0]),
                    "ts_s": last[1],
                    "trigger": last[2],
                    "valves_changed": int(last[3]),
                }
                if last
                else None
            ),
        }

    # ------------------------------------------------------------ overrides ----
    def overrides(self) -> list[dict[str, Any]]:
        return self.storage.overrides()

    def override(
        self,
        site: str,
        unit: str,
        valve: str,
        who: str,
        target_c: float | None = None,
        opening_pct: float | None = None,
    ) -> int:
        """Take a valve out of the strategy: hold `target_c`, or a manual `opening_pct`.
        Returns the desired-targets version that carries it."""
        detail = {"valve": valve, "target_c": target_c, "opening_pct": opening_pct}
        try:
            targets = self._override_targets(site, unit, valve, target_c, opening_pct)
        except BalancerError as exc:
            with self.storage.transaction():
                self.storage.audit(who, "override", f"{site}/{unit}", detail, f"refused: {exc}")
            raise
        with self._lock:
            try:
                version = self.desired.set(site, unit, "targets", {"targets": targets}, who)
            except CommandError as exc:
                raise BalancerError(exc.reason, str(exc)) from None
            with self.storage.transaction():
                self.storage.set_override(
                    site, unit, valve, target_c, opening_pct, self.clock(), who
                )
                self.storage.audit(who, "override", f"{site}/{unit}", detail, "done")
        return version

    def _override_targets(self, site, unit, valve, target_c, opening_pct):
        if (target_c is None) == (opening_pct is None):
            raise BalancerError("bad-value", "give exactly one of target_c and opening_pct")
        if self.storage.unit_id(site, unit) is None:
            raise BalancerError("unknown-unit", f"{site}/{unit}")
        msg = self.latest(site, unit)
        known = {v["id"] for v in msg["valves"]} if msg else set()
        targets = self._complete(site, unit)
        if valve not in known and valve not in targets:
            raise BalancerError("unknown-valve", f"{site}/{unit} has reported no valve {valve!r}")
        entry = dict(targets.get(valve, {}))
        if target_c is not None:
            t = _number(target_c, "target_c")
            if not 15.0 <= t <= 95.0:
                raise BalancerError("bad-value", f"target_c {t} outside 15..95 degC")
            entry["t_return_c"] = t
            entry.pop("manual_opening_pct", None)
        else:
            x = _number(opening_pct, "opening_pct")
            if not 0.0 <= x <= 100.0:
                raise BalancerError("bad-value", f"opening_pct {x} outside 0..100 %")
            entry["manual_opening_pct"] = x
            if "t_return_c" not in entry:
                reported = next(v for v in msg["valves"] if v["id"] == valve) if msg else {}
                entry["t_return_c"] = reported.get("target_c") or reported.get("t_return_c")
            if entry["t_return_c"] is None:
                raise BalancerError("bad-value", f"{valve!r} has no target to resume with")
        targets[valve] = entry
        return targets

    def release(self, site: str, unit: str, valve: str, who: str) -> int:
        """Give an overridden valve back to the strategy (a manual opening ends: the loop
        resumes from it). Returns the desired-targets version that releases it."""
        with self._lock:
            if not self.storage.is_overridden(site, unit, valve):
                exc = BalancerError("not-overridden", f"{site}/{unit} {valve!r}")
                with self.storage.transaction():
                    self.storage.audit(who, "release", f"{site}/{unit}", valve, f"refused: {exc}")
                raise exc
            targets = self._complete(site, unit)
            targets.get(valve, {}).pop("manual_opening_pct", None)
            version = self.desired.set(site, unit, "targets", {"targets": targets}, who)
            with self.storage.transaction():
                self.storage.drop_override(site, unit, valve)
                self.storage.audit(who, "release", f"{site}/{unit}", valve, "done")
        return version


@dataclass(frozen=True)
class _RoomInputs:
    """Room mode's inputs to a run, by `unit/valve`: the learned offsets (degC) of the valves
    in room mode, and a note for every valve's decision record (its room, mode, learning)."""

    offsets_c: dict[str, float]
    notes: dict[str, dict[str, Any]]


def _decision_dict(d: Decision, site: str) -> dict[str, Any]:
    return {
        "site": site,
        "unit": d.unit,
        "valve": d.valve,
        "old_target_c": d.old_target_c,
        "new_target_c": d.new_target_c,
        "reason": d.reason,
        "changed": d.changed,
        "group_mean_c": d.group_mean_c,
        "inputs": d.inputs,
    }
