"""The whole board program on CPython against a real Mosquitto, with simulated hardware.

edge.app (part 1: positioners, sensing, PI loops, numpy standing in for ulab) runs on
edge.simhw's simulated entrance and plant; edge.connected joins it to the broker through the
link, with the umqtt.simple `MQTTClient` API backed by paho-mqtt (paho_umqtt.py). Board time
is simulated (edge.clock.ManualClock), so a two-hour outage takes seconds; broker, sockets and
MQTT are real. The host side is a paho client subscribed as the host service subscribes.
"""

from __future__ import annotations

import json
import queue
import random
import time

import pytest

from edge import boarddef, device_profile, simhw
from edge.app import App
from edge.connected import ConnectedBoard
from shared import protocol as p
from sim.board_mqtt import paho_umqtt
from tests.mp.edgecheck import new_app, sim_entrance
from tests.mqtt_client import TestClient

SITE = "estate-9"


@pytest.fixture(autouse=True)
def network_up():
    paho_umqtt.NETWORK.up = True
    yield
    paho_umqtt.NETWORK.up = True


class Host:
    """The host's view: every uplink message of one unit, decoded, per kind."""

    def __init__(self, broker, unit):
        self.unit = unit
        self.client = TestClient(broker.host, broker.port)
        self.seen = {kind: [] for kind in p.UPLINK}
        for pattern in p.host_subscriptions(SITE):
            self.client.subscribe(pattern)

    def pump(self, wait_s=0.0):
        while True:
            try:
                msg = (
                    self.client.receive(timeout_s=wait_s)
                    if wait_s
                    else self.client.messages.get_nowait()
                )
            except queue.Empty:
                return
            wait_s = 0.0
            _site, unit, kind = p.parse_topic(msg.topic)
            if unit == self.unit:
                self.seen[kind].append(p.decode(kind, msg.payload))

    def publish(self, kind, msg, validate=True):
        payload = p.encode(kind, msg) if validate else json.dumps(dict(msg, v=1)).encode()
        self.client.publish(p.topic(SITE, self.unit, kind), payload, retain=True)

    def close(self):
        self.client.close()


class Rig:
    """A simulated entrance board, connected; `run()` advances board time and the host."""

    def __init__(self, broker, unit, tmp_path, seed=1, rs485=None, household=None):
        if rs485 is None:
            self.sb, board = sim_entrance(4, fs_root=str(tmp_path) + "/")
            self.app = new_app(self.sb, board)
        else:  # household valves on RS-485, declared in the board definition
            spec = simhw.sim_board_def(4)
            spec["rs485"] = rs485
            board = boarddef.validate(spec)
            self.sb = simhw.SimBoard(
                board, ua=[0.45, 0.35, 0.55, 0.5], fs_root=str(tmp_path) + "/"
            )
            self.app = App(board, self.sb.hw, household=household(self.sb.clock, board))
        clock = self.sb.clock
        clock.epoch_s = 1795000000
        self.ntp_offset_s = 3  # the board's clock starts 3 s off

        def ntp_time_s():
            if not paho_umqtt.NETWORK.up:
                raise OSError("network down")
            return clock.time_s() + self.ntp_offset_s

        def set_time_s(t_s):
            clock.epoch_s += t_s - clock.time_s()
            self.ntp_offset_s = 0

        unit_cfg = {
            "site": SITE,
            "unit": unit,
            "broker": f"{broker.host}:{broker.port}",
            "socket_timeout_s": 2,
            "keepalive_s": 60,
            "boot_spread_s": 0,
        }
        self.board = ConnectedBoard(
            self.app,
            unit_cfg,
            client_class=paho_umqtt.MQTTClient,
            rand=random.Random(seed).random,
            ntp=(ntp_time_s, set_time_s),
            link_period_ms=1000,
        )
        self.app.apply_config({"collection_period_s": 60, "control_period_s": 120})

    def run(self, ms, host=None, real_sleep_s=0.0):
        end = self.sb.clock.now_ms + ms
        while self.sb.clock.now_ms < end:
            self.sb.run(self.app, min(1000, end - self.sb.clock.now_ms))
            if host is not None:
                host.pump()
            if real_sleep_s:
                time.sleep(real_sleep_s)

    def run_until(self, cond, host, real_timeout_s=30.0, step_ms=1000):
        deadline = time.monotonic() + real_timeout_s
        while not cond():
            assert time.monotonic() < deadline, "condition not reached in time"
            self.run(step_ms, host)
            host.pump(0.01)


def test_board_reports_takes_targets_and_refuses_a_bad_config(mosquitto, tmp_path):
    host = Host(mosquitto, "e1")
    rig = Rig(mosquitto, "e1", tmp_path)
    try:
        rig.run_until(lambda: len(host.seen[p.TELE]) >= 3, host)
        state = [s for s in host.seen[p.STATE] if s["status"] == "online"][-1]
        assert state["board"] == "sim-entrance" and state["fw"] == "0.1.0"
        tele = host.seen[p.TELE][-1]
        assert [v["id"] for v in tele["valves"]] == ["entrance", "hh1", "hh2", "hh3"]
        assert tele["time_synced"] is True  # NTP done at boot
        assert tele["health"]["outbox_depth"] == 0
        assert any(e["event"] == "time_sync" and e["value"] == 3 for e in host.seen[p.EVENT])

        host.publish(
            p.TARGETS,
            {
                "version": 7,
                "ts_s": 1795000100,
                "targets": {"entrance": {"t_return_c": 38.0}, "hh2": {"t_return_c": 36.5}},
            },
        )
        rig.run_until(lambda: any(a["of"] == "targets" for a in host.seen[p.ACK]), host)
        ack = [a for a in host.seen[p.ACK] if a["of"] == "targets"][-1]
        assert (ack["version"], ack["result"]) == (7, "applied")
        assert rig.app.targets_version == 7
        rig.run_until(lambda: host.seen[p.TELE][-1]["valves"][2]["target_c"] == 36.5, host)
        assert host.seen[p.TELE][-1]["valves"][0]["target_c"] == 38.0

        host.publish(
            p.CONFIG,
            {"version": 3, "ts_s": 1795000200, "opening_min_pct": 80, "opening_max_pct": 30},
            validate=False,
        )  # a broken host
        rig.run_until(lambda: any(a["of"] == "config" for a in host.seen[p.ACK]), host)
        ack = [a for a in host.seen[p.ACK] if a["of"] == "config"][-1]
        assert ack["result"] == "refused" and ack["version"] == 3
        assert "opening_min_pct above opening_max_pct" in ack["reason"]
        assert rig.app.config["version"] == 0  # nothing changed

        host.publish(
            p.TARGETS,
            {"version": 8, "ts_s": 1795000300, "targets": {"garage": {"t_return_c": 30.0}}},
        )
        rig.run_until(lambda: host.seen[p.ACK][-1]["version"] == 8, host)
        assert host.seen[p.ACK][-1]["result"] == "refused"
        assert "garage" in host.seen[p.ACK][-1]["reason"] and rig.app.targets_version == 7
        # One sequence for telemetry and events: every number once.
        seqs = [m["seq"] for m in host.seen[p.TELE] + host.seen[p.EVENT]]
        assert len(seqs) == len(set(seqs))
    finally:
        rig.board.close()
        host.close()


def test_two_hour_outage_and_broker_restart_lose_nothing(fresh_mosquitto, tmp_path):
    host = Host(fresh_mosquitto, "e2")
    rig = Rig(fresh_mosquitto, "e2", tmp_path, seed=2)
    sessions = [host]
    try:
        rig.run_until(lambda: len(host.seen[p.TELE]) >= 2, host)
        host.publish(
            p.CONFIG,
            {"version": 1, "ts_s": 1795000000, "collection_period_s": 60, "control_period_s": 120},
        )
        rig.run_until(lambda: rig.app.config["version"] == 1, host)

        # 1. The board's network goes for two hours; the host changes the config meanwhile.
        paho_umqtt.NETWORK.up = False
        rig.run(5000, host)
        host.pump(0.5)
        assert host.seen[p.STATE][-1]["status"] == "offline"  # the last will
        host.publish(
            p.CONFIG,
            {
                "version": 2,
                "ts_s": 1795003600,
                "collection_period_s": 120,
                "control_period_s": 600,
                "precision_c": 0.3,
            },
        )
        n_before = len(host.seen[p.TELE])
        t0 = time.monotonic()
        rig.run(2 * 3600 * 1000)
        outage_real_s = time.monotonic() - t0
        depth = rig.board.outbox.depth()
        assert depth >= 120, depth  # a record a minute (and the events) wait on flash
        assert len(host.seen[p.TELE]) == n_before  # nothing leaked out while offline
        delays = list(rig.board.link.delays_ms)
        paho_umqtt.NETWORK.up = True
        t1 = time.monotonic()
        rig.run_until(
            lambda: rig.board.outbox.depth() == 0 and rig.app.config["version"] == 2,
            host,
            real_timeout_s=60,
        )
        host.pump(0.5)
        replay_real_s = time.monotonic() - t1
        assert rig.app.config["collection_period_s"] == 120
        assert rig.app.config["precision_c"] == 0.3
        cfg_acks = [a for a in host.seen[p.ACK] if a["of"] == "config"]
        assert (cfg_acks[-1]["version"], cfg_acks[-1]["result"]) == (2, "applied")
        outage = [t for t in host.seen[p.TELE][n_before:] if t["ts_s"] < rig.sb.clock.time_s()]
        stamps = [t["ts_s"] for t in outage]
        assert stamps == sorted(stamps) and len(stamps) >= 120
        assert stamps[119] - stamps[0] == 119 * 60  # original board times, a minute apart
        assert all(t["time_synced"] for t in outage)

        # 2. The broker restarts. The host is back before the board's next attempt.
        fresh_mosquitto.stop()
        host.close()
        rig.run(10 * 60 * 1000)  # the board notices and keeps recording
        assert rig.board.outbox.depth() >= 4
        fresh_mosquitto.start()
        host = Host(fresh_mosquitto, "e2")
        sessions.append(host)
        rig.run_until(
            lambda: rig.board.link.connected and rig.board.outbox.depth() == 0,
            host,
            real_timeout_s=60,
        )
        host.pump(0.5)
        print(
            f"outage: {depth} records on flash after 2 h (simulated in {outage_real_s:.1f} s);"
            f" backfill in {replay_real_s:.1f} s real; {len(delays)} reconnect delays_ms "
            f"{delays[:8]} ... {delays[-3:]}"
        )
    finally:
        rig.board.close()
        for h in sessions:
            h.close()

    # Nothing lost, nothing out of order: every record number from the first to the last,
    # telemetry and events together, reached the host (duplicates allowed, QoS 1).
    records = []
    for h in sessions:
        records += h.seen[p.TELE] + h.seen[p.EVENT]
        tele_seqs = [t["seq"] for t in h.seen[p.TELE]]
        assert tele_seqs == sorted(tele_seqs)
    seqs = {r["seq"] for r in records}
    assert seqs == set(range(min(seqs), max(seqs) + 1)), sorted(set(range(max(seqs))) - seqs)
    assert min(seqs) == 0
    # Reconnect delays: exponential back-off with jitter up to the 300 s cap.
    assert len(delays) >= 20
    assert delays[0] < delays[3] < delays[6]
    assert len(set(delays)) == len(delays)
    assert max(delays) <= 300_000 and max(delays) > 150_000


def test_commissioning_self_test_report(mosquitto, tmp_path):
    """The report flash.sh prints: sensors, a full stroke per valve, broker, clock."""
    rig = Rig(mosquitto, "e3", tmp_path)
    try:
        lines = self_test_lines(rig)
        assert lines[-1].startswith("SELFTEST RESULT PASS"), "\n".join(lines)
        strokes = [line for line in lines if line.startswith("SELFTEST valve")]
        assert len(strokes) == 4 and all(" stroke ok angle_closed_deg " in s for s in strokes)
        assert any(line.startswith("SELFTEST sensor t_supply ") for line in lines)
        assert f"SELFTEST broker 127.0.0.1:{mosquitto.port} ok" in lines
        assert any(line.startswith("SELFTEST clock ok drift 3 s") for line in lines)
    finally:
        rig.board.close()


def test_commissioning_names_what_fails(tmp_path):
    """No broker and no network: the report says so, line by line, and the result is FAIL."""
    paho_umqtt.NETWORK.up = False

    class Nowhere:
        host, port = "127.0.0.1", 9  # discard port: nothing listens

    rig = Rig(Nowhere, "e4", tmp_path)
    try:
        lines = self_test_lines(rig)
        assert lines[-1] == "SELFTEST RESULT FAIL 2 failure(s)", "\n".join(lines)
        assert any(line.startswith("SELFTEST broker 127.0.0.1:9 FAIL connect:") for line in lines)
        assert "SELFTEST clock FAIL not synchronised" in lines
    finally:
        rig.board.close()


def self_test_lines(rig):
    from edge.connected import self_test

    return self_test(
        rig.app,
        rig.board,
        lambda ms: rig.run(ms, real_sleep_s=0.0),
        stroke_timeout_ms=600_000,
        link_timeout_ms=30_000,
    )


def test_household_valves_on_rs485_are_in_the_pi_loops_and_the_telemetry(mosquitto, tmp_path):
    """pymodbus slaves on a pty as two household valves (and one address with nobody),
    declared in the board definition's rs485 section: the host's targets reach them by valve
    id, the PI loop writes their openings over Modbus, telemetry carries them like the
    board's own valves (measured values, mode, health)."""
    from edge import household_valves as hv
    from edge import modbus
    from tests.boardcheck import ROOT
    from tests.edge_link.modbus_pty import PymodbusBus, RealClock, device

    bus = PymodbusBus(
        [
            device(5, holding={0: 0}, inputs={0: 385, 1: 420}),
            device(6, holding={0: 0}, inputs={0: 0xFE0C, 1: 100}),
        ]
    )  # -50 degC
    profiles = device_profile.load_profiles(str(ROOT / "boards" / "profiles"))
    rs485 = {
        "uart": 1,
        "tx": 1,
        "rx": 2,
        "period_ms": 5000,
        "dead_after": 2,
        "valves": [
            {"id": "f5-east", "addr": 5},
            {"id": "f5-west", "addr": 6},
            {"id": "f6-east", "addr": 7},
        ],
    }

    def household(clock, board):
        master = modbus.RTUMaster(bus.port, RealClock(), baud=9600, timeout_ms=80)
        spec = board["rs485"]
        return hv.build(
            master,
            clock,
            spec["valves"],
            profiles,
            dead_after=spec["dead_after"],
            probe_ms=spec["probe_ms"],
            stale_ms=spec["stale_ms"],
        )

    host = Host(mosquitto, "e5")
    rig = Rig(mosquitto, "e5", tmp_path, rs485=rs485, household=household)
    try:
        rig.run_until(lambda: len(host.seen[p.TELE]) >= 2, host)
        host.publish(
            p.TARGETS,
            {
                "version": 2,
                "ts_s": 1795000000,
                "targets": {
                    "entrance": {"t_return_c": 39.0},
                    "f5-east": {"t_return_c": 36.0},
                    "f5-west": {"t_return_c": 37.0, "opening_ff_pct": 55.0},
                },
            },
        )
        rig.run_until(lambda: any(a["of"] == "targets" for a in host.seen[p.ACK]), host)
        ack = [a for a in host.seen[p.ACK] if a["of"] == "targets"][-1]
        assert (ack["version"], ack["result"]) == (2, "applied")
        # 38.5 degC against 36: too warm, the loop closes it from its measured 42 %.
        rig.run_until(lambda: 0 < bus.registers(5, 3, 0, 1)[0] < 420, host, step_ms=5000)
        # -50 degC cannot be a return temperature: a bad probe, the valve's fail-safe opening.
        rig.run_until(lambda: bus.registers(6, 3, 0, 1) == [400], host, step_ms=5000)
        rig.run_until(
            lambda: any(e["event"] == "modbus_dead" for e in host.seen[p.EVENT]),
            host,
            step_ms=5000,
        )
        n = len(host.seen[p.TELE])
        rig.run_until(lambda: len(host.seen[p.TELE]) > n, host)
        tele = host.seen[p.TELE][-1]
        assert [v["id"] for v in tele["valves"]] == [
            "entrance",
            "hh1",
            "hh2",
            "hh3",
            "f5-east",
            "f5-west",
            "f6-east",
        ]
        valves = {v["id"]: v for v in tele["valves"]}
        east = valves["f5-east"]
        assert east["t_return_c"] == pytest.approx(38.5) and east["target_c"] == 36.0
        assert east["opening_meas_pct"] == pytest.approx(42.0)
        assert east["mode"] == "auto" and east["opening_cmd_pct"] < 42.0
        assert east["sensor_ok"] and east["valve_ok"]
        west = valves["f5-west"]
        assert west["t_return_c"] is None and west["sensor_ok"] is False
        assert west["mode"] == "failsafe" and west["opening_cmd_pct"] == 40.0
        assert west["opening_meas_pct"] == pytest.approx(10.0) and west["valve_ok"]
        dead = valves["f6-east"]
        assert dead["valve_ok"] is False and dead["t_return_c"] is None
        assert dead["mode"] == "frozen"
        event = [e for e in host.seen[p.EVENT] if e["event"] == "modbus_dead"][0]
        assert event["valve"] == "f6-east" and event["severity"] == "alarm"
    finally:
        rig.board.close()
        host.close()
        bus.close()
