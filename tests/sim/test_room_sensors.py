"""Room sensors in the simulator (issue 16): which households carry one, what they read, how
boards report them and how the demo registers them. The plant's room temperatures are the
truth; the boards see only their probes."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from edge import hal
from shared import protocol
from sim.devices import DeviceSpec, FaultEpisode
from sim.room_sensors import (
    TYPE_ORDER,
    RoomSensorField,
    RoomSensorSpec,
    choose,
    sensor_id,
)
from sim.runner import run
from sim.scenario import SCENARIO_DIR, ScenarioError, build_scenario, load_scenario
from sim.virtual_board import ProbeParams, VirtualBoard


def _doc(name: str, **changes) -> dict:
    doc = json.loads((SCENARIO_DIR / f"{name}.json").read_text())
    doc.update(changes)
    return doc


def _building_of(scn) -> dict[str, str]:
    return {e.id: e.building for e in scn.estate.network.entrances}


def test_about_a_tenth_of_the_households_carry_a_sensor_chosen_deterministically():
    scn = load_scenario("compact")
    n = len(scn.estate.network.households)
    rs = scn.rooms
    assert rs.count == round(0.1 * n)
    assert np.all(np.diff(rs.households) > 0)
    again = load_scenario("compact")
    assert np.array_equal(again.rooms.households, rs.households)
    assert np.array_equal(again.rooms.bias_c, rs.bias_c)
    other = load_scenario("compact", seed=2)
    assert not np.array_equal(other.rooms.households, rs.households)
    # ids: the household's id within its entrance, a protocol identifier
    for i, (unit, sid) in scn.room_sensors().items():
        h = scn.estate.network.households[i]
        assert unit == h.entrance
        assert sid == sensor_id(h.id, h.entrance) == "r-" + h.id[len(unit) :]
        protocol._check_id(sid, "sensor")
    # no rooms section, no sensors
    assert load_scenario("tiny").rooms.count == 0


def test_each_building_gets_one_of_each_type_first_then_spreads_over_floors():
    scn = build_scenario(_doc("typical", rooms={"share": 0.25}))
    types = scn.estate.household_type
    b_of = _building_of(scn)
    hhs = scn.estate.network.households
    members: dict[str, list[int]] = {}
    for i, h in enumerate(hhs):
        members.setdefault(b_of[h.entrance], []).append(i)
    sensed: dict[str, list[int]] = {}
    for i in scn.rooms.households:
        sensed.setdefault(b_of[hhs[i].entrance], []).append(int(i))
    for b, idx in members.items():
        mine = sensed.get(b, [])
        assert abs(len(mine) - 0.25 * len(idx)) < 1.0  # its share, whole numbers
        present = {types[i] for i in idx}
        got = Counter(types[i] for i in mine)
        # a representative of every type present before any type gets a second
        assert len(got) == min(len(mine), len(present))
        # the rest spread over the floors (the types put two on the top floor, ground ones
        # on the first): no floor has more than two sensors more than another
        floors = Counter(int(scn.estate.floor[i]) for i in mine)
        counts = [floors.get(f, 0) for f in {int(scn.estate.floor[i]) for i in idx}]
        assert max(counts) - min(counts) <= 2
    # across the estate every type is covered, even where a building has fewer sensors than
    # types (compact: about 3 per building)
    compact = load_scenario("compact")
    covered = {compact.estate.household_type[i] for i in compact.rooms.households}
    assert covered == set(compact.estate.household_type) and covered <= set(TYPE_ORDER)


def test_adding_sensors_changes_no_other_draw():
    with_rooms = load_scenario("compact", days=0.05)
    without = build_scenario({k: v for k, v in _doc("compact").items() if k != "rooms"}, days=0.05)
    assert without.rooms.count == 0 and with_rooms.rooms.count > 0
    assert np.array_equal(with_rooms.estate.q_nominal_w, without.estate.q_nominal_w)
    assert with_rooms.estate.network == without.estate.network
    a = run(replace(with_rooms, control="local"))
    b = run(replace(without, control="local"))
    for name in ("t_room_c", "household_opening", "entrance_opening", "t_return_entrance_c"):
        assert np.array_equal(getattr(a.series, name), getattr(b.series, name)), name
    assert a.series.t_room_sensor_c.shape == (len(a.series.time_s), with_rooms.rooms.count)
    assert b.series.t_room_sensor_c.shape[1] == 0


def test_probe_noise_bias_and_steps(tmp_path):
    spec = RoomSensorSpec()
    rs = choose(load_scenario("typical").estate, replace(spec, share=0.5), 4)
    assert rs.count > 300
    assert abs(float(np.mean(rs.bias_c))) < 0.05
    assert abs(float(np.std(rs.bias_c)) - spec.bias_sd_c) < 0.05
    pp = ProbeParams(spec.noise_c, 0.25, spec.step_c, 99)
    b = VirtualBoard(
        "B0E0",
        ["entrance"],
        DeviceSpec(),
        np.random.default_rng(0),
        str(tmp_path) + "/",
        100.0,
        {"entrance": 40.0},
        rooms=[("r-F1H0", pp)],
    )
    b.set_readings(np.array([40.0]), 60.0, 400.0, 300.0, [20.03])
    probe = b.room_probes[0]
    x = np.array([probe.read() for _ in range(2000)])
    steps = x / spec.step_c
    assert np.allclose(steps, np.round(steps))  # quantised to 0.1 K
    assert abs(float(np.mean(x)) - (20.03 + 0.25)) < 0.02  # the bias
    assert np.all(np.abs(x - 20.28) <= spec.noise_c + spec.step_c / 2 + 1e-9)
    assert float(np.std(x)) > 0.03  # and noise


def test_stuck_open_and_short_faults(tmp_path):
    pp = ProbeParams(0.1, 0.0, 0.1, 5)
    b = VirtualBoard(
        "B0E0",
        ["entrance"],
        DeviceSpec(),
        np.random.default_rng(0),
        str(tmp_path) + "/",
        100.0,
        {"entrance": 40.0},
        rooms=[("r-F1H0", pp), ("r-F2H0", pp)],
    )
    b.set_readings(np.array([40.0]), 60.0, 400.0, 300.0, [20.0, 21.0])
    b.run_until(600_000)
    before = b.room_readings()
    b.apply_room_faults({0: FaultEpisode(0, 0.0, 1e9, hal.OK, True)})
    b.set_readings(np.array([40.0]), 60.0, 400.0, 300.0, [25.0, 21.0])
    b.run_until(1200_000)
    after = b.room_readings()
    assert after[0] == before[0]  # stuck: the old value, no fault flagged
    rec = b.app.telemetry()
    assert rec["rooms"][0]["sensor_ok"] and rec["rooms"][0]["t_room_c"] == before[0]
    b.apply_room_faults({1: FaultEpisode(1, 0.0, 1e9, hal.F_OPEN, False)})
    b.run_until(1800_000)
    assert np.isnan(b.room_readings()[1])
    rooms = {r["sensor"]: r for r in b.app.telemetry()["rooms"]}
    assert rooms["r-F2H0"]["sensor_ok"] is False and rooms["r-F2H0"]["t_room_c"] is None
    # the schedule: open, short and stuck episodes at the stated rates
    scn = load_scenario("typical")
    rs = replace(
        scn.rooms,
        spec=replace(
            scn.rooms.spec,
            faults=replace(scn.rooms.spec.faults, open_per_day=0.2, short_per_day=0.1),
            stuck_per_day=0.1,
        ),
    )
    field = RoomSensorField(rs, 10 * 86400.0)
    kinds = Counter((e.code, e.freeze) for e in field.episodes)
    expected = {(hal.F_OPEN, False): 0.2, (hal.F_SHORT, False): 0.1, (hal.OK, True): 0.1}
    for kind, rate in expected.items():
        mean = rate * rs.count * 10
        assert abs(kinds[kind] - mean) < 4 * np.sqrt(mean)


def test_window_sill_sensors_read_a_mix_with_fast_swings():
    scn = load_scenario("compact")
    spec = replace(scn.rooms.spec, window_sill_share=0.5)
    rs = choose(scn.estate, spec, 3)
    sill = rs.window_sill
    assert 0.25 < float(np.mean(sill)) < 0.75
    field = RoomSensorField(rs, 86400.0)
    n_h = len(scn.estate.network.households)
    t_room = np.full(n_h, 21.0)
    shut = np.zeros(n_h, dtype=bool)
    xs = np.array([field.source_c(60.0 * k, t_room, -5.0, shut) for k in range(2000)])  # 33 hours
    assert np.all(xs[:, ~sill] == 21.0)  # the others read the room (their probe adds errors)
    w = rs.sill_mix[sill]
    expected = (1 - w) * 21.0 + w * -5.0
    assert np.all(np.abs(xs[:, sill].mean(axis=0) - expected) < 0.6)
    assert np.all(expected < 21.0 - 0.1 * 26 + 1e-9)
    swing = xs[:, sill] - expected
    assert 0.6 < float(np.std(swing)) < 1.4  # window_sill_swing_c 1 K
    d = np.diff(swing, axis=0)
    assert 0.2 < float(np.std(d)) < 0.6  # minute to minute: fast, but no jumps
    # an opened window pulls a sill sensor down over minutes, not in one sample
    first = int(np.flatnonzero(sill)[0])
    opened = shut.copy()
    opened[rs.households[first]] = True
    t0 = 60.0 * 2000
    before = xs[-1, first]
    ys = [field.source_c(t0 + 60.0 * k, t_room, -5.0, opened)[first] for k in range(1, 31)]
    drop = (spec.window_open_mix - w[0]) * 26.0
    assert before - ys[0] < 0.35 * drop + 1.5
    assert abs(ys[-1] - (0.4 * 21.0 + 0.6 * -5.0)) < 3.0


def test_the_scenario_refuses_unknown_or_bad_room_fields():
    for rooms, match in (
        ({"shares": 0.1}, r"rooms: unknown field\(s\) shares"),
        ({"faults": {"opn_per_day": 1}}, r"rooms\.faults: unknown field\(s\) opn_per_day"),
        ({"share": 1.5}, r"rooms: share must be within"),
        ({"window_sill_mix": [0.5, 0.2]}, "window_sill_mix"),
        ([0.1], r"rooms: must be an object"),
    ):
        with pytest.raises(ScenarioError, match=match):
            build_scenario(_doc("tiny", rooms=rooms))
    with pytest.raises(ScenarioError, match="radiator_spread"):
        build_scenario(_doc("tiny", estate={"radiator_spread": -0.1}))
    with pytest.raises(ScenarioError, match="outdoor_probe"):
        build_scenario(_doc("tiny", boards={"outdoor_probe": "roof"}))


def test_boards_report_their_rooms_and_the_outdoor_probe_without_truth(monkeypatch):
    scn = build_scenario(_doc("tiny", rooms={"share": 0.5}), days=2.0 / 24)
    rs = scn.rooms
    assert rs.count == 8
    seen: dict[str, list[dict]] = {}
    from sim import runner

    real = runner.keep_record

    def keep(records, unit, rec):
        seen.setdefault(unit, []).append(rec)
        real(records, unit, rec)

    monkeypatch.setattr(runner, "keep_record", keep)
    result = run(scn)
    truth = result.series.t_room_c[-1]
    by_unit: dict[str, dict[str, int]] = {}
    for i, (unit, sid) in result.room_sensors.items():
        by_unit.setdefault(unit, {})[sid] = i
    assert set(by_unit) == {e.id for e in scn.estate.network.entrances}
    for n, e in enumerate(scn.estate.network.entrances):
        rec = seen[e.id][-1]
        protocol.encode(protocol.TELE, {"v": protocol.SCHEMA_VERSION, **rec})  # valid
        assert {r["sensor"] for r in rec["rooms"]} == set(by_unit[e.id])
        for r in rec["rooms"]:
            i = by_unit[e.id][r["sensor"]]
            assert r["sensor_ok"] and abs(r["t_room_c"] - truth[i]) < 1.5
            assert set(r) <= {"sensor", "t_room_c", "ts_s", "sensor_ok", "battery_pct"}
        # the outdoor probe is on the first entrance's board only
        t_out = rec["entrance"].get("t_outdoor_c")
        if n == 0:
            assert abs(t_out - result.series.t_out_c[-1]) < 1.0
        else:
            assert t_out is None
        text = repr(rec)
        for secret in ("t_air", "t_mass", "window", "s_m_per_m3h2", "true"):
            assert secret not in text
    # the result keeps what the sensors reported beside the truth
    col = {int(h): k for k, h in enumerate(result.room_households)}
    reported = result.series.t_room_sensor_c[-1]
    for i in col:
        assert abs(reported[col[i]] - truth[i]) < 1.5
    assert set(result.unsensed()) | set(col) == set(range(len(truth)))
    assert not set(result.unsensed()) & set(col)


def test_the_demo_registers_every_sensor_with_its_household(tmp_path):
    from host.assets.registry import Registry
    from host.storage import open_storage
    from sim.demo import SITE, _register_estate

    scn = load_scenario("compact")
    storage = open_storage(f"sqlite:///{tmp_path / 'reg.db'}")
    try:
        reg = Registry(storage)
        _register_estate(SimpleNamespace(registry=reg), scn)
        sensors = scn.room_sensors()
        assert len(sensors) == scn.rooms.count > 0
        for i, h in enumerate(scn.estate.network.households):
            assert reg.household(h.id)["has_room_sensor"] is (i in sensors)
        for i, (unit, sid) in sensors.items():
            h = scn.estate.network.households[i]
            assert storage.device(f"{unit}-{sid}") == ("room_sensor", h.entrance, h.id)
            assert storage.device_at_point(SITE, unit, sid) == f"{unit}-{sid}"
    finally:
        storage.close()
