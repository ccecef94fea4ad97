"""Time-division schedules (host.control.strategy.schedule): shifts by local time and scope,
the pre-heat that ends a set-back early, overlaps and bad periods refused; and the station
strategy following a scheduled shift."""

from datetime import datetime, timedelta, timezone

import pytest

from host.control.strategy.schedule import Schedule, ScheduleError, SchedulePeriod, parse
from host.control.strategy.station import (
    HeatingCurve,
    StationInputs,
    StationState,
    StationStrategySettings,
    ValveState,
    decide_station,
)

CST = timezone(timedelta(hours=8))
MONDAY = datetime(2026, 12, 7, tzinfo=CST)  # a Monday, midnight in Beijing


def at(day, hour, minute=0):
    return (MONDAY + timedelta(days=day, hours=hour, minutes=minute)).timestamp()


NIGHTS = [
    {"days": [0, 1, 2, 3, 4], "start_h": 0, "end_h": 6, "shift_c": -3},
    {"days": [0, 1, 2, 3, 4], "start_h": 22, "end_h": 24, "shift_c": -3},
]


def test_night_set_back_in_local_time_ends_early_by_the_pre_heat():
    sch = parse(NIGHTS, preheat_h_per_k=1.0)  # 3 K set-back: 3 h of pre-heat
    assert sch.shift_c(at(0, 1)) == -3.0
    assert sch.shift_c(at(0, 2, 59)) == -3.0
    assert sch.shift_c(at(0, 3, 0)) == 0.0  # pre-heat from 03:00 to be warm at 06:00
    assert sch.shift_c(at(0, 12)) == 0.0
    assert sch.shift_c(at(0, 22, 30)) == 0.0  # the evening half ends at midnight: pre-heat too
    assert sch.shift_c(at(5, 1)) == 0.0  # Saturday: no set-back
    no_preheat = parse(NIGHTS, preheat_h_per_k=0.0)
    assert no_preheat.shift_c(at(0, 5, 59)) == -3.0
    assert no_preheat.shift_c(at(0, 22, 30)) == -3.0
    capped = parse(NIGHTS, preheat_h_per_k=5.0, max_preheat_h=2.0)
    assert capped.shift_c(at(0, 3, 30)) == -3.0 and capped.shift_c(at(0, 4, 1)) == 0.0


def test_scopes_add_up_and_apply_only_to_their_households():
    sch = parse(
        [
            {"days": [6], "start_h": 0, "end_h": 24, "shift_c": -2},
            {
                "days": [6],
                "start_h": 8,
                "end_h": 18,
                "shift_c": -4,
                "scope": "building",
                "which": "school",
            },
            {
                "days": [6],
                "start_h": 8,
                "end_h": 18,
                "shift_c": 1,
                "scope": "household_type",
                "which": "top",
            },
        ],
        preheat_h_per_k=0.0,
    )
    sunday_noon = at(6, 12)
    assert sch.shift_c(sunday_noon) == -2.0
    assert sch.shift_c(sunday_noon, building="school") == -6.0
    assert sch.shift_c(sunday_noon, building="B1", household_type="top") == -1.0
    assert sch.shift_c(at(0, 12), building="school") == 0.0


def test_overlapping_periods_of_one_scope_refused_other_scopes_may_overlap():
    with pytest.raises(ScheduleError, match="overlap"):
        parse([*NIGHTS, {"days": [2], "start_h": 5, "end_h": 8, "shift_c": -1}])
    parse(
        [
            *NIGHTS,
            {
                "days": [2],
                "start_h": 5,
                "end_h": 8,
                "shift_c": -1,
                "scope": "building",
                "which": "B1",
            },
        ]
    )
    # touching is not overlapping
    parse([*NIGHTS, {"days": [2], "start_h": 6, "end_h": 8, "shift_c": 1}])


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ({"days": [7], "start_h": 0, "end_h": 6, "shift_c": -3}, "weekdays"),
        ({"days": [], "start_h": 0, "end_h": 6, "shift_c": -3}, "weekdays"),
        ({"days": [1], "start_h": 22, "end_h": 6, "shift_c": -3}, "midnight"),
        ({"days": [1], "start_h": 0, "end_h": 6, "shift_c": -30}, "-10"),
        ({"days": [1], "start_h": 0, "end_h": 6, "shift_c": -3, "scope": "floor"}, "scope"),
        ({"days": [1], "start_h": 0, "end_h": 6, "shift_c": -3, "scope": "building"}, "which"),
        ({"days": [1], "start_h": 0, "end_h": 6}, "missing shift_c"),
        ({"days": [1], "start_h": 0, "end_h": 6, "shift_c": -3, "colour": "red"}, "unknown"),
        ({"days": [1], "start_h": "dawn", "end_h": 6, "shift_c": -3}, "period 0"),
    ],
)
def test_bad_periods_refused_with_a_reason(period, message):
    with pytest.raises(ScheduleError, match=message):
        parse([period])


def test_a_schedule_must_be_a_list():
    with pytest.raises(ScheduleError, match="list"):
        parse({"days": [1]})  # type: ignore[arg-type]
    with pytest.raises(ScheduleError):
        Schedule((SchedulePeriod((1,), 0, 6, -3),), preheat_h_per_k=-1.0)


CURVE = HeatingCurve(((-10.0, 65.0), (0.0, 52.0), (15.0, 35.0)))


def test_station_follows_a_scheduled_set_back_and_learns_nothing_meanwhile():
    s = StationStrategySettings()
    rooms = [18.4, 18.5, 18.6, 18.8, 19.0, 19.0]  # cold for 20 degC, fine for a 3 K set-back
    vs = [ValveState("B0/entrance", 80.0, 18.6)]
    at_max = StationState(s.speed_max, offset_c=1.0)
    normal, st = decide_station(StationInputs(0.0, -5.0, vs, rooms * 5), at_max, s, CURVE)
    assert normal.supply_reason == "offset_up_cold" and st.offset_c > 1.0
    inputs = StationInputs(0.0, -5.0, vs, rooms * 5, target_shift_c=-3.0)
    night, st = decide_station(inputs, at_max, s, CURVE)
    assert night.supply_reason == "curve_scheduled" and st.offset_c == 1.0
    assert night.t_supply_c == pytest.approx(CURVE.supply_c(-5.0) + 1.0 - 3.0 * 2.5)
    # against the shifted floor (15 degC) nobody is at risk: the pump may come down
    inputs = StationInputs(0.0, -5.0, vs, rooms * 5, target_shift_c=-3.0)
    d, _ = decide_station(inputs, StationState(1.0), s, CURVE)
    assert d.pump_reason == "lower"
