"""Household thermal model: equilibrium, household types, windows, stability of long steps."""

import numpy as np
import pytest

from sim import household as h


def params(types):
    return h.typical_params(np.full(len(types), 80.0), types)


def test_stepping_converges_to_the_analytic_steady_state():
    p = params(["middle", "top", "gable"])
    q_rad = np.array([2500.0, 3000.0, 2000.0])
    gains = np.full(3, 200.0)
    state = h.HouseholdState.uniform(3, 10.0)
    for _ in range(6000):  # 6000 x 10 min: about six weeks, many mass time constants
        state = h.step(p, state, 600.0, -5.0, q_rad, gains)
        state.window_open[:] = False  # compare against windows shut
    steady = h.steady_state(p, -5.0, q_rad, gains)
    np.testing.assert_allclose(state.t_air_c, steady.t_air_c, atol=1e-6)
    np.testing.assert_allclose(state.t_mass_c, steady.t_mass_c, atol=1e-6)


def test_steady_state_energy_balance():
    p = params(["middle", "ground"])
    q = np.array([2000.0, 2000.0])
    s = h.steady_state(p, 0.0, q, np.zeros(2))
    loss = p.h_vent_w_k * (s.t_air_c - 0.0) + p.h_env_w_k * (s.t_mass_c - 0.0)
    np.testing.assert_allclose(loss, q, rtol=1e-12)


def test_top_and_gable_flats_are_colder_with_the_same_heat():
    p = params(["middle", "top", "gable", "top_gable"])
    s = h.steady_state(p, -5.0, np.full(4, 2500.0), np.zeros(4))
    middle, top, gable, corner = s.t_air_c
    assert middle > gable > corner and middle > top > corner
    assert middle - corner > 3.0


def test_design_loss_matches_steady_state_at_design_conditions():
    p = params(["middle", "top"])
    q = p.design_loss_w(20.0, -9.0)
    s = h.steady_state(p, -9.0, q, np.zeros(2))
    np.testing.assert_allclose(s.t_air_c, 20.0, atol=1e-9)


def test_windows_open_when_too_warm_and_waste_heat():
    p = params(["middle"])
    q = np.array([6000.0])  # far too much heat
    state = h.HouseholdState.uniform(1, 20.0)
    opened_at = None
    for i in range(2000):
        state = h.step(p, state, 300.0, 0.0, q, np.zeros(1))
        if state.window_open[0] and opened_at is None:
            opened_at = i
    assert opened_at is not None
    assert state.t_air_c[0] < h.WINDOW_OPEN_ABOVE_C + 1.5  # windows cap the temperature
    shut = h.steady_state(p, 0.0, q, np.zeros(1))
    assert shut.t_air_c[0] > 30.0  # without occupants the flat would overheat


def test_long_steps_stay_stable():
    p = params(["middle"])
    state = h.HouseholdState.uniform(1, 20.0)
    for _ in range(50):
        state = h.step(p, state, 6 * 3600.0, -10.0, np.zeros(1), np.zeros(1))
        assert -10.0 <= state.t_air_c[0] <= 20.0


def test_bad_parameters_are_refused():
    with pytest.raises(h.HouseholdModelError, match="unknown household type 'attic'"):
        params(["attic"])
    good = params(["middle"])
    with pytest.raises(h.HouseholdModelError, match="c_air_j_k must be positive"):
        h.HouseholdParams(**{**good.__dict__, "c_air_j_k": np.array([0.0])})
    with pytest.raises(h.HouseholdModelError, match="one value per household"):
        h.HouseholdParams(**{**good.__dict__, "area_m2": np.array([1.0, 2.0])})
    with pytest.raises(h.HouseholdModelError, match="dt_s"):
        h.step(good, h.HouseholdState.uniform(1, 20.0), 0.0, 0.0, np.zeros(1), np.zeros(1))


def test_gains_follow_the_day():
    p = params(["middle"])
    night = h.gains_w(p, 3 * 3600.0)[0]
    noon = h.gains_w(p, 12 * 3600.0)[0]
    evening = h.gains_w(p, 20 * 3600.0)[0]
    assert noon > night and evening > night
