"""Room-led targets (智能室温): offsets that the rooms correct, on top of equalisation.

In return mode (host/control/strategy/equalise.py) every valve of a group is held at the
group's return level plus a fixed offset (the household-type table). Equal returns leave the
wrong flats cold wherever radiators or losses differ, so in room mode each valve's offset is
learned: it moves by `gain_c_per_k_h` per K its room is below (or above) the target room
temperature per hour since it last learned (at most an hour's worth: rooms answer over
hours, so a faster integrator only winds up), twice as fast for a room below the floor, and
stays put inside the deadband. The table's value is where the learning starts (a prior the
room data correct). An entrance's offset learns from the mean room of its households the
same way, among the station's entrances.

A group learns only while it has rooms on both sides of the target. The equaliser centres
offsets per group and the group's level follows its most open valve, so valves only move
heat between the rooms of a group: they cannot warm a group that is cold as a whole (that
is the station's supply and pump), and learning on it would only wind every offset up
together. Nor should a group whose rooms are all at or below the target be evened out: at a
fixed pump, raising the neediest valve's offset throttles the others, the group's flow falls,
and the rooms end equal but colder (the compact estate in the simulator: every room at
18.7 degC and a quarter less flow, against 19.9 degC on average in return mode).

Rooms count only where the host knows them well enough: measured (plausible and fresh) or
estimated with a standard error of at most `max_se_c`. Where one flat's estimate is too
uncertain (its own radiators and walls are unknown: on an estate whose radiators scatter
about their sizing, a flat's estimate is off by a kelvin or more however good the model),
its type's mean over the station is usually not: the scatter of single flats averages out,
and what the table gets wrong, it gets wrong for a whole type. `pool_by_type` gives such a
flat its type's mean room, which is what the prior needs correcting by. A valve with neither
keeps its learned offset unchanged (its loop follows the return level as in return mode),
and says so in its note.

Pure logic: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MODES = ("return", "room")


@dataclass(frozen=True)
class RoomSettings:
    """Room mode's rules (degC, K)."""

    target_c: float = 20.0
    floor_c: float = 18.0
    # offset change per hour per K of room error: a flat's room rises about 0.4 K per K of
    # return target and answers over a day, so ~1 / (0.4 K/K * 24 h) at most; faster overshoots
    gain_c_per_k_h: float = 0.08
    cold_factor: float = 2.0  # faster for a room below the floor
    deadband_k: float = 0.3
    max_step_c: float = 1.5  # largest offset change per run
    max_offset_c: float = 20.0  # as an operator's offsets
    max_learned_c: float = 16.0  # how far learning may take an offset from its prior (the
    # table's largest entry, 14 K, can be learned away: a sized estate needs none of it)
    max_se_c: float = 1.5  # a room estimate less certain than this is not used
    entrance_share: float = 0.5  # households with a usable room before an entrance learns
    open_pct: float = 97.0  # a cold room's valve this open gets no more from a higher offset
    shut_pct: float = 3.0  # a warm room's valve this shut gets no less from a lower one

    def __post_init__(self) -> None:
        if not self.floor_c <= self.target_c:
            raise ValueError("room floor_c must not be above target_c")
        if self.gain_c_per_k_h < 0 or self.max_step_c <= 0 or self.max_se_c <= 0:
            raise ValueError("room gain must not be negative; max_step_c, max_se_c positive")


@dataclass(frozen=True)
class Room:
    """What the host knows of one room now: its temperature, standard error, source, the
    part of the error its type's flats share, and whether it is its type's pooled mean."""

    t_room_c: float
    se_c: float
    measured: bool
    se_type_c: float = 0.0
    pooled: bool = False


def usable(room: Room | None, cfg: RoomSettings) -> bool:
    return (
        room is not None
        and room.t_room_c == room.t_room_c
        and room.se_c == room.se_c
        and room.se_c <= cfg.max_se_c
    )


def pool_by_type(
    rooms: list[Room | None], kinds: list[str], cfg: RoomSettings
) -> list[Room | None]:
    """Each household's room as room mode uses it: its own where usable, else (where it has
    an estimate at all) the mean of its type's rooms over the station, with the standard
    error of that mean, sqrt(mean(se_type^2) + mean(se^2 - se_type^2) / k) over the type's
    k rooms: the flats' own errors average out, the shared part does not."""

    def known(room: Room | None) -> bool:
        return room is not None and room.t_room_c == room.t_room_c and room.se_c == room.se_c

    groups: dict[str, list[Room]] = {}
    for room, kind in zip(rooms, kinds, strict=True):
        if known(room):
            assert room is not None
            groups.setdefault(kind, []).append(room)
    pooled: dict[str, Room] = {}
    for kind, members in groups.items():
        k = len(members)
        shared = sum(min(r.se_type_c, r.se_c) ** 2 for r in members) / k
        own = sum(r.se_c**2 - min(r.se_type_c, r.se_c) ** 2 for r in members) / k
        mean = sum(r.t_room_c for r in members) / k
        pooled[kind] = Room(mean, (shared + own / k) ** 0.5, False, shared**0.5, True)
    return [
        pooled[kind] if known(room) and not usable(room, cfg) else room
        for room, kind in zip(rooms, kinds, strict=True)
    ]


def valve_rooms(
    households: list[tuple[str, str | None, str, Room | None]],
    entrance_valve: str,
    cfg: RoomSettings,
) -> dict[str, Room | None]:
    """The room each valve of a station learns from, by "unit/valve" key, from its
    households (unit, valve point or None, household type, own room): a household valve's
    own room or its type's pooled mean (`pool_by_type`), an entrance valve its households'
    (`entrance_room`)."""
    pooled = pool_by_type([h[3] for h in households], [h[2] for h in households], cfg)
    out: dict[str, Room | None] = {}
    per_unit: dict[str, list[Room | None]] = {}
    for (unit, point, _kind, _own), room in zip(households, pooled, strict=True):
        per_unit.setdefault(unit, []).append(room)
        if point:
            out[f"{unit}/{point}"] = room
    for unit, members in per_unit.items():
        out[f"{unit}/{entrance_valve}"] = entrance_room(members, cfg)
    return out


def learn(
    offset_c: float,
    room: Room | None,
    cfg: RoomSettings,
    dt_h: float = 1.0,
    opening_pct: float | None = None,
    prior_c: float = 0.0,
) -> tuple[float, str]:
    """The valve's next offset after `dt_h` hours (at most 1) and why ("room_cold",
    "room_warm", "room_ok", "no_room", "valve_open", "valve_shut").

    Anti-windup: a cold room whose valve is already (nearly) fully open cannot get more
    water from a higher offset (it would only make the equaliser starve its neighbours), and
    a warm one whose valve is shut cannot get less: their offsets hold."""
    if not usable(room, cfg):
        return offset_c, "no_room"
    assert room is not None
    error_k = cfg.target_c - room.t_room_c
    if abs(error_k) <= cfg.deadband_k:
        return offset_c, "room_ok"
    if opening_pct is not None and error_k > 0 and opening_pct >= cfg.open_pct:
        return offset_c, "valve_open"
    if opening_pct is not None and error_k < 0 and opening_pct <= cfg.shut_pct:
        return offset_c, "valve_shut"
    gain = cfg.gain_c_per_k_h * min(max(dt_h, 0.0), 1.0)
    gain *= cfg.cold_factor if room.t_room_c < cfg.floor_c else 1.0
    step = max(-cfg.max_step_c, min(cfg.max_step_c, gain * error_k))
    new = min(max(offset_c + step, prior_c - cfg.max_learned_c), prior_c + cfg.max_learned_c)
    new = max(-cfg.max_offset_c, min(cfg.max_offset_c, new))
    return round(new, 3), "room_cold" if error_k > 0 else "room_warm"


def entrance_room(rooms: list[Room | None], cfg: RoomSettings) -> Room | None:
    """An entrance's room: the mean of its households' usable rooms, with the floor weighing
    in (the colder of the mean and the coldest room less a kelvin, so that one cold flat is
    not averaged away). None unless at least `entrance_share` of its households have a
    usable room: one sensed top flat does not speak for a whole staircase. A type's pooled
    mean (`pool_by_type`) does not count: it says what the flat's type is like across the
    station, nothing of this entrance."""
    ok = [r for r in rooms if r is not None and not r.pooled and usable(r, cfg)]
    if not ok or len(ok) < cfg.entrance_share * len(rooms):
        return None
    mean = sum(r.t_room_c for r in ok) / len(ok)
    coldest = min(r.t_room_c for r in ok)
    se = (sum(r.se_c**2 for r in ok) ** 0.5) / len(ok)
    t = min(mean, coldest + 1.0) if coldest < cfg.floor_c else mean
    return Room(t, se, all(r.measured for r in ok))


def groups_of(keys: list[str], entrance_valve: str) -> dict[str, str]:
    """Each "unit/valve" key's equalisation group (as equalise.balance_station groups them):
    every entrance valve of the station in one, each board's household valves in another."""
    return {k: "" if k.split("/", 1)[1] == entrance_valve else k.split("/", 1)[0] for k in keys}


def learn_all(
    offsets_c: Mapping[str, float],
    priors_c: Mapping[str, float],
    rooms: Mapping[str, Room | None],
    cfg: RoomSettings,
    dt_h: float = 1.0,
    openings_pct: Mapping[str, float | None] | None = None,
    groups: Mapping[str, str] | None = None,
) -> tuple[dict[str, float], dict[str, str]]:
    """Next offsets of every valve key in `rooms` (learned so far, else its prior) after
    `dt_h` hours, and why; `openings_pct` the valves' commanded openings, for anti-windup;
    `groups` each key's equalisation group (the station's entrance valves, or one board's
    household valves; default one group).

    A group learns only while it has both a room above the target (beyond the deadband) and
    one below: valves move heat between the rooms of a group, so without a warm room there
    is nothing to give a cold one ("group_cold"), and without a cold one nothing is gained
    by throttling a warm one ("group_warm"); that is the station's supply and pump to
    answer. An offset may still move back towards its prior then (never past it): a room
    that overshot while its group learned gets its return-mode share back."""
    group_of = groups or {}
    warm: set[str] = set()
    cold: set[str] = set()
    for key, room in rooms.items():
        if usable(room, cfg):
            assert room is not None
            error_k = cfg.target_c - room.t_room_c
            if error_k > cfg.deadband_k:
                cold.add(group_of.get(key, ""))
            elif error_k < -cfg.deadband_k:
                warm.add(group_of.get(key, ""))
    new, why = {}, {}
    openings = openings_pct or {}
    for key, room in rooms.items():
        prior = priors_c.get(key, 0.0)
        start = offsets_c.get(key, prior)
        group = group_of.get(key, "")
        new[key], why[key] = learn(start, room, cfg, dt_h, openings.get(key), prior)
        if why[key] in ("room_cold", "room_warm") and not (group in warm and group in cold):
            # back towards the prior is safe (return mode's state): an offset lowered while
            # its room was warm comes back if the room overshot; never past the prior
            if (new[key] - start) * (prior - start) > 0:
                new[key] = min(new[key], prior) if prior > start else max(new[key], prior)
            else:
                new[key], why[key] = start, "group_cold" if group in cold else "group_warm"
    return new, why
