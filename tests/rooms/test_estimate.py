"""The room estimator on data made by its own model (exact recovery, honest errors) and its
refusals. Against the simulator's truth: tests/rooms/test_estimate_sim.py."""

from __future__ import annotations

import numpy as np
import pytest

from host.models.rooms.estimate import (
    EstimatorSettings,
    RoomEstimateError,
    StationHistory,
    estimate_station,
    fill_gaps,
)
from host.models.rooms.heat_balance import memory_weights, room_temperature_c

TYPES = ("middle", "top", "gable", "ground", "top_gable")
RATIO = {"middle": 0.30, "top": 0.24, "gable": 0.27, "ground": 0.29, "top_gable": 0.21}


def station(n=120, steps=96, seed=1, sensed_every=6, noise_c=0.0, offset_k=1.0, tau_h=24.0):
    """Households of known ratio, supply/return histories, rooms from the balance itself."""
    rng = np.random.default_rng(seed)
    types = tuple(TYPES[i % len(TYPES)] for i in range(n))
    t = np.arange(steps)
    t_out = -3.0 + 3.0 * np.sin(2 * np.pi * t / 48.0)
    ts = (55.0 - 0.8 * t_out)[:, None] + rng.normal(0, 0.3, (steps, n))
    tr = ts - rng.uniform(8.0, 22.0, n)[None, :] + rng.normal(0, 0.3, (steps, n))
    r = np.array([RATIO[k] for k in types])
    w = memory_weights(steps, 1800.0, tau_h)
    truth = room_temperature_c(ts, tr, t_out, w, r, offset_k)
    room = np.full(n, np.nan)
    sensed = np.arange(0, n, sensed_every)
    room[sensed] = (
        truth[sensed] + rng.normal(0, noise_c, len(sensed)) if noise_c else truth[sensed]
    )
    h = StationHistory(ts, tr, tr.copy(), t_out, room, types, 1800.0)
    return h, truth, sensed


def test_noise_free_rooms_of_its_own_model_are_recovered_exactly():
    h, truth, sensed = station()
    e = estimate_station(h)
    un = ~e.measured
    assert e.fit["tau_h"] == 24.0 and e.fit["offset_k"] == 1.0
    assert np.max(np.abs(e.t_room_c[un] - truth[un])) < 0.02
    for kind, ratio in RATIO.items():
        assert e.fit["ratio_by_type"][kind] == pytest.approx(ratio, rel=1e-3)
    assert set(e.method[i] for i in sensed) == {"measured"}
    assert set(e.method[i] for i in np.flatnonzero(un)) == {"heat-balance"}


def test_errors_are_honest_under_sensor_noise():
    inside = []
    for seed in range(6):
        h, truth, _ = station(seed=seed, noise_c=0.3)
        e = estimate_station(h)
        un = ~e.measured
        inside.append(np.abs(e.t_room_c[un] - truth[un]) <= 1.96 * e.se_c[un])
    share = float(np.mean(np.concatenate(inside)))
    assert 0.85 <= share <= 1.0


def test_a_type_no_sensed_flat_has_is_estimated_with_a_larger_error():
    h, truth, sensed = station(sensed_every=1)
    room = np.full(len(truth), np.nan)
    keep = [i for i in range(len(truth)) if h.household_type[i] != "top_gable" and i % 6 == 0]
    room[keep] = truth[keep]
    h2 = StationHistory(
        h.t_supply_c, h.t_return_c, h.t_entrance_return_c, h.t_out_c, room, h.household_type, 1800
    )
    e = estimate_station(h2)
    tg = np.array([t == "top_gable" for t in h.household_type])
    others = ~tg & ~e.measured
    assert np.median(e.se_c[tg]) > 1.5 * np.median(e.se_c[others])
    assert "top_gable" not in e.fit["ratio_by_type"]
    # the unknown type's ratio is what its flats share: most of their error, not averaged out
    assert np.all(e.se_type_c[tg] <= e.se_c[tg])
    assert np.median(e.se_type_c[tg] / e.se_c[tg]) > 0.7
    assert np.all(e.se_type_c[e.measured] == 0.0)


def test_a_flat_without_its_own_return_probe_says_its_estimate_is_poor():
    h, truth, _ = station()
    tr = h.t_return_c.copy()
    tr[:, 1] = np.nan
    h2 = StationHistory(
        h.t_supply_c, tr, h.t_entrance_return_c, h.t_out_c, h.t_room_c, h.household_type, 1800
    )
    e = estimate_station(h2)
    assert e.method[1] == "heat-balance-entrance"
    assert e.se_c[1] > 1.5 > e.se_c[2]


def test_too_few_sensed_flats_and_bad_shapes_are_refused():
    h, truth, _ = station()
    room = np.full(len(truth), np.nan)
    room[:2] = truth[:2]
    with pytest.raises(RoomEstimateError, match="at least 3"):
        estimate_station(
            StationHistory(
                h.t_supply_c,
                h.t_return_c,
                h.t_entrance_return_c,
                h.t_out_c,
                room,
                h.household_type,
                1800,
            ),
            EstimatorSettings(),
        )
    with pytest.raises(RoomEstimateError, match="steps, households"):
        StationHistory(
            h.t_supply_c[:, :3],
            h.t_return_c,
            h.t_entrance_return_c,
            h.t_out_c,
            room,
            h.household_type,
            1800,
        )
    with pytest.raises(RoomEstimateError, match="finite"):
        StationHistory(
            h.t_supply_c,
            h.t_return_c,
            h.t_entrance_return_c,
            h.t_out_c * np.nan,
            room,
            h.household_type,
            1800,
        )


def test_gaps_in_a_history_carry_the_last_value_and_a_silent_column_stays_unknown():
    nan = np.nan
    a = np.array([[nan, 1.0, nan], [2.0, nan, nan], [nan, 3.0, nan], [4.0, nan, nan]])
    out = fill_gaps(a)
    assert out[:, 0].tolist() == [2.0, 2.0, 2.0, 4.0]
    assert out[:, 1].tolist() == [1.0, 1.0, 3.0, 3.0]
    assert np.all(np.isnan(out[:, 2]))
    assert fill_gaps(np.array([nan, 5.0, nan])).tolist() == [5.0, 5.0, 5.0]


def test_a_sensor_its_types_other_flats_contradict_is_suspect_and_estimated_instead():
    h, truth, sensed = station()
    room = h.t_room_c.copy()
    room[sensed[0]] += 5.0  # a middle flat's sensor over its radiator
    h2 = StationHistory(
        h.t_supply_c, h.t_return_c, h.t_entrance_return_c, h.t_out_c, room, h.household_type, 1800
    )
    e = estimate_station(h2)
    assert e.method[sensed[0]] == "suspect-sensor" and not e.measured[sensed[0]]
    assert abs(e.t_room_c[sensed[0]] - truth[sensed[0]]) < 0.1
    assert e.fit["suspect_sensors"] == 1


def test_of_two_sensed_flats_of_a_type_the_bad_sensor_is_the_suspect():
    h, truth, sensed = station(noise_c=0.2)
    room = h.t_room_c.copy()
    tops = [i for i in sensed if h.household_type[i] == "top"]
    room[tops[2:]] = np.nan
    room[tops[0]] -= 7.0  # on a window sill
    h2 = StationHistory(
        h.t_supply_c, h.t_return_c, h.t_entrance_return_c, h.t_out_c, room, h.household_type, 1800
    )
    e = estimate_station(h2)
    assert e.method[tops[0]] == "suspect-sensor" and e.method[tops[1]] == "measured"
    assert e.fit["suspect_sensors"] == 1
    unsensed_top = [i for i in range(len(truth)) if h.household_type[i] == "top" and i != tops[1]]
    assert np.max(np.abs(e.t_room_c[unsensed_top] - truth[unsensed_top])) < 1.0


def test_a_types_only_sensed_flat_is_believed_where_the_other_types_do_not_explain_it():
    h, truth, sensed = station()
    room = h.t_room_c.copy()
    tops = [i for i in sensed if h.household_type[i] == "top"]
    room[tops[1:]] = np.nan  # one sensed top flat left...
    room[tops[0]] += 4.0  # ...4 K warmer than the other types' line says: physics, not a fault
    h2 = StationHistory(
        h.t_supply_c, h.t_return_c, h.t_entrance_return_c, h.t_out_c, room, h.household_type, 1800
    )
    e = estimate_station(h2)
    assert e.method[tops[0]] == "measured" and e.fit["suspect_sensors"] == 0
    unsensed_top = [i for i in range(len(truth)) if h.household_type[i] == "top" and i != tops[0]]
    assert np.mean(e.t_room_c[unsensed_top] - truth[unsensed_top]) > 1.0
