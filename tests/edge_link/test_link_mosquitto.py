"""The board's MQTT link (edge/link.py, outbox, desired state) against a real Mosquitto.

On CPython the umqtt.simple `MQTTClient` API is backed by paho-mqtt (paho_umqtt.py), talking
to the Mosquitto these tests start. The board runs on a manual clock, so back-off and a
two-hour outage happen in simulated time; the broker, sockets and MQTT are real. The host side
is a paho TestClient subscribed as the host service subscribes.
"""

from __future__ import annotations

import queue
import random
import time

import pytest

from shared import protocol as p
from sim.board_mqtt import paho_umqtt
from tests.mp.linkfakes import CFG, SITE, UNIT, LinkRig
from tests.mqtt_client import TestClient


def rig_for(broker, tmp_path, unit=UNIT, **extra):
    """A board on its own unit id (the session broker keeps other tests' retained state)."""
    cfg = dict(CFG, broker=f"{broker.host}:{broker.port}", socket_timeout_s=2, unit=unit, **extra)
    cfg.pop("user")
    cfg.pop("password")
    rng = random.Random(20261122)
    return LinkRig(str(tmp_path), rand=rng.random, cfg=cfg, client_class=paho_umqtt.MQTTClient)


@pytest.fixture(autouse=True)
def network_up():
    paho_umqtt.NETWORK.up = True
    yield
    paho_umqtt.NETWORK.up = True


OUTAGE_UNIT = "b12-e3"


def host(broker):
    h = TestClient(broker.host, broker.port)
    h.seen = {kind: [] for kind in p.UPLINK}
    for pattern in p.host_subscriptions(SITE):
        h.subscribe(pattern)
    return h


def collect(h, kind, until, timeout_s=10.0, rig=None):
    """Every `kind` message the host has received so far (decoded), once `until(list)` holds.

    With `rig`, the board keeps running (link polled, clock advanced 100 ms) meanwhile.
    """
    got = h.seen[kind]
    deadline = time.monotonic() + timeout_s
    while not until(got):
        left = deadline - time.monotonic()
        assert left > 0, f"host got only {len(got)} {kind} messages: {got[-3:]}"
        if rig is not None:
            rig.link.poll()
            rig.clock.advance(100)
        try:
            msg = h.receive(timeout_s=0.02 if rig is not None else min(left, 0.5))
        except queue.Empty:
            continue
        k = p.parse_topic(msg.topic)[2]
        h.seen[k].append(p.decode(k, msg.payload))
    return got


def run_until(rig, cond, sim_step_ms=100, real_timeout_s=20.0):
    deadline = time.monotonic() + real_timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        rig.link.poll()
        rig.clock.advance(sim_step_ms)
        time.sleep(0.002)


def test_telemetry_birth_targets_and_refused_config_through_mosquitto(mosquitto, tmp_path):
    h = host(mosquitto)
    rig = rig_for(mosquitto, tmp_path)
    try:
        run_until(rig, lambda: rig.link.connected)
        states = collect(h, p.STATE, lambda g: g and g[-1]["status"] == "online")
        assert states[-1]["board"] == "esp32-devkit"
        for _ in range(3):
            rig.record()
        tele = collect(h, p.TELE, lambda g: len(g) == 3)
        assert [m["seq"] for m in tele] == [0, 1, 2]
        assert tele[0]["valves"][0]["id"] == "entrance"

        h.publish(
            p.topic(SITE, UNIT, p.TARGETS),
            p.encode(
                p.TARGETS,
                {"version": 5, "ts_s": 1795000000, "targets": {"entrance": {"t_return_c": 41.0}}},
            ),
            retain=True,
        )
        bad = (
            b'{"v":1,"version":6,"ts_s":1795000000,"collection_period_s":900,'
            b'"control_period_s":600}'
        )
        h.publish(p.topic(SITE, UNIT, p.CONFIG), bad, retain=True)
        acks = collect(h, p.ACK, lambda g: len(g) >= 2, rig=rig)
        by_kind = {a["of"]: a for a in acks}
        assert by_kind["targets"]["version"] == 5
        assert by_kind["targets"]["result"] == "applied"
        assert by_kind["config"]["result"] == "refused"
        assert "collection_period_s above control_period_s" in by_kind["config"]["reason"]
        assert rig.applied == [5]
    finally:
        rig.link.close()
        h.close()


def test_broker_restart_loses_nothing_and_resubscribes(fresh_mosquitto, tmp_path):
    rig = rig_for(fresh_mosquitto, tmp_path)
    run_until(rig, lambda: rig.link.connected)
    rig.record()
    fresh_mosquitto.stop()
    # The link notices on its next receive; records made meanwhile go to the outbox.
    for _ in range(30):
        rig.record()
        for _ in range(10):
            rig.link.poll()
            rig.clock.advance(6000)
    assert not rig.link.connected
    assert rig.outbox.depth() >= 29
    delays = list(rig.link.delays_ms)
    fresh_mosquitto.start()
    h = host(fresh_mosquitto)
    try:
        # Desired state published while the board was away; retained, so it arrives on
        # the resubscribe.
        h.publish(
            p.topic(SITE, UNIT, p.CONFIG),
            p.encode(p.CONFIG, {"version": 3, "ts_s": 1795000000, "collection_period_s": 120}),
            retain=True,
        )
        run_until(rig, lambda: rig.link.connected, sim_step_ms=1000)
        run_until(rig, lambda: rig.outbox.depth() == 0 and rig.applied == [3], sim_step_ms=200)
        tele = collect(h, p.TELE, lambda g: len(g) >= 30)
        seqs = [m["seq"] for m in tele]
        # Record 0 went out before the stop; whatever was in flight is replayed (dedup by seq).
        assert sorted(set(seqs)) == seqs and seqs[-1] == 30
        assert set(range(1, 31)) <= set(seqs)
        acks = collect(h, p.ACK, lambda g: g and g[-1]["version"] == 3)
        assert acks[-1]["result"] == "applied"
    finally:
        h.close()
        rig.link.close()
    # Back-off while the broker was gone: growing, jittered, capped.
    assert len(delays) >= 5
    assert delays[4] > delays[0]
    assert len(set(delays)) == len(delays)
    assert max(delays) <= 300_000


def test_two_hour_outage_backfills_in_order_and_applies_config_changed_meanwhile(
    mosquitto, tmp_path
):
    h = host(mosquitto)
    rig = rig_for(mosquitto, tmp_path, unit=OUTAGE_UNIT)
    try:
        run_until(rig, lambda: rig.link.connected)
        h.publish(
            p.topic(SITE, OUTAGE_UNIT, p.CONFIG),
            p.encode(p.CONFIG, {"version": 1, "ts_s": 1795000000}),
            retain=True,
        )
        run_until(rig, lambda: rig.applied == [1])
        rig.record()
        collect(h, p.TELE, lambda g: len(g) == 1)

        paho_umqtt.NETWORK.up = False  # the board's network goes; the broker stays
        rig.link.poll()
        states = collect(h, p.STATE, lambda g: g and g[-1]["status"] == "offline")
        assert states[-1] == {"v": 1, "status": "offline"}  # the last will
        h.publish(
            p.topic(SITE, OUTAGE_UNIT, p.CONFIG),
            p.encode(p.CONFIG, {"version": 2, "ts_s": 1795003600, "collection_period_s": 300}),
            retain=True,
        )
        t0 = time.monotonic()
        for _ in range(120):  # two simulated hours, one record a minute
            rig.record()
            for _ in range(60):
                rig.link.poll()
                rig.clock.advance(1000)
        outage_real_s = time.monotonic() - t0
        assert rig.outbox.depth() == 120
        attempts = rig.link.stats["attempts"]
        delays = list(rig.link.delays_ms)

        paho_umqtt.NETWORK.up = True
        back_at = rig.clock.now_ms
        run_until(rig, lambda: rig.link.connected, sim_step_ms=1000)
        reconnect_sim_s = (rig.clock.now_ms - back_at) / 1000
        t1 = time.monotonic()
        connected_ms = rig.clock.now_ms
        run_until(rig, lambda: rig.outbox.depth() == 0, sim_step_ms=100, real_timeout_s=60)
        replay_sim_s = (rig.clock.now_ms - connected_ms) / 1000
        tele = collect(h, p.TELE, lambda g: len(g) == 121)
        replay_real_s = time.monotonic() - t1
        seqs = [m["seq"] for m in tele]
        assert seqs == list(range(121))  # nothing lost, in order
        stamps = [m["ts_s"] for m in tele[1:]]
        assert stamps[-1] - stamps[0] == 119 * 60  # the original board timestamps
        run_until(rig, lambda: rig.applied == [1, 2])
        acks = collect(h, p.ACK, lambda g: g and g[-1]["version"] == 2)
        assert acks[-1]["result"] == "applied"
        print(
            f"outage: {attempts} attempts, delays_ms {delays[-6:]}, "
            f"reconnect after {reconnect_sim_s:.0f} s sim, outage loop {outage_real_s:.2f} s "
            f"real, replay of 120 in {replay_sim_s:.1f} s sim / {replay_real_s:.2f} s real"
        )
        # Replay pacing: 120 records at 5/s with a burst of 10 need 22 s after the connect
        # (measured from up to one 1 s step after it).
        assert 21 <= replay_sim_s <= 30
        assert reconnect_sim_s <= 300
        assert delays[-1] <= 300_000 and max(delays) >= 150_000  # reached the cap region
    finally:
        rig.link.close()
        h.close()
