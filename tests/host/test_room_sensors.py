"""Room sensor plausibility: each rule flags its readings, raises its alarm and clears it once
the sensor has read plausible for an hour; late readings judge nothing; a restarted judge
rebuilds its state from the stored readings. The alarm engine writes to both backends."""

from __future__ import annotations

import pytest

from host.control.alarms import AlarmError, Alarms
from host.control.room_sensors import (
    CLEAR_AFTER_S,
    RoomSensors,
    judge_series,
    static_flag,
)
from host.service.config import AlarmConfig
from host.storage import RoomReading

SITE, UNIT, SENSOR = "estate-7", "b1", "rs1"
H = 3600


def test_the_static_rules():
    assert static_flag(None, None) == "fault"
    assert static_flag(21.0, False) == "fault"
    assert static_flag(4.9, True) == "range"
    assert static_flag(35.1, None) == "range"
    assert static_flag(5.0, None) is None and static_flag(35.0, True) is None


def test_stuck_needs_six_hours_of_readings_within_the_band():
    # every 30 min at 21.00 +- 0.02: stuck from the first reading 6 h after the first one
    series = [(i * 1800, 21.0 + (0.02 if i % 2 else 0.0), True) for i in range(15)]
    flags = judge_series(series)
    assert flags[:12] == [None] * 12  # 0 .. 5.5 h: not 6 h of readings yet
    assert flags[12:] == ["stuck"] * 3
    # a room that drifts by 0.1 K over the day is not stuck
    drifting = [(i * 1800, 21.0 + 0.01 * i, True) for i in range(15)]
    assert judge_series(drifting) == [None] * 15


def test_swing_is_a_spread_above_2_k_within_30_min():
    series = [(0, 21.0, True), (600, 21.5, True), (1200, 19.2, True), (1500, 19.0, True)]
    assert judge_series(series) == [None, None, "swing", "swing"]
    # the same 2.5 K spread over 40 minutes is a real change, not a swing
    slow = [(0, 21.0, True), (1200, 20.0, True), (2400, 18.5, True)]
    assert judge_series(slow) == [None, None, None]
    # scatter: up and down by more than 2 K within the window
    scatter = [(0, 21.0, True), (300, 23.3, True), (600, 21.1, True)]
    assert judge_series(scatter) == [None, "swing", "swing"]


def test_fault_and_range_readings_stay_out_of_the_windows():
    series = [(0, 21.0, True), (300, None, False), (600, 40.0, True), (900, 21.2, True)]
    assert judge_series(series) == [None, "fault", "range", None]


@pytest.fixture
def judge(storage):
    storage.add_unit(SITE, UNIT)
    alarms = Alarms(storage, AlarmConfig(), clock=lambda: 0.0)
    return RoomSensors(storage, alarms)


def feed(judge: RoomSensors, samples, store: bool = True) -> list[str | None]:
    """Judge (ts_s, t_room_c[, sensor_ok]) readings of SENSOR and store them, as the ingest
    does; return their flags."""
    flags = []
    with judge.storage.transaction():
        for ts, t, *ok in samples:
            sensor_ok = ok[0] if ok else True
            flag = judge.judge(SITE, UNIT, SENSOR, ts, t, sensor_ok)
            flags.append(flag)
            if store:
                reading = RoomReading("hh1", SITE, UNIT, SENSOR, ts, t, sensor_ok, flag=flag)
                judge.storage.insert_room_readings([reading], ts)
    return flags


def open_kinds(judge: RoomSensors) -> list[str]:
    return sorted(a["kind"] for a in judge.storage.alarms(open_only=True))


@pytest.mark.parametrize(
    ("bad", "flag"),
    [
        ([(600, 3.0)], "range"),
        ([(600, 36.5)], "range"),
        ([(600, None, False)], "fault"),
        ([(600, 21.5, False)], "fault"),
        ([(300, 23.5), (600, 23.4)], "swing"),
    ],
)
def test_each_flag_raises_its_alarm_once_and_clears_after_an_hour_plausible(judge, bad, flag):
    assert feed(judge, [(0, 21.0)]) == [None]
    assert set(feed(judge, bad)) == {flag}
    assert open_kinds(judge) == [f"room_sensor_{flag}"]
    [alarm] = judge.storage.alarms(open_only=True)
    assert alarm["point"] == SENSOR and alarm["raised_s"] == bad[0][0]
    start = 3000  # the bad readings out of the swing window
    plausible = [(start + i * 600, 21.0 + 0.1 * (i % 3)) for i in range(7)]
    flags = feed(judge, plausible[:6])  # 50 min plausible: still open
    assert flags == [None] * 6 and open_kinds(judge) == [f"room_sensor_{flag}"]
    feed(judge, plausible[6:])  # an hour after the first plausible reading
    assert open_kinds(judge) == []
    [alarm] = judge.storage.alarms()
    assert alarm["cleared_s"] == plausible[6][0]
    assert alarm["clear_reason"] == f"plausible for {CLEAR_AFTER_S // 60} min"


def test_stuck_raises_and_clears(judge):
    flat = [(i * 1800, 21.0) for i in range(14)]
    flags = feed(judge, flat)
    assert flags[-2:] == ["stuck", "stuck"]
    assert open_kinds(judge) == ["room_sensor_stuck"]
    moving = [(14 * 1800 + i * 900, 21.2 + 0.1 * (i % 2)) for i in range(6)]
    assert feed(judge, moving) == [None] * 6
    assert open_kinds(judge) == []


def test_late_readings_judge_nothing_and_a_restart_rebuilds_from_storage(judge, storage):
    flat = [(i * 1800, 21.0) for i in range(11)]  # 5 h flat: not yet stuck
    assert feed(judge, flat) == [None] * 11
    assert feed(judge, [(100, 50.0)]) == ["range"]  # late and out of range: no alarm
    assert open_kinds(judge) == []
    # a new judge (the service restarted) continues the 6 h window from the stored readings
    again = RoomSensors(storage, judge.alarms)
    assert feed(again, [(12 * 1800, 21.0)]) == ["stuck"]
    assert open_kinds(again) == ["room_sensor_stuck"]
    # forget() (a rolled-back batch) drops the state; the next reading rebuilds it
    again.forget()
    assert feed(again, [(13 * 1800, 21.0)]) == ["stuck"]


def test_an_alarm_open_before_a_restart_clears_an_hour_after_the_restart(judge, storage):
    feed(judge, [(0, 21.0), (300, None, False)])
    assert open_kinds(judge) == ["room_sensor_fault"]
    alarms = Alarms(storage, AlarmConfig(), clock=lambda: 0.0)  # reloads the open alarm
    again = RoomSensors(storage, alarms)
    late = 10 * H  # the fault reading is out of the rebuilt window
    feed(again, [(late, 21.0), (late + 1800, 21.1)])
    assert open_kinds(again) == ["room_sensor_fault"]
    feed(again, [(late + H, 21.0)])
    assert open_kinds(again) == []


def test_only_room_sensor_kinds_go_through_the_room_sensor_entry(judge):
    with pytest.raises(AlarmError, match="no room sensor alarm"):
        judge.alarms.room_sensor(SITE, UNIT, SENSOR, "t_low", 0, None, True, "x")
