"""The host commands the station over a real Mosquitto: the station unit's record stored,
pump and supply decided from the rooms and valves, each decision stored with its inputs,
`desired/station` published retained and acknowledged, re-issued only when it changes or
half its validity has passed, schedules applied, an offline station left alone, both
strategies off handing the station back, and bad settings refused with nothing changed.

The boards and the station gateway are test clients publishing protocol messages
(simulated hardware). The station's own side of the command (limits, fallback, Modbus TCP)
is tests/mp/test_edge_station.py and tests/edge_link/test_station_modbus_tcp.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from host.control.station_control import StationControl, StationControlError
from host.control.strategy.station import HeatingCurve
from host.service.runtime import Service
from shared import protocol as p
from tests.host.helpers import add_room_entrance, make_config, wait_until
from tests.mqtt_client import TestClient

FLATS = {"h1": 20.6, "h2": 21.0, "h3": 20.8, "h4": 21.4}  # every room warm and measured
GATEWAY = "gw"


@pytest.fixture
def station(mosquitto, tmp_path, site) -> Iterator[Service]:
    svc = Service(make_config(mosquitto, f"sqlite:///{tmp_path}/station.db", site))
    add_room_entrance(svc.registry, site, [(v, "middle", f"r{v}") for v in FLATS])
    svc.registry.add_station_unit("st1", GATEWAY)
    svc.start()
    assert svc.link.connected.wait(10)
    yield svc
    svc.stop()


def _entrance(seq: int, ts_s: int, opening: float = 60.0) -> bytes:
    valves = [{"id": "entrance", "t_return_c": 40.0, "opening_cmd_pct": 80.0}]
    rooms = []
    for vid, t_room in FLATS.items():
        valves.append({"id": vid, "t_return_c": 38.0, "opening_cmd_pct": opening})
        rooms.append({"sensor": f"r{vid}", "t_room_c": t_room, "sensor_ok": True})
    msg = {
        "v": 1,
        "ts_s": ts_s,
        "seq": seq,
        "valves": valves,
        "rooms": rooms,
        "entrance": {"t_supply_c": 55.0, "t_return_c": 40.0, "flow_m3h": 3.0, "t_outdoor_c": -5.0},
    }
    return p.encode(p.TELE, msg)


def _station(seq: int, ts_s: int, mode: str = "local") -> bytes:
    record = {
        "mode": mode,
        "t_supply_c": 58.0,
        "t_return_c": 41.0,
        "p_supply_kpa": 450.0,
        "p_return_kpa": 300.0,
        "flow_m3h": 60.0,
        "pump_speed_pct": 85.0,
        "pump_power_kw": 18.0,
        "t_outdoor_c": -5.0,
        "t_supply_setpoint_c": 58.0,
    }
    if mode == "offline":
        record = {"mode": "offline"}
    return p.encode(p.TELE, {"v": 1, "ts_s": ts_s, "seq": seq, "valves": [], "station": record})


def _report(svc: Service, mosquitto, site: str, mode: str = "local") -> None:
    board = TestClient(mosquitto.host, mosquitto.port)
    try:
        now = int(time.time())
        for seq, ago in enumerate((7200, 5400, 3600, 1800, 10), start=1):
            board.publish(p.topic(site, "b1", p.TELE), _entrance(seq, now - ago))
        board.publish(p.topic(site, GATEWAY, p.TELE), _station(1, now - 5, mode))
        wait_until(
            lambda: svc.ingest.metrics.stored_messages[p.TELE] == 6, what="six records stored"
        )
    finally:
        board.close()


def _receive(client: TestClient, topic: str):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        msg = client.receive(timeout_s=max(0.1, deadline - time.monotonic()))
        if msg.topic == topic:
            return msg
    raise AssertionError(f"nothing on {topic}")


def test_the_station_is_commanded_acknowledged_and_every_decision_stored(station, mosquitto, site):
    _report(station, mosquitto, site)
    # The station's record is stored as point "station", its mode with it.
    latest = station.storage.latest_records(site, GATEWAY)["station"]
    assert latest["pump_speed_pct"] == 85.0 and latest["mode"] == "local"
    assert latest["t_supply_setpoint_c"] == 58.0
    gateway = TestClient(mosquitto.host, mosquitto.port)
    try:
        for topic in p.board_subscriptions(site, GATEWAY):
            gateway.subscribe(topic)
        control = station.station_control
        control.set_settings("st1", {"unit": GATEWAY, "pump": "on", "weather": "on"}, "admin")
        first = control.run("st1", "alice")
        # Nobody is cold, no valve saturated: the pump comes down one step from where the
        # station reported it; the supply follows the curve at the station's -5 degC.
        assert first["pump_reason"] == "lower" and first["pump_speed_pct"] == 82.0
        assert first["supply_reason"] == "curve"
        curve = control.settings("st1")["curve"]
        assert 35.0 <= first["t_supply_c"] <= 75.0
        expected = HeatingCurve(tuple((a, b) for a, b in curve)).supply_c(-5.0)
        assert first["t_supply_c"] == pytest.approx(expected, abs=0.06)
        assert first["outcome"] == "published" and first["desired_version"] == 1
        assert first["inputs"]["coldest_c"] == pytest.approx(20.8)
        cmd = p.decode(p.STATION, _receive(gateway, p.topic(site, GATEWAY, p.STATION)).payload)
        assert cmd["pump_speed_pct"] == 82.0 and cmd["t_supply_c"] == first["t_supply_c"]
        assert cmd["valid_for_s"] == 7200
        ack = {"ts_s": int(time.time()), "of": "station", "version": 1, "result": "applied"}
        gateway.publish(p.topic(site, GATEWAY, p.ACK), p.encode(p.ACK, ack))
        wait_until(
            lambda: (
                station.desired.status(site, GATEWAY).get("station", {}).get("status") == "applied"
            ),
            what="the station's ack",
        )
        late = TestClient(mosquitto.host, mosquitto.port)  # a gateway back from an outage
        try:
            late.subscribe(p.topic(site, GATEWAY, p.STATION))
            msg = _receive(late, p.topic(site, GATEWAY, p.STATION))
            assert msg.retain and p.decode(p.STATION, msg.payload)["version"] == 1
        finally:
            late.close()
        # Right after a change the pump holds, and an unchanged command is not re-sent.
        second = control.run("st1", "alice")
        assert second["pump_reason"] == "hold_after_change"
        assert second["outcome"] == "unchanged" and second["desired_version"] is None
        stored = control.decisions("st1")
        assert [d["id"] for d in stored] == [second["id"], first["id"]]
        assert stored[1]["inputs"]["speed_was"] == pytest.approx(0.85)
        # The state is stored: a restarted host goes on from the lowered pump.
        again = StationControl(
            station.storage,
            station.desired,
            lambda s, u: station.ingest.latest.get((s, u)),
            station.balancer.rooms,
            station.clock,
        )
        assert again.storage.station_control("st1")[1]["pump_speed"] == pytest.approx(0.82)
    finally:
        gateway.close()


def test_a_schedule_shifts_the_supply_and_freezes_the_offset(station, mosquitto, site):
    _report(station, mosquitto, site)
    control = station.station_control
    control.set_settings("st1", {"unit": GATEWAY, "pump": "off", "weather": "on"}, "admin")
    plain = control.run("st1", "alice")
    every_hour = [{"days": list(range(7)), "start_h": 0, "end_h": 24, "shift_c": -2.0}]
    control.set_settings("st1", {"weather": "scheduled", "schedule": every_hour}, "admin")
    scheduled = control.run("st1", "alice")
    assert scheduled["supply_reason"] == "curve_scheduled"
    assert scheduled["inputs"]["target_shift_c"] == -2.0
    # 2.5 K of supply per K of room set-back (supply_k_per_room_k)
    assert scheduled["t_supply_c"] == pytest.approx(plain["t_supply_c"] - 5.0, abs=0.11)
    # The pump strategy is off: the station keeps its own speed.
    assert scheduled["pump_speed_pct"] is None and scheduled["outcome"] == "published"
    cmd = p.decode(p.STATION, station.last_published[p.topic(site, GATEWAY, p.STATION)])
    assert cmd.get("pump_speed_pct") is None


def test_an_offline_station_gets_no_command_and_off_hands_it_back(station, mosquitto, site):
    _report(station, mosquitto, site, mode="offline")
    control = station.station_control
    control.set_settings("st1", {"unit": GATEWAY, "pump": "on", "weather": "on"}, "admin")
    row = control.run("st1", "alice")
    assert row["outcome"] == "station-offline" and row["desired_version"] is None
    assert station.desired.payload(site, GATEWAY, "station") is None
    control.set_settings("st1", {"pump": "off", "weather": "off"}, "admin")
    cmd = station.desired.payload(site, GATEWAY, "station")
    assert cmd is not None and cmd.get("pump_speed_pct") is None and cmd.get("t_supply_c") is None
    with pytest.raises(StationControlError) as exc:
        control.run("st1", "alice")
    assert exc.value.reason == "off"


def test_bad_station_settings_are_refused_whole_and_change_nothing(station):
    control = station.station_control
    before = control.settings("st1")
    bad = [
        ({"curve": [[-20, 60], [0, 65]]}, "not monotone"),
        (
            {
                "schedule": [
                    {"days": [0], "start_h": 1, "end_h": 5, "shift_c": -2},
                    {"days": [0], "start_h": 4, "end_h": 6, "shift_c": -1},
                ]
            },
            "overlap",
        ),
        ({"pump": "maybe"}, "pump must be one of"),
        ({"unit": "b1"}, "not a station unit"),
        ({"unit": "nobody"}, "not a station unit"),
        ({"speed_max": 1.2}, "full speed"),
        ({"valid_for_s": 900}, "twice period_s"),
        ({"supply_min_c": 80.0}, "supply_min_c"),
        ({"pump": "on", "colour": "red"}, "colour"),
    ]
    for changes, why in bad:
        with pytest.raises(StationControlError) as exc:
            control.set_settings("st1", changes, "admin")
        assert why in str(exc.value), (changes, str(exc.value))
    assert control.settings("st1") == before
    refused = station.storage.audit_rows(who="admin")
    assert sum(r["result"].startswith("refused") for r in refused) == len(bad)
    with pytest.raises(StationControlError) as exc:
        control.settings("nowhere")
    assert exc.value.reason == "unknown-station"


def test_a_building_schedule_shifts_its_valve_targets_and_pauses_room_learning(
    station, mosquitto, site
):
    """Time-division per building and household type on the valves: every valve of the
    scheduled building gets its target offset lowered by the return shift per K of room
    shift, a household-type period adds to it for that type's flats, and room mode learns
    nothing from a valve while its shift holds."""
    _report(station, mosquitto, site)
    station.balancer.set_settings("st1", {"mode": "room"}, "admin")
    plain = {
        d["valve"]: d["inputs"] for d in station.balancer.run_station("st1", "a")["decisions"]
    }
    learned = station.balancer.learned_offsets("st1")
    week = list(range(7))
    station.station_control.set_settings(
        "st1",
        {
            "valves": "scheduled",
            "return_k_per_room_k": 1.5,
            "schedule": [
                {
                    "days": week,
                    "start_h": 0,
                    "end_h": 24,
                    "shift_c": -2.0,
                    "scope": "building",
                    "which": "bd1",
                },
                {
                    "days": week,
                    "start_h": 0,
                    "end_h": 24,
                    "shift_c": -1.0,
                    "scope": "household_type",
                    "which": "middle",
                },
                {
                    "days": week,
                    "start_h": 0,
                    "end_h": 24,
                    "shift_c": -3.0,
                    "scope": "building",
                    "which": "elsewhere",
                },
            ],
        },
        "admin",
    )
    run = station.balancer.run_station("st1", "a")
    shifted = {d["valve"]: d["inputs"] for d in run["decisions"]}
    assert shifted["entrance"]["schedule_shift_c"] == -2.0  # the building's, not a type's
    for vid in FLATS:  # every flat here is of type middle, in bd1
        assert shifted[vid]["schedule_shift_c"] == -3.0
        assert shifted[vid]["offset_c"] == pytest.approx(
            plain[vid]["offset_c"] - 1.5 * 3.0, abs=1e-9
        )
        assert shifted[vid]["room_note"] == "scheduled"
    assert station.balancer.learned_offsets("st1") == learned  # nothing learned meanwhile
    station.station_control.set_settings("st1", {"valves": "off"}, "admin")
    again = {
        d["valve"]: d["inputs"] for d in station.balancer.run_station("st1", "a")["decisions"]
    }
    assert "schedule_shift_c" not in again["h1"]
