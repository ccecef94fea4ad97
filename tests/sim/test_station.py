"""The simulated station obeys a host's commands (pump speed, supply set-point) within its
limits, lags its supply, keeps the pump's affinity laws, and falls back to its own curve and
speed when the host falls silent. The station is simulated hardware (sim.station)."""

import math
from dataclasses import replace

import numpy as np
import pytest

from sim.plant import Plant
from sim.scenario import load_scenario
from sim.station import StationCommand, StationSettings
from sim.weather import Weather


def plant(**station_kw):
    scn = load_scenario("tiny", days=1)
    weather = Weather(np.array([0.0, 1e9]), np.array([-5.0, -5.0]))
    st = replace(scn.station, **station_kw)
    return Plant(scn.estate, weather, st, dt_s=60.0)


def run(p, minutes):
    ent = np.ones(p.n_e)
    hho = np.ones(p.n_h)
    out = None
    for _ in range(minutes):
        out = p.step(ent, hho)
    return out


def test_commanded_speed_is_applied_within_limits_and_power_follows_affinity():
    p = plant()
    p.command = StationCommand(p.time_s, pump_speed=1.0)
    full = run(p, 2)
    p.command = StationCommand(p.time_s, pump_speed=0.7)
    low = run(p, 2)
    assert full.pump_speed == 1.0 and low.pump_speed == 0.7
    # on a fixed network flow goes with speed, head with its square, power with its cube
    assert low.flows.pump_flow_m3h / full.flows.pump_flow_m3h == pytest.approx(0.7, rel=0.03)
    assert low.flows.pump_head_m / full.flows.pump_head_m == pytest.approx(0.49, rel=0.05)
    st = p.station
    ratio = st.pump_power_w(low.flows.pump_flow_m3h, low.flows.pump_head_m) / st.pump_power_w(
        full.flows.pump_flow_m3h, full.flows.pump_head_m
    )
    assert ratio == pytest.approx(0.343, rel=0.08)
    p.command = StationCommand(p.time_s, pump_speed=9.0)
    assert run(p, 1).pump_speed == p.station.speed_max
    p.command = StationCommand(p.time_s, pump_speed=0.01)
    assert run(p, 1).pump_speed == p.station.speed_min


def test_supply_follows_its_set_point_with_the_station_lag():
    p = plant(supply_tau_s=600.0)
    start = run(p, 1).t_supply_station_c
    p.command = StationCommand(p.time_s, t_supply_c=start - 10.0)
    after_tau = run(p, 10).t_supply_station_c
    assert start - after_tau == pytest.approx(10.0 * (1 - math.exp(-1.0)), abs=0.8)
    settled = run(p, 60).t_supply_station_c
    assert settled == pytest.approx(start - 10.0, abs=0.05)
    p.command = StationCommand(p.time_s, t_supply_c=200.0)
    assert run(p, 120).t_supply_station_c == pytest.approx(p.station.t_supply_max_c, abs=0.05)


def test_host_silent_station_returns_to_its_own_curve_and_speed():
    p = plant(host_silent_s=3600.0, supply_tau_s=300.0)
    own_speed = p.pump_speed
    own_supply = p.station.supply_c(-5.0)
    p.command = StationCommand(p.time_s, pump_speed=0.6, t_supply_c=45.0)
    held = run(p, 50)
    assert held.pump_speed == 0.6 and held.t_supply_station_c == pytest.approx(45.0, abs=0.5)
    back = run(p, 70)  # the command is now older than host_silent_s
    assert back.pump_speed == own_speed
    assert back.t_supply_station_c == pytest.approx(own_supply, abs=0.5)


def test_bad_station_settings_refused():
    with pytest.raises(ValueError, match="speed_min"):
        StationSettings(speed_min=1.5, speed_max=1.3)
    with pytest.raises(ValueError, match="t_supply_min_c"):
        StationSettings(t_supply_min_c=80.0)
    with pytest.raises(ValueError, match="host_silent_s"):
        StationSettings(host_silent_s=0.0)
