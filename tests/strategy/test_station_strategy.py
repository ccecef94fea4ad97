"""The station strategies (host.control.strategy.station): the pump follows the valves, the
supply follows the weather curve with an offset trimmed by the coldest rooms; bad settings and
curves refused."""

import pytest

from host.control.strategy.station import (
    HeatingCurve,
    StationInputs,
    StationSettingsError,
    StationState,
    StationStrategySettings,
    ValveState,
    decide_station,
    robust_coldest_c,
)

CURVE = HeatingCurve(((-10.0, 65.0), (0.0, 52.0), (15.0, 35.0)))
S = StationStrategySettings(speed_min=0.5, speed_max=1.3)


def valves(*openings_rooms):
    return [ValveState(f"B{i}/entrance", x, t) for i, (x, t) in enumerate(openings_rooms)]


def decide(rooms, vs, state=None, now_s=100_000.0, settings=S, se=(), t_out=-5.0):
    inputs = StationInputs(now_s, t_out, vs, rooms, rooms_se_c=se)
    return decide_station(inputs, state or StationState(1.0), settings, CURVE)


WARM = [20.8, 21.0, 21.5, 20.9, 21.2, 22.0]
ROOMY = valves((80.0, 21.0), (70.0, 21.2), (85.0, 20.8))


def test_pump_lowered_while_nobody_is_cold_and_valves_have_room():
    d, st = decide(WARM, ROOMY)
    assert d.pump_reason == "lower"
    assert d.pump_speed == pytest.approx(1.0 - S.speed_step)
    assert st.speed_changed_s == 100_000.0
    # and then it holds long enough for the returns to answer
    d2, st2 = decide(WARM, ROOMY, st, now_s=100_000.0 + S.hold_s / 2)
    assert d2.pump_reason == "hold_after_change" and d2.pump_speed == d.pump_speed
    d3, _ = decide(WARM, ROOMY, st2, now_s=100_000.0 + S.hold_s)
    assert d3.pump_speed == pytest.approx(1.0 - 2 * S.speed_step)


def test_pump_never_below_its_minimum():
    d, _ = decide(WARM, ROOMY, StationState(S.speed_min))
    assert d.pump_speed == S.speed_min and d.pump_reason == "at_min"


def test_pump_holds_when_two_rooms_are_at_risk_but_not_for_one_faulty_sensor():
    one_bad = [12.0, *WARM]  # a sensor on a window sill in winter: one room only
    d, _ = decide(one_bad, ROOMY)
    assert d.pump_reason == "lower"
    two = [18.2, 18.3, *WARM]
    d, _ = decide(two, ROOMY)
    assert d.pump_reason == "hold_cold_or_at_risk" and d.pump_speed == 1.0


def test_an_uncertain_estimate_counts_as_at_risk():
    rooms = [19.2, 19.3, *WARM]
    d, _ = decide(rooms, ROOMY)
    assert d.pump_reason == "lower"  # believed as estimated...
    d, _ = decide(rooms, ROOMY, se=[1.0, 1.0] + [0.0] * len(WARM))
    assert d.pump_reason == "hold_cold_or_at_risk"  # ...but 1 K of doubt puts them at risk


def test_pump_holds_while_a_valve_is_saturated_with_its_room_not_warm():
    vs = valves((98.0, 20.2), (70.0, 21.0))
    d, _ = decide(WARM, vs)
    assert d.pump_reason == "hold_valves_open"
    # a saturated valve whose room is warm can lose flow
    d, _ = decide(WARM, valves((98.0, 22.5), (70.0, 21.0)))
    assert d.pump_reason == "lower"


def test_pump_raised_when_valves_saturate_with_their_households_below_target():
    rooms = [19.0, 19.1, *WARM]
    starved = valves((99.0, 19.0), (98.0, 19.1), (60.0, 21.0))
    d, st = decide(rooms, starved)
    assert d.pump_reason == "raise_starved"
    assert d.pump_speed == pytest.approx(1.0 + S.speed_step)
    assert d.inputs["starved"] == ["B0/entrance", "B1/entrance"]
    # one starved valve (maybe one bad sensor) does not move the pump
    d, _ = decide(rooms, valves((99.0, 19.0), (60.0, 21.0)))
    assert d.pump_reason != "raise_starved" and d.pump_speed == 1.0


def test_supply_follows_the_curve_and_forecast():
    just_right = [20.3] * 10
    off = StationStrategySettings(pump=False)
    d, _ = decide(just_right, ROOMY, t_out=-10.0, settings=off)
    assert d.t_supply_c == pytest.approx(65.0) and d.supply_reason == "curve"
    inputs = StationInputs(0.0, -10.0, ROOMY, just_right, t_out_forecast_c=0.0)
    d, _ = decide_station(inputs, StationState(1.0), StationStrategySettings(pump=False), CURVE)
    assert d.t_supply_c == pytest.approx(CURVE.supply_c(-5.0))  # half-way to the forecast
    assert d.pump_speed is None and d.pump_reason == "off"


def test_curve_offset_rises_only_when_many_rooms_are_short_and_the_pump_cannot_help():
    short = [19.0] * 10 + [20.0] * 20
    at_max = StationState(S.speed_max)
    d, st = decide(short, ROOMY, at_max)
    assert d.supply_reason == "offset_up_cold" and st.offset_c > 0
    assert d.t_supply_c == pytest.approx(CURVE.supply_c(-5.0) + st.offset_c)
    # the pump can still rise: the offset waits
    d, st = decide(short, ROOMY, StationState(1.0))
    assert st.offset_c == 0.0
    # a few cold flats (undersized radiators, a bad sensor) never raise everyone's supply
    few = [15.0, 16.0, 17.0] + [20.0] * 27
    d, st = decide(few, ROOMY, at_max)
    assert st.offset_c == 0.0


def test_curve_offset_falls_when_the_station_over_heats_or_everyone_is_warm_at_min_pump():
    hot = [22.5] * 20
    d, st = decide(hot, ROOMY, StationState(1.0))
    assert d.supply_reason == "offset_down_overheating" and st.offset_c < 0
    warm = [21.2] * 20
    d, st = decide(warm, ROOMY, StationState(S.speed_min))
    assert d.supply_reason == "offset_down_warm" and st.offset_c < 0
    # bounded
    d, st = decide(hot, ROOMY, StationState(1.0, offset_c=S.offset_min_c))
    assert st.offset_c == S.offset_min_c


def test_supply_clamped_to_the_station_limits():
    s = StationStrategySettings(supply_min_c=40.0, supply_max_c=60.0, pump=False, weather=True)
    d, _ = decide(WARM, ROOMY, settings=s, t_out=-10.0)
    assert d.t_supply_c == 60.0
    d, _ = decide(WARM, ROOMY, settings=s, t_out=14.0)
    assert d.t_supply_c == 40.0


def test_no_rooms_holds_the_pump():
    d, st = decide([], ROOMY)
    assert d.pump_reason == "hold_no_rooms" and st.pump_speed == 1.0
    assert d.supply_reason == "curve"


def test_robust_coldest():
    assert robust_coldest_c([19.0, 12.0, 20.0], 2) == 19.0
    assert robust_coldest_c([19.0], 2) == 19.0
    assert robust_coldest_c([], 2) is None
    assert robust_coldest_c([float(x) for x in range(40)], 2, 0.25) == 9.0


@pytest.mark.parametrize(
    ("points", "message"),
    [
        (((-10.0, 60.0), (0.0, 62.0)), "not monotone"),
        (((0.0, 60.0), (-10.0, 65.0)), "must ascend"),
        (((0.0, 60.0),), "at least two"),
        (((-10.0, 160.0), (0.0, 62.0)), "0..100"),
    ],
)
def test_bad_heating_curves_refused(points, message):
    with pytest.raises(StationSettingsError, match=message):
        HeatingCurve(points)


@pytest.mark.parametrize(
    "kw",
    [
        {"speed_min": 1.4, "speed_max": 1.3},
        {"speed_min": 0.0},
        {"supply_min_c": 80.0},
        {"offset_min_c": 1.0},
        {"coldest_rank": 0},
        {"room_floor_c": 21.0},
        {"forecast_weight": 2.0},
    ],
)
def test_bad_settings_refused(kw):
    with pytest.raises(StationSettingsError):
        StationStrategySettings(**kw)


def test_design_curve_is_monotone_and_hits_its_design_point():
    c = HeatingCurve.from_design(-9.0, 60.0, 45.0)
    assert c.supply_c(-9.0) == pytest.approx(60.0)
    assert c.supply_c(-20.0) == pytest.approx(60.0)
    ys = [c.supply_c(x) for x in range(-9, 21)]
    assert all(b <= a for a, b in zip(ys, ys[1:], strict=False))
