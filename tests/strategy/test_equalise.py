"""Return-temperature equalisation: means, offsets, hysteresis, rate limits, stale data."""

import pytest

from host.control.strategy.equalise import (
    StrategySettings,
    ValveReading,
    balance_station,
    equalise_group,
    weighted_mean_c,
)

NOW = 1_000_000.0
S = StrategySettings(hysteresis_c=0.3, max_step_c=2.0, fast_step_c=2.0)  # fixed step


def entrance(unit, t, flow=2.0, age_s=60.0, target=None, offset=0.0, valve="entrance"):
    return ValveReading(unit, valve, t, flow, NOW - age_s, target, offset)


def test_flow_weighted_mean_and_equal_weights_fallback():
    a, b = entrance("a", 40.0, flow=3.0), entrance("b", 44.0, flow=1.0)
    assert weighted_mean_c([a, b]) == pytest.approx(41.0)
    c = entrance("c", 44.0, flow=None)
    assert weighted_mean_c([a, c]) == pytest.approx(42.0)


def test_first_targets_are_the_mean_plus_centred_offsets():
    group = [entrance("a", 38.0), entrance("b", 42.0), entrance("c", 40.0, offset=-1.5)]
    d = {x.unit: x for x in equalise_group(group, NOW, S)}
    # offsets are centred on the group (mean -0.5): they never move the group's level
    assert d["a"].new_target_c == 40.5 and d["a"].reason == "equalise"
    assert d["c"].new_target_c == 39.0
    assert d["a"].inputs["centred_offset_c"] == 0.5
    assert d["a"].group_mean_c == pytest.approx(40.0)
    assert d["a"].inputs["t_return_c"] == 38.0


def test_hysteresis_holds_small_changes():
    group = [entrance("a", 40.1, target=40.0), entrance("b", 40.3, target=40.0)]
    decisions = equalise_group(group, NOW, S)
    assert all(d.reason == "hysteresis" and not d.changed for d in decisions)


def test_rate_limit_caps_each_move():
    group = [entrance("a", 50.0, target=40.0), entrance("b", 50.0, target=46.0)]
    d = {x.unit: x for x in equalise_group(group, NOW, S)}
    assert d["a"].new_target_c == 42.0 and d["a"].reason == "rate_limited"
    assert d["b"].new_target_c == 48.0


def test_stale_or_bad_readings_keep_their_target_and_do_not_count():
    group = [
        entrance("a", 40.0),
        entrance("b", 42.0),
        entrance("old", 80.0, age_s=S.stale_after_s + 1, target=45.0),
        entrance("bad", None, target=41.0),
        entrance("nan", float("nan"), target=41.0),
        entrance("crazy", 140.0, target=41.0),
        entrance("future", 40.0, age_s=-10.0, target=41.0),  # board clock ahead of the host
    ]
    d = {x.unit: x for x in equalise_group(group, NOW, StrategySettings(min_fresh_share=0.2))}
    assert d["a"].new_target_c == 41.0  # the mean ignores the stale and bad ones
    for unit in ("old", "bad", "nan", "crazy", "future"):
        assert d[unit].reason == "stale" and not d[unit].changed


def test_too_few_fresh_entrances_hold_every_target():
    group = [entrance("a", 40.0, target=39.0)] + [
        entrance(f"s{i}", 50.0, age_s=99999, target=45.0) for i in range(3)
    ]
    d = {x.unit: x for x in equalise_group(group, NOW, S)}
    assert d["a"].reason == "no_fresh_group" and d["a"].new_target_c == 39.0


def test_targets_stay_within_bounds():
    group = [entrance("a", 70.0), entrance("b", 70.0)]
    assert {d.new_target_c for d in equalise_group(group, NOW, S)} == {S.target_max_c}


def test_station_balances_entrances_then_households_per_entrance():
    entrances = [entrance("e1", 38.0), entrance("e2", 42.0)]
    households = {
        "e1": [entrance("e1", 36.0, valve="f1"), entrance("e1", 40.0, valve="f6", offset=-2.0)],
        "e2": [entrance("e2", 41.0, valve="f1"), entrance("e2", 43.0, valve="f6")],
    }
    decisions = balance_station(entrances, households, NOW, S)
    by = {(d.unit, d.valve): d.new_target_c for d in decisions}
    assert by[("e1", "entrance")] == by[("e2", "entrance")] == 40.0
    assert by[("e1", "f1")] == 39.0 and by[("e1", "f6")] == 37.0
    assert by[("e2", "f1")] == by[("e2", "f6")] == 42.0
    assert len(decisions) == 6


def test_converges_to_equal_returns_on_a_toy_plant():
    """Targets start where each return is; rate-limited moves bring every return to the common
    mean within a few periods, never in one jump larger than max_step_c."""
    returns = {"a": 35.0, "b": 45.0, "c": 41.0}
    targets = dict(returns)
    spreads = []
    for _ in range(10):
        group = [entrance(u, returns[u], target=targets[u]) for u in returns]
        for d in equalise_group(group, NOW, S):
            assert abs(d.new_target_c - d.old_target_c) <= S.max_step_c + 1e-9
            targets[d.unit] = d.new_target_c
        for u in returns:  # the local PI loops reach their targets within a period
            returns[u] = targets[u]
        spreads.append(max(returns.values()) - min(returns.values()))
    assert spreads[0] > 1.0  # the rate limit prevents a one-period fix
    assert spreads[-1] <= S.hysteresis_c
    assert abs(sum(returns.values()) / 3 - 40.33) < 0.5  # the mean, not some other level


def opened(unit, t, opening, target=None):
    return ValveReading(unit, "entrance", t, 2.0, NOW - 60, target, 0.0, opening)


def test_level_rises_while_every_valve_is_throttled():
    group = [opened("a", 38.0, 50.0, 40.0), opened("b", 42.0, 70.0, 40.0)]
    d = {x.unit: x for x in equalise_group(group, NOW, S)}
    # most open valve 70 % < 90 %: trim 0.1 degC per % = 2.0 (capped at max_step_c)
    assert d["a"].inputs["level_c"] == pytest.approx(42.0)
    assert d["a"].new_target_c == 42.0 and d["b"].new_target_c == 42.0


def test_no_trim_once_a_valve_is_open_enough():
    group = [opened("a", 38.0, 50.0), opened("b", 42.0, 95.0)]
    assert {d.new_target_c for d in equalise_group(group, NOW, S)} == {40.0}
    small = [opened("a", 40.0, 85.0), opened("b", 40.0, 60.0)]
    assert {d.new_target_c for d in equalise_group(small, NOW, S)} == {40.5}


def test_trim_opens_a_throttled_station_up():
    """Toy plant: a valve's return rises with its opening. Plain equalisation is content with
    any common level, so a station that starts throttled stays throttled (pump energy wasted,
    far flats short); the trim opens the group until its most open valve is nearly open."""

    def run(settings):
        openings = {"a": 40.0, "b": 30.0, "c": 35.0}
        bias = {"a": 6.0, "b": -2.0, "c": 1.0}  # a is overfed, b underfed
        targets = {u: None for u in openings}
        for _ in range(60):
            returns = {u: 30.0 + 0.1 * openings[u] + bias[u] for u in openings}
            group = [opened(u, returns[u], openings[u], targets[u]) for u in openings]
            for d in equalise_group(group, NOW, settings):
                targets[d.unit] = d.new_target_c
            for u in openings:  # local PI: open when the return is below target
                err = targets[u] - returns[u]
                openings[u] = min(100.0, max(0.0, openings[u] + 5.0 * err))
        return openings, returns

    plain, plain_returns = run(StrategySettings(trim_c_per_pct=0.0))
    trimmed, returns = run(S)
    assert max(plain.values()) < S.open_valve_pct - 10  # equal returns, still throttled
    assert min(plain.values()) == 0.0  # and the overfed entrance shut completely
    assert max(plain_returns.values()) - min(plain_returns.values()) < 1.0
    assert max(trimmed.values()) >= S.open_valve_pct - 5
    assert min(trimmed.values()) > 10.0  # the overfed entrance throttled, not shut
    assert max(returns.values()) - min(returns.values()) < 1.0


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        StrategySettings(target_min_c=60, target_max_c=30)
    with pytest.raises(ValueError):
        StrategySettings(max_step_c=0)
    with pytest.raises(ValueError):
        StrategySettings(min_fresh_share=0)


# --- respond, fast steps, room temperatures (issue 9: nobody starved within a day) -----------

FAST = StrategySettings(hysteresis_c=0.3, max_step_c=2.0, fast_beyond_c=3.0, fast_step_c=4.0)


def flat(valve, t, opening, offset=0.0, target=None, kind=None):
    return ValveReading("e1", valve, t, None, NOW - 60, target, offset, opening, kind)


def test_a_starved_valve_pulls_its_group_down_so_the_others_throttle():
    # the top flat is fully open and still 2 K short of its target: mean 41, offsets +-1.5
    group = [flat("mid", 42.0, 40.0, offset=0.0), flat("top", 40.0, 100.0, offset=3.0)]
    d = {x.valve: x for x in equalise_group(group, NOW, S)}
    # level = lowest starved return less its centred offset = 40 - 1.5 = 38.5
    assert d["mid"].inputs["level_c"] == pytest.approx(38.5)
    assert d["mid"].new_target_c == 37.0  # the middle flat throttles...
    assert d["top"].new_target_c == 40.0  # ...the top flat's target is what it can reach now


def test_the_pull_down_is_bounded():
    group = [flat("mid", 45.0, 40.0), flat("odd", 30.0, 100.0)]  # windows open at 'odd'
    d = {x.valve: x for x in equalise_group(group, NOW, S)}
    assert d["mid"].inputs["level_c"] == pytest.approx(37.5 - S.starved_max_c)


def test_no_pull_down_while_open_valves_reach_their_targets():
    group = [flat("mid", 42.0, 40.0), flat("top", 42.5, 100.0, offset=0.2)]  # top: 42.35 wanted
    d = {x.valve: x for x in equalise_group(group, NOW, S)}
    assert d["mid"].inputs["level_c"] == pytest.approx(42.25)


def test_far_targets_move_fast_then_by_the_normal_step():
    group = [entrance("a", 50.0, target=40.0), entrance("b", 50.0, target=47.0)]
    d = {x.unit: x for x in equalise_group(group, NOW, FAST)}
    assert d["a"].new_target_c == 44.0 and d["a"].reason == "rate_limited"  # 10 K off: 4 K
    assert d["b"].new_target_c == 49.0  # 3 K off: the normal 2 K step
    with pytest.raises(ValueError):
        StrategySettings(max_step_c=3.0, fast_step_c=2.0)
