"""Weather: reproducible synthetic winters with cold spells and a diurnal swing; CSV input."""

import numpy as np
import pytest

from sim.weather import Weather, WeatherError, load_csv, synthetic_winter


def test_same_seed_same_winter_other_seed_other_winter():
    a = synthetic_winter(7, seed=1)
    b = synthetic_winter(7, seed=1)
    c = synthetic_winter(7, seed=2)
    np.testing.assert_array_equal(a.t_out_c, b.t_out_c)
    assert not np.allclose(a.t_out_c, c.t_out_c)
    assert a.duration_s == 7 * 86400


def test_winter_statistics_are_plausible():
    w = synthetic_winter(120, seed=3, mean_c=-2.0)
    assert -6.0 < w.t_out_c.mean() < 2.0
    hours = (w.time_s % 86400) / 3600
    cold = w.t_out_c[(hours >= 4) & (hours <= 6)].mean()
    warm = w.t_out_c[(hours >= 13) & (hours <= 15)].mean()
    assert warm - cold > 5.0
    daily = w.t_out_c[: 120 * 24].reshape(120, 24).mean(axis=1)
    lag1 = np.corrcoef(daily[:-1], daily[1:])[0, 1]
    assert lag1 > 0.5  # cold spells last days


def test_interpolation_and_holding_at_the_ends():
    w = Weather(np.array([0.0, 10.0]), np.array([0.0, 10.0]))
    assert w.at(5.0) == pytest.approx(5.0)
    assert w.at(-1.0) == 0.0 and w.at(20.0) == 10.0


def test_csv_round_trip_and_errors(tmp_path):
    good = tmp_path / "w.csv"
    good.write_text("time_s,t_out_c\n0,-5\n3600,-6.5\n")
    w = load_csv(good)
    assert w.at(1800.0) == pytest.approx(-5.75)
    cases = {
        "time,t\n0,1\n1,2\n": "missing column",
        "time_s,t_out_c\n0,1\n0,2\n": "strictly increasing",
        "time_s,t_out_c\n0,1\n1,warm\n": ":3: not a number",
        "time_s,t_out_c\n0,1\n": "at least two",
        "time_s,t_out_c\n0,1\n1,nan\n": "finite",
    }
    for text, message in cases.items():
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        with pytest.raises(WeatherError, match=message):
            load_csv(bad)
    with pytest.raises(WeatherError, match="No such file"):
        load_csv(tmp_path / "absent.csv")
