"""The simulator's Newton solution of the radiator equation equals the bisection."""

import numpy as np

from sim import radiator


def test_newton_matches_bisection_over_a_wide_range():
    rng = np.random.default_rng(1)
    n = 2000
    flow = rng.uniform(0.0005, 2.0, n)
    flow[:5] = 0.0
    ts = rng.uniform(25.0, 80.0, n)
    troom = rng.uniform(0.0, 30.0, n)
    qn = rng.uniform(300.0, 9000.0, n)
    tr_b, q_b = radiator.solve_return(flow, ts, troom, qn)
    tr_n, q_n = radiator.solve_return_fast(flow, ts, troom, qn)
    np.testing.assert_allclose(tr_n, tr_b, atol=1e-9)
    np.testing.assert_allclose(q_n, q_b, atol=1e-6, rtol=1e-9)
