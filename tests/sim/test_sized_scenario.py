"""The sized estate (sim/scenarios/sized.json) and radiator_spread: radiators sized to each
flat's load, so exposed flats are not the cold ones by construction (contrast: typical)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sim import radiator
from sim.estate import T_ROOM_DESIGN_C, build_estate
from sim.scenario import load_scenario


def steady_design_rooms_c(estate) -> np.ndarray:
    """Each flat's room temperature at design conditions: design outdoor and supply
    temperatures, the flat's design flow, no gains, windows shut (bisection on the room
    temperature: radiator heat = loss)."""
    spec = estate.spec
    p = estate.params
    h_series = 1.0 / (1.0 / p.h_am_w_k + 1.0 / p.h_env_w_k)
    h_out = p.h_vent_w_k + h_series
    g = np.array([h.design_flow_m3h for h in estate.network.households])
    lo = np.full(len(g), spec.t_out_design_c)
    hi = np.full(len(g), spec.t_supply_design_c)
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        _, heat = radiator.solve_return(g, spec.t_supply_design_c, mid, estate.q_nominal_w)
        warmer = heat > h_out * (mid - spec.t_out_design_c)
        lo = np.where(warmer, mid, lo)
        hi = np.where(warmer, hi, mid)
    return 0.5 * (lo + hi)


def _by_type(estate, t_room):
    types = np.array(estate.household_type)
    return {t: float(np.mean(t_room[types == t])) for t in set(estate.household_type)}


def test_the_sized_estate_builds_with_room_sensors():
    scn = load_scenario("sized")
    net = scn.estate.network
    assert len({e.building for e in net.entrances}) == 8
    assert 150 < len(net.households) < 400
    assert scn.rooms.count == round(0.1 * len(net.households))
    assert scn.seed != load_scenario("compact").seed


def test_exposed_flats_are_not_systematically_colder_in_the_sized_estate():
    sized = load_scenario("sized").estate
    t = steady_design_rooms_c(sized)
    by = _by_type(sized, t)
    for kind in ("top_gable", "top", "gable", "ground"):
        assert abs(by[kind] - by["middle"]) < 0.5, (kind, by)
    assert abs(float(np.mean(t)) - T_ROOM_DESIGN_C) < 0.3
    assert 0.3 < float(np.std(t)) < 3.0  # the catalogue spread: flats differ
    # the typical estate (radiators by floor area) leaves its exposed flats cold
    typical = load_scenario("typical").estate
    by_t = _by_type(typical, steady_design_rooms_c(typical))
    assert by_t["middle"] - by_t["top_gable"] > 2.0
    assert by_t["middle"] - by_t["top"] > 1.0


def test_radiator_spread_is_lognormal_and_draws_nothing_else():
    spec = load_scenario("sized").estate.spec
    flat = build_estate(replace(spec, radiator_spread=0.0), 5, "x")
    spread = build_estate(spec, 5, "x")
    assert flat.network == spread.network  # the spread has a stream of its own
    assert np.array_equal(flat.params.h_env_w_k, spread.params.h_env_w_k)
    ratio = np.log(spread.q_nominal_w / flat.q_nominal_w)
    assert abs(float(np.mean(ratio))) < 0.02
    assert abs(float(np.std(ratio)) - spec.radiator_spread) < 0.02
