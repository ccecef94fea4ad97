"""The board's link on the real MicroPython unix port against a real Mosquitto.

edge/link.py, edge/outbox.py and edge/desired.py run inside MicroPython 1.29 (the unix port)
with our own small MQTT 3.1.1 client standing in for umqtt.simple (sim/board_mqtt/, same API), over
loopback to the Mosquitto the test suite starts. The host side is paho (CPython).
"""

from __future__ import annotations

import json
import queue
import time
from pathlib import Path

from shared import protocol as p
from tests.brokers import free_port
from tests.micropython import run_script
from tests.mp.linkfakes import SITE
from tests.mqtt_client import TestClient

HERE = Path(__file__).resolve().parent
UNIT = "mp-1"


def test_link_under_micropython_survives_an_outage_and_backfills(mosquitto, tmp_path):
    host = TestClient(mosquitto.host, mosquitto.port)
    for pattern in p.host_subscriptions(SITE):
        host.subscribe(pattern)
    host.publish(
        p.topic(SITE, UNIT, p.TARGETS),
        p.encode(
            p.TARGETS,
            {"version": 4, "ts_s": 1795000000, "targets": {"entrance": {"t_return_c": 39.0}}},
        ),
        retain=True,
    )
    bad_config = b'{"v":1,"version":2,"ts_s":1795000000,"precision_c":99}'
    host.publish(p.topic(SITE, UNIT, p.CONFIG), bad_config, retain=True)
    try:
        proc = run_script(
            HERE / "mp_link_script.py",
            mosquitto.host,
            str(mosquitto.port),
            str(free_port()),
            UNIT,
            str(tmp_path),
            extra_path=(HERE.parents[1] / "sim" / "board_mqtt",),
            timeout_s=120,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        result = json.loads(proc.stdout.split("RESULT ", 1)[1])
        seen: dict[str, list] = {kind: [] for kind in p.UPLINK}
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(seen[p.TELE]) < 35:
            try:
                msg = host.receive(timeout_s=0.2)
            except queue.Empty:
                continue
            _site, unit, kind = p.parse_topic(msg.topic)
            if unit == UNIT:
                seen[kind].append(p.decode(kind, msg.payload))
    finally:
        host.close()
    print(
        "micropython link:",
        {
            k: result[k]
            for k in (
                "depth",
                "reconnect_ms",
                "replay_ms",
                "real_ms",
                "heap_start_b",
                "heap_end_b",
            )
        },
        result["delays_ms"][:8],
    )
    # The link, outbox and desired state hold no growing state in RAM over an outage: the
    # backlog lives on flash (a few KB of slack for the error ring and delay list).
    assert result["heap_end_b"] - result["heap_start_b"] < 8192
    assert [t["seq"] for t in seen[p.TELE]] == list(range(35))  # none lost, in order
    assert result["depth"] == 30 and result["stats"]["replayed"] == 30
    stamps = [t["ts_s"] for t in seen[p.TELE][5:]]
    assert stamps[-1] - stamps[0] == 29 * 60  # the original board timestamps
    # Paced: a burst of 10 at the reconnect, then 5 per second (100 ms steps).
    assert 3900 <= result["replay_ms"] <= 4500, result["replay_ms"]
    states = [s["status"] for s in seen[p.STATE]]
    assert states[:3] == ["online", "offline", "online"]  # birth, last will, birth again
    acks = {(a["of"], a["result"]) for a in seen[p.ACK]}
    assert ("targets", "applied") in acks and ("config", "refused") in acks
    refused = [a for a in seen[p.ACK] if a["of"] == "config"][0]
    assert refused["reason"].startswith("range") and "precision_c" in refused["reason"]
    assert result["applied"] == [4]
    delays = result["delays_ms"]
    assert delays[0] < delays[2] < delays[4] and len(set(delays)) == len(delays)
    assert max(delays) <= 300_000
