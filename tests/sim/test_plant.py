"""The plant: a hand-calculated steady state, energy balance, hydraulics with actual openings."""

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from host.models.hydraulics import solve_network
from host.models.hydraulics.valves import Characteristic, Valve
from sim import plant as plant_mod
from sim.estate import EstateSpec, build_estate
from sim.flows import NetworkFlows, _valve_arrays
from sim.station import StationSettings
from sim.weather import Weather

CP, RHO = 4186.0, 988.0


def single_flat_plant(monkeypatch, t_out_c=-5.0):
    """One building, one entrance, one flat; constant weather; no gains."""
    spec = EstateSpec(
        n_buildings=1, entrances_per_building=(1, 1), floors=(1, 1), households_per_floor=(1, 1)
    )
    estate = build_estate(spec, 3, "one")
    monkeypatch.setattr(plant_mod.hh, "gains_w", lambda p, t: np.zeros(p.count))
    weather = Weather(np.array([0.0, 1e9]), np.array([t_out_c, t_out_c]))
    station = StationSettings(speed_design=1.0, speed_mild=1.0)
    return estate, station, plant_mod.Plant(estate, weather, station, dt_s=600.0)


def test_single_household_steady_state_matches_a_hand_calculation(monkeypatch):
    t_out = -5.0
    estate, station, plant = single_flat_plant(monkeypatch, t_out)
    net = estate.network
    for _ in range(4000):  # 28 days of 10 min: many building-mass time constants
        out = plant.step(np.ones(1), np.ones(1))
    # By hand: flow from the network solver, supply cooled along the mains, then the flat.
    sol = solve_network(net)
    g_m3h = sol.household_flow_m3h[0]
    ts_station = station.supply_c(t_out)
    lam = 0.0
    for p, q in zip(net.pipes, sol.pipe_flow_m3h, strict=True):
        if p.side.value == "supply":
            d = p.diameter_mm / 1000.0
            lam += (0.25 + 2.0 * d) * p.length_m / (abs(q) / 3600.0 * RHO * CP)
    ts = 5.0 + (ts_station - 5.0) * math.exp(-lam)
    par = estate.params
    h_total = 1.0 / (1.0 / par.h_am_w_k[0] + 1.0 / par.h_env_w_k[0]) + par.h_vent_w_k[0]
    qn = estate.q_nominal_w[0]
    gc = g_m3h * RHO / 3600.0 * CP
    dt_n = (75.0 - 65.0) / math.log((75.0 - 20.0) / (65.0 - 20.0))

    def radiator_w(t_room):
        def excess(tr):
            lmtd = (ts - tr) / math.log((ts - t_room) / (tr - t_room))
            return gc * (ts - tr) - qn * (lmtd / dt_n) ** 1.3

        tr = brentq(excess, t_room + 1e-9, ts - 1e-9, xtol=1e-12)
        return gc * (ts - tr)

    t_room = brentq(
        lambda t: radiator_w(t) - h_total * (t - t_out), t_out + 1.0, ts - 1.0, xtol=1e-10
    )
    assert out.flows.household_flow_m3h[0] == pytest.approx(g_m3h, rel=1e-5)
    assert out.t_supply_entrance_c[0] == pytest.approx(ts, abs=1e-6)
    assert out.t_room_c[0] == pytest.approx(t_room, abs=0.01)
    assert 15.0 < t_room < 28.0


def test_energy_balances_over_a_run_with_boards():
    from sim.metrics import energy_balance
    from sim.runner import run
    from sim.scenario import load_scenario

    result = run(load_scenario("tiny", days=0.5))
    bal = energy_balance(result.ledger)
    # flats: implicit step, balance to round-off; network: within 1 % (heat in transit)
    assert abs(bal["flats_residual_rel"]) < 1e-9
    assert abs(bal["network_residual_rel"]) < 0.01
    led = result.ledger
    assert led.station_j > led.radiator_j > 0 and led.mains_loss_j > 0


def test_vectorised_valve_law_matches_the_hydraulics_package():
    valves = [
        Valve(2.5, 1.0, Characteristic.LINEAR),
        Valve(4.0, 1.0),
        Valve(1.6, 1.0, Characteristic.EQUAL_PERCENTAGE, 50.0),
    ]
    arr = _valve_arrays(valves)
    for x in (0.0, 0.03, 0.5, 0.97, 1.0):
        s = arr.s_si(np.full(3, x), 988.0) / 3600.0**2
        expect = [v.s_m_per_m3h2(988.0, x) for v in valves]
        np.testing.assert_allclose(s, expect, rtol=1e-12)


def test_warm_started_flows_equal_a_cold_solve_of_the_same_openings():
    estate = build_estate(EstateSpec(n_buildings=3), 5, "three")
    net = estate.network
    flows = NetworkFlows(net)
    rng = np.random.default_rng(0)
    for _ in range(3):
        ent = rng.uniform(0.2, 1.0, len(net.entrances))
        hho = rng.uniform(0.2, 1.0, len(net.households))
        got = flows.solve(ent, hho, 0.9)
        ref = solve_network(
            net.with_openings(
                {e.id: x for e, x in zip(net.entrances, ent, strict=True)},
                {h.id: x for h, x in zip(net.households, hho, strict=True)},
            ).with_pump_speed(0.9)
        )
        np.testing.assert_allclose(got.household_flow_m3h, ref.household_flow_m3h, rtol=1e-5)
        np.testing.assert_allclose(got.entrance_flow_m3h, ref.entrance_flow_m3h, rtol=1e-5)
    # a closed entrance valve starves its households
    ent[0] = 0.0
    closed = flows.solve(ent, hho, 0.9)
    assert closed.entrance_flow_m3h[0] < 1e-3 * got.entrance_flow_m3h[0]


def test_transport_delay_reaches_the_entrance_late():
    from sim.transport import DelayLine

    line = DelayLine(60.0, 50.0, max_delay_s=3600.0)
    for k in range(10):
        line.push(50.0 + (10.0 if k >= 5 else 0.0))
    # the step happened 5 samples (300 s) ago
    assert line.delayed(np.array([200.0]))[0] == pytest.approx(60.0)
    assert line.delayed(np.array([400.0]))[0] == pytest.approx(50.0)
    assert line.delayed(np.array([270.0]))[0] == pytest.approx(55.0)
