"""Run over a real MQTT broker with an accelerated clock: plant and boards in this process,
every board joined to the broker by the real link (edge.connected.ConnectedBoard), the host
strategy on the other side of the broker seeing only what the boards publish.

Each plant step (``dt_s`` of simulated time) runs the boards through the step, then sleeps
``dt_s / speedup`` of real time so the broker, the sockets and the host's client thread work
at a pace that is fast but real. The host side subscribes as the host service does
(shared.protocol.host_subscriptions), decodes telemetry, calls the strategy every
``period_s`` of simulated time and publishes retained desired targets; boards take them
through their link, apply and acknowledge them.

The boards need umqtt.simple's ``MQTTClient`` API; on CPython pass a stand-in backed by a real
client (the tests use tests/edge_link/paho_umqtt.py, paho-mqtt against Mosquitto).
"""

from __future__ import annotations

import queue
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.connected import ConnectedBoard
from shared import protocol
from sim.devices import HeatMeter
from sim.host_strategy import HostStrategy
from sim.plant import Plant
from sim.runner import make_boards, step_boards
from sim.scenario import Scenario
from sim.virtual_board import EPOCH_S


class HostSide:
    """The host's end of the broker: telemetry in, desired targets out (paho-mqtt)."""

    def __init__(self, host: str, port: int, site: str):
        import paho.mqtt.client as mqtt

        self.site = site
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id="sim-host-" + uuid.uuid4().hex[:8],
        )
        self.client.on_message = lambda _c, _u, msg: self.inbox.put(msg)
        self.client.connect(host, port, keepalive=30)
        for pattern in protocol.host_subscriptions(site):
            self.client.subscribe(pattern, 1)
        self.client.loop_start()
        self.records: dict[str, dict[str, Any]] = {}
        self.counts: dict[str, int] = {kind: 0 for kind in protocol.UPLINK}
        self.acks: list[dict[str, Any]] = []
        self.versions: dict[str, int] = {}

    def pump(self) -> None:
        """Take every message that has arrived."""
        while True:
            try:
                msg = self.inbox.get_nowait()
            except queue.Empty:
                return
            try:
                _site, unit, kind = protocol.parse_topic(msg.topic)
                body = protocol.decode(kind, msg.payload)
            except protocol.ProtocolError:
                continue
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if kind == protocol.TELE:
                self.records[unit] = body
            elif kind == protocol.ACK:
                self.acks.append(body)

    def send_targets(self, unit: str, targets: dict[str, dict[str, Any]], now_s: float) -> None:
        """Publish retained desired targets with the unit's next version."""
        version = self.versions.get(unit, 0) + 1
        self.versions[unit] = version
        msg = {"v": protocol.SCHEMA_VERSION, "version": version, "ts_s": int(now_s),
               "targets": targets}
        self.client.publish(protocol.topic(self.site, unit, protocol.TARGETS),
                            protocol.encode(protocol.TARGETS, msg), qos=1, retain=True)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@dataclass
class BrokerRunResult:
    """Counts of what crossed the broker, and the plant's true room temperatures at the end."""

    uplink_counts: dict[str, int]
    acks: list[dict[str, Any]]
    targets_sent: int
    targets_version: dict[str, int]
    t_room_c: np.ndarray
    wall_s: float
    extra: dict[str, Any] = field(default_factory=dict)


def run_over_broker(
    scn: Scenario,
    broker_host: str,
    broker_port: int,
    client_class: type,
    root: str,
    strategy: HostStrategy | None = None,
    speedup: float = 600.0,
    site: str = "sim",
) -> BrokerRunResult:
    """Run ``scn`` for its days with every board on the broker at ``host:port``."""
    t0 = time.perf_counter()
    plant = Plant(scn.estate, scn.weather, scn.station, scn.dt_s)
    net = scn.estate.network
    boards, hh_idx = make_boards(scn, root)
    host = HostSide(broker_host, broker_port, site)
    rng = random.Random(scn.seed)
    meter = HeatMeter(len(net.entrances), scn.devices, np.random.default_rng([scn.seed, 11]))
    links = []
    for b in boards:
        unit_cfg = {"site": site, "unit": b.unit, "broker": f"{broker_host}:{broker_port}",
                    "socket_timeout_s": 2, "keepalive_s": 60, "boot_spread_s": 0}
        links.append(ConnectedBoard(b.app, unit_cfg, client_class=client_class,
                                    rand=rng.random, link_period_ms=1000))
    ent_open = np.array([e.valve.opening for e in net.entrances])
    hh_open = np.array([h.valve.opening if h.valve else 1.0 for h in net.households])
    n_steps = int(round(scn.days * 86400.0 / scn.dt_s))
    next_host_s = strategy.period_s if strategy is not None else float("inf")
    sent = 0
    try:
        for k in range(n_steps):
            out = plant.step(ent_open, hh_open)
            end_ms = int(round((k + 1) * scn.dt_s * 1000.0))
            step_boards(boards, hh_idx, out, end_ms, ent_open, hh_open)
            time.sleep(scn.dt_s / speedup)
            host.pump()
            now_s = (k + 1) * scn.dt_s
            if strategy is not None and now_s >= next_host_s:
                next_host_s += strategy.period_s
                flows = meter.flow_m3h(out.flows.entrance_flow_m3h)
                meters = {e.id: float(g) for e, g in zip(net.entrances, flows, strict=True)}
                decision = strategy.decide(EPOCH_S + now_s, host.records, meters)
                for unit, targets in decision.targets.items():
                    host.send_targets(unit, targets, EPOCH_S + now_s)
                    sent += 1
    finally:
        for link in links:
            link.close()
        host.close()
    return BrokerRunResult(
        uplink_counts=dict(host.counts), acks=host.acks, targets_sent=sent,
        targets_version={b.unit: b.app.targets_version for b in boards},
        t_room_c=plant.state.t_air_c.copy(), wall_s=time.perf_counter() - t0,
    )
