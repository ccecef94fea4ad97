"""Room mode's rules (host/control/strategy/room_led.py): learning an offset from a room,
anti-windup, an entrance's room, and pooling uncertain estimates by household type."""

import math

import pytest

from host.control.strategy.room_led import (
    Room,
    RoomSettings,
    entrance_room,
    groups_of,
    learn,
    learn_all,
    pool_by_type,
)

CFG = RoomSettings()


def test_a_cold_room_raises_its_offset_twice_as_fast_below_the_floor():
    up, why = learn(0.0, Room(19.0, 0.3, True), CFG)
    assert why == "room_cold" and up == pytest.approx(CFG.gain_c_per_k_h)
    faster, _ = learn(0.0, Room(17.0, 0.3, True), CFG)
    assert faster == pytest.approx(2 * CFG.gain_c_per_k_h * 3.0)
    down, why = learn(0.0, Room(22.0, 0.3, True), CFG, dt_h=0.5)
    assert why == "room_warm" and down == pytest.approx(-CFG.gain_c_per_k_h)


def test_deadband_uncertain_rooms_and_saturated_valves_hold_the_offset():
    assert learn(1.0, Room(20.2, 0.3, True), CFG) == (1.0, "room_ok")
    assert learn(1.0, Room(15.0, 2.0, False), CFG) == (1.0, "no_room")
    assert learn(1.0, None, CFG) == (1.0, "no_room")
    assert learn(1.0, Room(15.0, 0.3, True), CFG, opening_pct=99.0) == (1.0, "valve_open")
    assert learn(1.0, Room(25.0, 0.3, True), CFG, opening_pct=1.0) == (1.0, "valve_shut")


def test_learning_stays_within_its_reach_of_the_prior():
    offset = 4.0
    for _ in range(200):
        offset, _ = learn(offset, Room(10.0, 0.3, True), CFG, prior_c=4.0)
    assert offset == pytest.approx(4.0 + CFG.max_learned_c)
    new, why = learn_all({}, {"u/1": 7.0}, {"u/1": Room(20.0, 0.3, True)}, CFG)
    assert new == {"u/1": 7.0} and why == {"u/1": "room_ok"}


def test_a_group_learns_only_with_rooms_on_both_sides_of_the_target():
    cold = {f"u/{i}": Room(16.0 + i, 0.3, True) for i in range(4)}
    new, why = learn_all({}, {}, cold, CFG)
    assert set(why.values()) == {"group_cold"} and set(new.values()) == {0.0}
    warm = {f"u/{i}": Room(21.0 + i, 0.3, True) for i in range(3)}
    warm["u/9"] = Room(20.1, 0.3, True)
    # u/0 was raised while its room was cold: back down towards its prior it may go
    new, why = learn_all({"u/0": 2.0, "u/1": -1.0}, {}, warm, CFG)
    assert why == {"u/0": "room_warm", "u/1": "group_warm", "u/2": "group_warm", "u/9": "room_ok"}
    assert new["u/0"] == pytest.approx(2.0 - CFG.gain_c_per_k_h) and new["u/1"] == -1.0
    new, _ = learn_all({"u/0": 0.05}, {}, warm, CFG)
    assert new["u/0"] == 0.0  # never past it
    rooms = {"u/1": Room(18.5, 0.3, True), "u/2": Room(21.5, 0.3, True), "v/1": None}
    rooms["v/2"] = Room(19.0, 0.3, True)
    groups = groups_of(list(rooms), "entrance")
    assert groups == {"u/1": "u", "u/2": "u", "v/1": "v", "v/2": "v"}
    new, why = learn_all({}, {"u/2": 4.0}, rooms, CFG, groups=groups)
    assert why == {"u/1": "room_cold", "u/2": "room_warm", "v/1": "no_room", "v/2": "group_cold"}
    assert new["u/1"] == pytest.approx(CFG.gain_c_per_k_h * 1.5)
    assert new["u/2"] == pytest.approx(4.0 - CFG.gain_c_per_k_h * 1.5)
    assert groups_of(["u/entrance", "v/entrance", "u/h1"], "entrance") == {
        "u/entrance": "",
        "v/entrance": "",
        "u/h1": "u",
    }


def test_an_entrance_needs_half_its_rooms_and_weighs_in_the_coldest():
    one = [Room(16.0, 0.3, True), None, None]
    assert entrance_room(one, CFG) is None
    rooms = [Room(16.0, 0.3, True), Room(21.0, 0.3, True), Room(21.0, 0.3, True)]
    room = entrance_room(rooms, CFG)
    assert room is not None and room.t_room_c == pytest.approx(17.0)
    pooled = [Room(16.0, 0.3, True), Room(23.0, 0.5, False, 0.4, pooled=True), None]
    assert entrance_room(pooled, CFG) is None


def test_uncertain_estimates_take_their_types_mean_whose_error_shrinks_with_its_size():
    kinds = ["top"] * 8 + ["middle", "middle"]
    # eight top flats estimated near 23 °C, each +-2 K of which 0.5 K shared by the type
    rooms: list[Room | None] = [Room(22.0 + i % 3, 2.0, False, 0.5) for i in range(8)]
    rooms += [Room(19.0, 0.3, True), Room(21.0, 2.5, False, 2.4)]
    out = pool_by_type(rooms, kinds, CFG)
    top = out[0]
    assert top is not None and top.pooled and not top.measured
    assert top.t_room_c == pytest.approx(sum(22.0 + i % 3 for i in range(8)) / 8)
    assert top.se_c == pytest.approx(math.sqrt(0.25 + (4.0 - 0.25) / 8))
    assert all(r == top for r in out[:8])
    assert out[8] == rooms[8]  # usable on its own: kept
    # the middle type's mean still carries its large shared error: pooled but not usable
    middle = out[9]
    assert middle is not None and middle.pooled and middle.se_c > CFG.max_se_c
    new, why = learn_all({}, {}, {"a": top, "b": middle, "c": out[8]}, CFG)
    assert why == {"a": "room_warm", "b": "no_room", "c": "room_cold"} and new["a"] < 0


def test_pooling_leaves_missing_rooms_missing():
    nan = float("nan")
    rooms = [None, Room(nan, nan, False), Room(23.0, 2.0, False, 0.2)]
    out = pool_by_type(rooms, ["top", "top", "top"], CFG)
    assert out[0] is None and out[1] is rooms[1]
    assert out[2] is not None and out[2].pooled and out[2].se_c == pytest.approx(2.0)
