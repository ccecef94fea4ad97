"""Room-led balancing in the simulator's host hook: the host's room estimator and room mode
(host.models.rooms, host.control.strategy.room_led) on the boards' telemetry, in process.

Like sim.host_strategy.EqualiseStrategy it sees only what the host would: each board's
latest record (returns, openings, targets, room readings with the board's own verdict,
the entrance's supply and outdoor temperatures), the heat meters, and the registry's
household types, valve points and sensor links. Room readings are judged by the host's
plausibility rules (host.control.room_sensors: a window-sill sensor's swings, a stuck one),
on the readings this hook sees, the latest of each board per decision. It keeps the history
the estimator needs (one snapshot per decision), estimates every household's room, and in
room mode learns each valve's offset from its room as the host does (room_led.valve_rooms
and learn_all, with the boards' commanded openings for anti-windup). `mode="return"` runs
the same estimator (for the benchmark's accuracy figures) but balances by returns alone,
with the fixed household-type offsets.

With ``station`` settings it also runs the station strategies (host.control.strategy.station:
the pump follows the valves, the supply follows the weather curve with a trimmed offset) on
the same rooms and openings, and asks the simulated station for their pump speed and supply
set-point (``station_log`` keeps every station decision). A ``schedule``
(host.control.strategy.schedule; its station-wide periods) shifts the station's targets and
supply, and pauses room-mode learning while a shift holds.

With ``feed_forward_pct`` (model-based balancing: host.control.strategy.feed_forward's plan,
by ``unit/valve``) every valve's targets carry its feed-forward opening, as the host's
balancer sends them: the first decision gives every valve its opening (its target as the
board reports it) and moves no target; for ``ff_settle_s`` no target moves while the valves
get there; then each valve's offset is seeded from its return measured at the plan
(``plan_offsets``), so equalisation holds the planned flows and room learning trims from
them (``seed_from_plan=False``: the plan goes out with this decision's targets and the
offsets stay as they are). Later decisions keep the opening in every target they change.

`log` keeps (time, estimates) of every decision, for benchmarks to judge against truth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from host.control.room_sensors import SensorState
from host.control.strategy import room_led
from host.control.strategy.equalise import StrategySettings
from host.control.strategy.feed_forward import FeedForwardSettings, FrictionEstimate, plan
from host.control.strategy.schedule import Schedule
from host.control.strategy.station import (
    HeatingCurve,
    StationDecision,
    StationState,
    StationStrategySettings,
    decide_station,
    station_inputs,
)
from host.models.estimation.adapter import nominal_s
from host.models.rooms.estimate import (
    RoomEstimateError,
    RoomEstimates,
    StationHistory,
    estimate_station,
    fill_gaps,
)
from sim.host_strategy import HostDecision, equalise_records
from sim.virtual_board import EPOCH_S


@dataclass(frozen=True)
class HouseholdLink:
    """What the registry says of one household: its unit, valve point, type, sensor."""

    unit: str
    point: str | None
    household_type: str
    sensor: str | None


class RoomLedStrategy:
    """Equalisation with room-led offsets (mode "room") or fixed ones (mode "return")."""

    def __init__(
        self,
        households: Sequence[HouseholdLink],
        type_offsets_c: Mapping[str, float],
        mode: str = "room",
        period_s: float = 900.0,
        history_h: float = 48.0,
        settings: StrategySettings | None = None,
        station: StationStrategySettings | None = None,
        curve: HeatingCurve | None = None,
        pump_speed0: float = 1.0,
        schedule: Schedule | None = None,
        feed_forward_pct: Mapping[str, float] | None = None,
        seed_from_plan: bool = True,
    ):
        if mode not in room_led.MODES:
            raise ValueError(f"mode must be one of {room_led.MODES}")
        self.households = list(households)
        self.type_offsets = dict(type_offsets_c)
        self.mode = mode
        self.period_s = period_s
        self.settings = settings or StrategySettings()
        s = self.settings
        self.room_cfg = room_led.RoomSettings(
            target_c=s.room_target_c,
            floor_c=s.room_floor_c,
            gain_c_per_k_h=s.room_offset_gain_c_per_k_h,
            max_se_c=s.room_max_se_c,
        )
        self.steps = int(round(history_h * 3600.0 / period_s))
        self._hist: list[tuple[np.ndarray, np.ndarray, np.ndarray, float]] = []
        self.learned: dict[str, float] = {}
        self.log: list[tuple[float, RoomEstimates | None]] = []
        self._sensors: dict[str, SensorState] = {}
        self._flags: dict[str, str | None] = {}
        if station is not None and curve is None:
            raise ValueError("station strategies need the station's heating curve")
        self.station = station
        self.curve = curve
        self.station_state = StationState(pump_speed0)
        self.station_log: list[StationDecision] = []
        self.schedule = schedule
        self.feed_forward_pct = dict(feed_forward_pct or {})
        self._ff_sent_s: float | None = None  # when the plan went out
        self.ff_settle_s = 3600.0
        self.seed_from_plan = bool(feed_forward_pct) and seed_from_plan
        self.seeded_offsets: dict[str, float] = {}

    def _plausible(self, reading: dict[str, Any]) -> bool:
        """The host's verdict on a room reading (host.control.room_sensors' rules, judged on
        the readings this hook sees: the latest of each board per decision)."""
        sensor = reading["sensor"]
        state = self._sensors.setdefault(sensor, SensorState())
        ts = int(reading.get("ts_s", 0))
        if ts > state.last_ts:
            self._flags[sensor] = state.judge(
                ts, reading.get("t_room_c"), reading.get("sensor_ok")
            )
        return self._flags.get(sensor) is None

    def _snapshot(self, records: Mapping[str, dict[str, Any]]) -> np.ndarray:
        n = len(self.households)
        ts, tr, te, room = (np.full(n, np.nan) for _ in range(4))
        outdoor = []
        for i, h in enumerate(self.households):
            rec = records.get(h.unit)
            if rec is None:
                continue
            ent = rec.get("entrance") or {}
            valves = {v["id"]: v for v in rec["valves"]}
            ts[i] = _num(ent.get("t_supply_c"))
            te[i] = _num(valves.get("entrance", {}).get("t_return_c"))
            if h.point is not None:
                tr[i] = _num(valves.get(h.point, {}).get("t_return_c"))
            if h.sensor is not None:
                for r in rec.get("rooms", ()):
                    if r["sensor"] == h.sensor and self._plausible(r):
                        room[i] = r["t_room_c"]
        for rec in records.values():
            t_out = (rec.get("entrance") or {}).get("t_outdoor_c")
            if t_out is not None:
                outdoor.append(t_out)
        t_out_c = float(np.mean(outdoor)) if outdoor else float("nan")
        self._hist.append((ts, tr, te, t_out_c))
        del self._hist[: -self.steps]
        return room

    def estimate(self, room: np.ndarray) -> RoomEstimates | None:
        t_out = np.array([h[3] for h in self._hist])
        if len(self._hist) < 4 or not np.all(np.isfinite(t_out)):
            return None
        history = StationHistory(
            t_supply_c=fill_gaps(np.array([h[0] for h in self._hist])),
            t_return_c=fill_gaps(np.array([h[1] for h in self._hist])),
            t_entrance_return_c=fill_gaps(np.array([h[2] for h in self._hist])),
            t_out_c=t_out,
            t_room_c=room,
            household_type=tuple(h.household_type for h in self.households),
            step_s=self.period_s,
        )
        try:
            return estimate_station(history)
        except RoomEstimateError:
            return None

    def decide(
        self,
        now_s: float,
        records: Mapping[str, dict[str, Any]],
        meter_flow_m3h: Mapping[str, float],
    ) -> HostDecision:
        est = self.estimate(self._snapshot(records))
        self.log.append((now_s, est))
        members = []
        for i, h in enumerate(self.households):
            room = None
            if est is not None and np.isfinite(est.t_room_c[i]):
                room = room_led.Room(
                    float(est.t_room_c[i]),
                    float(est.se_c[i]),
                    bool(est.measured[i]),
                    float(est.se_type_c[i]),
                )
            members.append((h.unit, h.point, h.household_type, room))
        rooms = room_led.valve_rooms(members, "entrance", self.room_cfg)
        priors = {
            f"{h.unit}/{h.point}": self.type_offsets.get(h.household_type, 0.0)
            for h in self.households
            if h.point is not None
        }
        if self.seed_from_plan:
            if self._ff_sent_s is None or now_s < self._ff_sent_s + self.ff_settle_s:
                return self._hold_for_plan(now_s, records, rooms, est)
            if not self.seeded_offsets:
                self.seeded_offsets = plan_offsets(records)
                self.learned = dict(self.seeded_offsets)
            priors.update(self.seeded_offsets)
        shift = self.schedule.shift_c(now_s) if self.schedule is not None else 0.0
        if self.mode == "room" and not shift:
            dt_h = self.period_s / 3600.0
            openings = {
                f"{unit}/{v['id']}": v.get("opening_cmd_pct")
                for unit, rec in records.items()
                for v in rec["valves"]
            }
            groups = room_led.groups_of(list(rooms), "entrance")
            self.learned, _ = room_led.learn_all(
                self.learned, priors, rooms, self.room_cfg, dt_h, openings, groups
            )
            offsets = self.learned
        elif self.mode == "room":
            offsets = self.learned or priors  # a scheduled shift: nothing is learned meanwhile
        else:
            offsets = priors
        out = equalise_records(now_s, records, meter_flow_m3h, offsets, self.settings)
        if self.feed_forward_pct:
            self._add_feed_forward(now_s, records, out)
        if self.station is not None:
            self._decide_station(now_s, records, rooms, est, out, shift)
        return out

    def _hold_for_plan(self, now_s, records, rooms, est) -> HostDecision:  # noqa: ANN001
        """The plan out (first time) and, while the valves settle at it, no target moved (the
        station still decides)."""
        out = HostDecision()
        self._add_feed_forward(now_s, records, out)
        if self.station is not None:
            self._decide_station(now_s, records, rooms, est, out)
        return out

    def _add_feed_forward(
        self, now_s: float, records: Mapping[str, dict[str, Any]], out: HostDecision
    ) -> None:
        """Every valve's feed-forward opening in the targets this decision sends (every
        valve's, the first time)."""
        ff = self.feed_forward_pct
        if self._ff_sent_s is None:
            for unit, rec in records.items():
                for v in rec["valves"]:
                    if f"{unit}/{v['id']}" in ff:
                        entry = out.targets.setdefault(unit, {}).setdefault(v["id"], {})
                        entry.setdefault("t_return_c", v["target_c"])
            self._ff_sent_s = now_s
        for unit, valves in out.targets.items():
            for vid, entry in valves.items():
                pct = ff.get(f"{unit}/{vid}")
                if pct is not None:
                    entry["opening_ff_pct"] = pct

    def _decide_station(
        self,
        now_s: float,
        records: Mapping[str, dict[str, Any]],
        rooms: Mapping[str, room_led.Room | None],
        est: RoomEstimates | None,
        out: HostDecision,
        shift_c: float = 0.0,
    ) -> None:
        """The station strategies on this decision's rooms and openings, into ``out``."""
        assert self.station is not None and self.curve is not None
        openings = [
            (f"{unit}/{v['id']}", float(v.get("opening_cmd_pct") or 0.0))
            for unit, rec in records.items()
            for v in rec["valves"]
        ]
        all_rooms: list[room_led.Room | None] = []
        if est is not None:
            all_rooms = [
                room_led.Room(float(t), float(e), bool(m))
                for t, e, m in zip(est.t_room_c, est.se_c, est.measured, strict=True)
            ]
        t_out = self._hist[-1][3] if self._hist else float("nan")
        inputs = station_inputs(
            now_s,
            float(t_out) if np.isfinite(t_out) else None,
            openings,
            rooms,
            all_rooms,
            self.room_cfg.max_se_c,
            self.period_s,
            target_shift_c=shift_c,
        )
        decision, self.station_state = decide_station(
            inputs, self.station_state, self.station, self.curve
        )
        self.station_log.append(decision)
        out.pump_speed = decision.pump_speed
        out.t_supply_c = decision.t_supply_c


def _num(x: Any) -> float:  # noqa: ANN401
    return float("nan") if x is None else float(x)


def links_of(scn: Any) -> list[HouseholdLink]:  # noqa: ANN401
    """The registry's view of a scenario's households (as sim.demo registers them)."""
    net = scn.estate.network
    sensors = scn.rooms.mapping()
    out = []
    for i, h in enumerate(net.households):
        point = h.id.removeprefix(h.entrance) if scn.boards.household_valves else None
        sensor = sensors.get(i)
        out.append(
            HouseholdLink(
                h.entrance, point, scn.estate.household_type[i], sensor[1] if sensor else None
            )
        )
    return out


def exact_feed_forward(scn: Any) -> tuple[dict[str, float], float]:
    """Model-based balancing's plan for a scenario, its friction identified exactly (the
    pipes' own S, standard error 2 %: what the estimator gives on noise-free conditions):
    the feed-forward openings by ``unit/valve`` and the plan's pump speed ratio."""
    net = scn.estate.network
    s = {p.id: float(x) for p, x in zip(net.pipes, nominal_s(net), strict=True)}
    now_s = EPOCH_S
    estimate = FrictionEstimate(
        True, now_s, s, {k: 0.02 * v for k, v in s.items()}, dict.fromkeys(s, True)
    )
    settings = FeedForwardSettings(
        speed_min=scn.station.speed_min, speed_max=scn.station.speed_max
    )
    p = plan(net, estimate, now_s, settings)
    if not p.ok:
        raise RuntimeError(f"no feed-forward plan: {p.reason} ({p.detail})")
    ff = {f"{e}/entrance": pct for e, pct in p.entrance_opening_pct.items()}
    for h in net.households:
        if h.id in p.household_opening_pct:
            ff[f"{h.entrance}/{h.id.removeprefix(h.entrance)}"] = p.household_opening_pct[h.id]
    assert p.pump_speed is not None
    return ff, p.pump_speed


def plan_offsets(records: Mapping[str, dict[str, Any]]) -> dict[str, float]:
    """Each valve's return less its group's mean return (households within their entrance,
    entrances across the station), measured with the plan in place: offsets that make
    equalisation hold the planned flows, for room learning to trim."""
    out: dict[str, float] = {}
    entrances = {}
    for unit, rec in records.items():
        hh = {v["id"]: v["t_return_c"] for v in rec["valves"] if v["id"] != "entrance"}
        hh = {k: t for k, t in hh.items() if t is not None}
        if hh:
            mean = float(np.mean(list(hh.values())))
            out.update({f"{unit}/{k}": round(t - mean, 2) for k, t in hh.items()})
        for v in rec["valves"]:
            if v["id"] == "entrance" and v["t_return_c"] is not None:
                entrances[f"{unit}/entrance"] = v["t_return_c"]
    if entrances:
        mean = float(np.mean(list(entrances.values())))
        out.update({k: round(t - mean, 2) for k, t in entrances.items()})
    return out
