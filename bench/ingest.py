"""Host ingest benchmark: simulated boards -> Mosquitto -> `evenheat serve`'s ingest -> storage.

Each message is one entrance's telemetry: the entrance valve plus 12 household valves (13
records) with the entrance meters and board health, as a board sends it. Publisher processes
(paho, QoS 1) stand in for the boards; the host is the real `host.service.runtime.Service` with its
persistent session and commit-before-ack. Measured per backend:

- max: every board publishes as fast as it can; messages and records per second stored
  (first publish to last commit), end-to-end latency (publish to commit, sampled), loss
  (published and PUBACKed by the broker minus stored);
- brochure: the largest site of the brochure, 150,000 households once a minute: 12,500
  entrances, 208 messages/s (2,500 household records/s), paced; latency at that load;
- naive (the peer): the same messages into SQLite by a subscriber that decodes each message
  and does one INSERT + COMMIT per record, acking on receipt. Printed as a ratio.

Run: .venv/bin/python bench/ingest.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402

from host.service.config import AlarmConfig, BrokerConfig, Config, DatabaseConfig, ServiceConfig  # noqa: E402
from host.service.runtime import Service  # noqa: E402
from shared import protocol as p  # noqa: E402
from tests.brokers import start_mosquitto  # noqa: E402

SITE = "bench"
HOUSEHOLDS = 12
BROCHURE_HOUSEHOLDS = 150_000
BROCHURE_MSG_S = BROCHURE_HOUSEHOLDS / HOUSEHOLDS / 60  # 208 entrance messages per second


def template() -> str:
    """A full 13-valve telemetry message with %d/%f slots for seq, ts_s and sent_s."""
    valves = [
        {
            "id": "entrance",
            "t_return_c": 41.6,
            "target_c": 40.0,
            "opening_cmd_pct": 62.0,
            "opening_meas_pct": 61.7,
            "pi_integral_pct": 12.4,
            "mode": "auto",
            "sensor_ok": True,
            "valve_ok": True,
        }
    ]
    valves += [
        {
            "id": f"f{i // 2 + 1}-{'ew'[i % 2]}",
            "t_return_c": 38.5 + i * 0.1,
            "target_c": 39.0,
            "opening_cmd_pct": 45.0,
            "opening_meas_pct": 45.2,
            "pi_integral_pct": 3.0,
            "mode": "auto",
            "sensor_ok": True,
            "valve_ok": True,
        }
        for i in range(HOUSEHOLDS)
    ]
    msg = {
        "ts_s": 1111111111,
        "seq": 123456789,
        "time_synced": True,
        "valves": valves,
        "entrance": {
            "t_supply_c": 52.3,
            "t_return_c": 41.2,
            "p_supply_kpa": 412.0,
            "p_return_kpa": 356.5,
            "flow_m3h": 3.42,
            "heat_kw": 43.6,
        },
        "health": {"heap_free_b": 81234, "outbox_depth": 0, "dropped_total": 0},
    }
    text = p.encode(p.TELE, msg).decode()
    text = text.replace('"ts_s":1111111111', '"ts_s":%d').replace('"seq":123456789', '"seq":%d')
    out = text[:-1] + ',"sent_s":%.6f}'
    p.decode(p.TELE, (out % (1, 1763800000, 1.0)).encode())  # still valid
    return out


def publisher(port: int, units: list[str], n_each: int, rate_msg_s: float, out: mp.Queue):
    """One process of boards: publish n_each messages per unit, paced when rate_msg_s > 0."""
    tmpl = template()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="pub-" + uuid.uuid4().hex)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    topics = [p.topic(SITE, u, p.TELE) for u in units]
    infos = []
    t0 = time.time()
    k = 0
    for seq in range(n_each):
        for topic in topics:
            if rate_msg_s:
                delay = t0 + k / rate_msg_s - time.time()
                if delay > 0:
                    time.sleep(delay)
            now = time.time()
            payload = (tmpl % (int(now), seq, now)).encode()
            infos.append(client.publish(topic, payload, qos=1))
            k += 1
    for info in infos:
        info.wait_for_publish(timeout=120)
    acked = sum(info.is_published() for info in infos)
    client.loop_stop()
    client.disconnect()
    out.put((acked, t0, time.time()))


def run_publishers(port: int, units: list[str], n_each: int, rate_msg_s: float, procs: int):
    out: mp.Queue = mp.Queue()
    chunks = [units[i::procs] for i in range(procs)]
    workers = [
        mp.Process(target=publisher, args=(port, c, n_each, rate_msg_s / procs, out))
        for c in chunks
    ]
    for w in workers:
        w.start()
    return workers, out


def measure_service(
    url: str,
    n_boards: int,
    n_each: int,
    rate_msg_s: float = 0.0,
    transport_only: bool = False,
    backlog: bool = False,
) -> dict:
    """Boards -> Mosquitto -> Service -> storage; returns throughput, latency, loss.

    `transport_only` replaces the ingest by a counter (no decoding, no storage, acks still
    after the "batch"): the ceiling that publishers, broker and MQTT client set on this machine.
    `backlog`: the host is down while the boards publish (the broker queues for its session),
    then starts: the catch-up rate, with no publisher competing for the CPU.
    """
    broker = start_mosquitto()
    cfg = Config(
        broker=BrokerConfig(
            host=broker.host, port=broker.port, client_id="bench-" + uuid.uuid4().hex[:6]
        ),
        database=DatabaseConfig(url=url),
        service=ServiceConfig(sites=(SITE,), log_summary_s=0.0, offline_timeout_s=3600.0),
        alarms=AlarmConfig(),
    )
    svc = Service(cfg)
    units = [f"e{i:05d}" for i in range(n_boards)]
    with svc.storage.transaction():
        for u in units:
            svc.storage.add_unit(SITE, u)
    latencies: list[float] = []
    commit_at = [0.0]
    original = svc.ingest.process

    def counted(batch):
        m = svc.ingest.metrics
        m.received["tele"] += len(batch)
        m.stored_messages["tele"] += len(batch)
        m.batches += 1

    def timed(batch):
        (counted if transport_only else original)(batch)
        now = time.time()
        commit_at[0] = now
        for d in batch[::7]:
            i = d.payload.rfind(b'"sent_s":')
            if i > 0:
                latencies.append(now - float(d.payload[i + 9 : -1]))

    svc.ingest.process = timed  # type: ignore[method-assign]
    svc.start()
    assert svc.link.connected.wait(10)
    if backlog:
        svc.stop()  # the session stays on the broker and queues for the host
    total = n_boards * n_each
    workers, out = run_publishers(broker.port, units, n_each, rate_msg_s, procs=2)
    results = [out.get(timeout=600) for _ in workers]
    for w in workers:
        w.join()
    acked = sum(r[0] for r in results)
    t0 = min(r[1] for r in results)
    if backlog:
        svc = Service(cfg)
        original = svc.ingest.process
        svc.ingest.process = timed  # type: ignore[method-assign]
        latencies.clear()
        t0 = time.time()
        svc.start()
    m = svc.ingest.metrics
    deadline = time.time() + 120
    while m.stored_messages["tele"] < acked and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    elapsed = commit_at[0] - t0
    stored_records = svc.storage.record_count()
    batches = max(1, m.batches)
    svc.stop()
    broker.stop()
    lat = sorted(latencies)
    return {
        "published": total,
        "acked": acked,
        "stored": m.stored_messages["tele"],
        "records": stored_records,
        "loss": acked - m.stored_messages["tele"],
        "refused": m.refused_total(),
        "msg_s": m.stored_messages["tele"] / elapsed,
        "paced": bool(rate_msg_s),
        "backlog": backlog,
        "rec_s": stored_records / elapsed,
        "p50_ms": 1000 * statistics.median(lat),
        "p99_ms": 1000 * lat[int(0.99 * (len(lat) - 1))],
        "max_ms": 1000 * lat[-1],
        "batch": sum(m.received.values()) / batches,
    }


def measure_naive(n_boards: int, n_each: int) -> dict:
    """The peer: decode, then one INSERT + COMMIT per record, into SQLite (WAL, FULL)."""
    broker = start_mosquitto()
    db = sqlite3.connect(
        Path(tempfile.mkdtemp()) / "naive.db", isolation_level=None, check_same_thread=False
    )
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE tele (unit TEXT, seq INTEGER, ts_s INTEGER, point TEXT,"
        " t_return_c REAL, opening_cmd_pct REAL, UNIQUE (unit, seq, point))"
    )
    stored = [0, 0, 0.0]
    done = threading.Event()
    total = n_boards * n_each

    def on_message(_c, _u, message):
        _, unit, kind = p.parse_topic(message.topic)
        msg = p.decode(kind, message.payload)
        for v in msg["valves"]:  # autocommit: every INSERT is its own transaction
            db.execute(
                "INSERT OR IGNORE INTO tele VALUES (?, ?, ?, ?, ?, ?)",
                (unit, msg["seq"], msg["ts_s"], v["id"], v["t_return_c"], v["opening_cmd_pct"]),
            )
            stored[1] += 1
        stored[0] += 1
        stored[2] = time.time()
        if stored[0] == total:
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="naive")
    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.subscribe(f"{p.ROOT}/{SITE}/+/tele", qos=1)
    client.loop_start()
    time.sleep(0.5)
    units = [f"e{i:05d}" for i in range(n_boards)]
    workers, out = run_publishers(broker.port, units, n_each, 0.0, procs=2)
    results = [out.get(timeout=600) for _ in workers]
    t0 = min(r[1] for r in results)
    done.wait(300)
    client.loop_stop()
    client.disconnect()
    broker.stop()
    elapsed = stored[2] - t0
    return {
        "published": total,
        "stored": stored[0],
        "records": stored[1],
        "msg_s": stored[0] / elapsed,
        "rec_s": stored[1] / elapsed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    from tests.postgres import PostgresCluster

    tmp = Path(tempfile.mkdtemp(prefix="evenheat-bench-"))
    pg = PostgresCluster(durable=True)
    rows = []
    try:
        n_boards, n_each = 500, max(2, int(120 * scale))
        for name, url in (("SQLite", f"sqlite:///{tmp}/bench.db"), ("PostgreSQL", None)):
            url = url or pg.new_database()
            r = measure_service(url, n_boards, n_each)
            rows.append((f"{name}, max rate", r))
            print(name, "max", json.dumps(r, default=lambda x: round(x, 1)), flush=True)
            brochure_s = 10 * scale + 2
            n = max(1, int(BROCHURE_MSG_S * brochure_s / 2500))
            url = f"sqlite:///{tmp}/brochure.db" if name == "SQLite" else pg.new_database()
            r = measure_service(url, 2500, n, rate_msg_s=BROCHURE_MSG_S)
            rows.append((f"{name}, brochure load (208 msg/s)", r))
            print(name, "brochure", json.dumps(r, default=lambda x: round(x, 1)), flush=True)
        r = measure_service(f"sqlite:///{tmp}/backlog.db", n_boards, n_each, backlog=True)
        rows.append(("SQLite, backlog after a host outage (no publisher running)", r))
        print("backlog", json.dumps(r, default=lambda x: round(x, 1)), flush=True)
        r = measure_service(f"sqlite:///{tmp}/ceiling.db", n_boards, n_each, transport_only=True)
        rows.append(("transport only (no decode, no storage)", r))
        print("transport", json.dumps(r, default=lambda x: round(x, 1)), flush=True)
        naive = measure_naive(100, max(2, int(20 * scale)))
        print("naive", json.dumps(naive, default=lambda x: round(x, 1)), flush=True)
    finally:
        pg.stop()
    print()
    print("| run | messages/s | records/s | latency p50 / p99 / max (ms) | loss | vs naive |")
    print("|---|---|---|---|---|---|")
    for label, r in rows:
        ratio = "-" if r["paced"] else f"{r['msg_s'] / naive['msg_s']:.1f}x"
        lat = f"{r['p50_ms']:.0f} / {r['p99_ms']:.0f} / {r['max_ms']:.0f}"
        lat = "- (queued while down)" if r["backlog"] else lat
        print(
            f"| {label} | {r['msg_s']:,.0f} | {r['rec_s']:,.0f} | {lat} |"
            f" {r['loss']} of {r['acked']} | {ratio} |"
        )
    print(
        f"| naive SQLite, INSERT+COMMIT per record | {naive['msg_s']:,.0f} |"
        f" {naive['rec_s']:,.0f} | - | {naive['published'] - naive['stored']} | 1.0x |"
    )
    best = rows[0][1]
    print(
        f"\nbrochure target: {BROCHURE_MSG_S:.0f} msg/s = 2,500 household records/s; SQLite"
        f" max stores {best['rec_s'] / 2500:.1f}x that; goal 5,000 msg/s:"
        f" {'met' if best['msg_s'] >= 5000 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
