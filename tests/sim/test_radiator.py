"""EN 442 radiator model: nominal point, energy balance, limits and monotonicity."""

import numpy as np
import pytest

from sim import radiator as r


def test_nominal_conditions_give_nominal_output():
    q = r.output_w(1000.0, 75.0, 65.0, 20.0)
    assert q == pytest.approx(1000.0, rel=1e-12)
    assert r.NOMINAL_DT_K == pytest.approx(49.83, abs=0.01)


def test_log_mean_reaches_its_limit_continuously():
    near = r.log_mean_dt_k(50.0, 50.0 - 1e-7, 20.0)
    assert near == pytest.approx(30.0, abs=1e-6)
    assert r.log_mean_dt_k(50.0, 50.0, 20.0) == pytest.approx(30.0)


def test_solved_return_balances_water_heat_and_radiator_output():
    flow = np.array([0.01, 0.05, 0.1, 0.3, 1.0])
    t_ret, heat = r.solve_return(flow, 55.0, 20.0, 2000.0)
    water = r.water_capacity_w_k(flow) * (55.0 - t_ret)
    radiator = r.output_w(2000.0, 55.0, t_ret, 20.0)
    np.testing.assert_allclose(heat, water, rtol=1e-12)
    np.testing.assert_allclose(heat, radiator, rtol=1e-6)
    assert np.all((t_ret > 20.0) & (t_ret < 55.0))


def test_more_flow_means_warmer_return_and_more_heat():
    flow = np.linspace(0.01, 2.0, 50)
    t_ret, heat = r.solve_return(flow, 55.0, 20.0, 2000.0)
    assert np.all(np.diff(t_ret) > 0)
    assert np.all(np.diff(heat) > 0)
    # Saturation: the radiator cannot give more than at an infinite flow (return = supply).
    assert heat[-1] < r.output_w(2000.0, 55.0, 55.0, 20.0)


def test_design_sizing_round_trip():
    qn = r.nominal_for_design_w(1500.0, 55.0, 45.0, 20.0)
    design_flow = 1500.0 / r.water_capacity_w_k(1.0) / 10.0
    t_ret, heat = r.solve_return(design_flow, 55.0, 20.0, qn)
    assert t_ret == pytest.approx(45.0, abs=1e-6)
    assert heat == pytest.approx(1500.0, rel=1e-6)


def test_no_flow_and_cold_supply_give_no_heat():
    t_ret, heat = r.solve_return(np.array([0.0, 0.2]), np.array([55.0, 18.0]), 20.0, 1500.0)
    assert heat.tolist() == [0.0, 0.0]
    assert t_ret.tolist() == [20.0, 18.0]
