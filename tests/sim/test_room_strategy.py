"""The simulator's room-led host hook (sim/room_strategy.py) on hand-made records: it judges
room readings by the host's plausibility rules, so a window-sill sensor's swings and a
stuck sensor stay out of the estimator as they do in the service."""

from __future__ import annotations

import math

from sim.room_strategy import HouseholdLink, RoomLedStrategy


def _records(ts_s: int, t_room_c: float | None, ok: bool = True) -> dict[str, dict]:
    room = {"sensor": "rs-1", "t_room_c": t_room_c, "ts_s": ts_s, "sensor_ok": ok}
    return {
        "b1": {
            "ts_s": ts_s,
            "valves": [{"id": "entrance", "t_return_c": 40.0}, {"id": "h1", "t_return_c": 39.0}],
            "rooms": [room],
            "entrance": {"t_supply_c": 55.0, "t_outdoor_c": -3.0},
        }
    }


def _strategy() -> RoomLedStrategy:
    return RoomLedStrategy([HouseholdLink("b1", "h1", "middle", "rs-1")], {}, mode="return")


def test_a_plausible_reading_is_used_and_a_swinging_one_is_not():
    s = _strategy()
    assert s._snapshot(_records(0, 20.0))[0] == 20.0
    assert s._snapshot(_records(900, 20.3))[0] == 20.3
    # a window opened beside a sensor on the sill: 3 K within 15 min
    assert math.isnan(s._snapshot(_records(1800, 17.2))[0])
    # the same reading seen again at the next decision keeps its verdict
    assert math.isnan(s._snapshot(_records(1800, 17.2))[0])


def test_failed_out_of_range_and_stuck_readings_are_refused():
    s = _strategy()
    assert math.isnan(s._snapshot(_records(0, None, ok=False))[0])
    assert math.isnan(s._snapshot(_records(900, 41.0))[0])
    values = [s._snapshot(_records(1800 + 900 * k, 20.0))[0] for k in range(30)]
    assert values[0] == 20.0 and math.isnan(values[-1])  # stuck for more than 6 h
