"""Run over a real MQTT broker with an accelerated clock: plant and boards in this process,
every board joined to the broker by the real link (edge.connected.ConnectedBoard), the host
on the other side of the broker seeing only what the boards publish.

Each plant step (``dt_s`` of simulated time) runs the boards through the step, then paces
itself to ``dt_s / speedup`` of real time so the broker, the sockets and the host's threads
work at a pace that is fast but real (BrokerPlant; `evenheat run` puts the real host
service on the other side). The host side subscribes as the host service does
(shared.protocol.host_subscriptions), decodes telemetry, calls the strategy every
``period_s`` of simulated time and publishes retained desired targets; boards take them
through their link, apply and acknowledge them.

The boards need umqtt.simple's ``MQTTClient`` API; on CPython pass a stand-in backed by a real
client (the tests use sim/board_mqtt/paho_umqtt.py, paho-mqtt against Mosquitto).
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


class BrokerPlant:
    """The plant and its boards, each board on the broker through its real link, stepped on an
    accelerated clock. Whoever plays the host (HostSide here, the real host service in
    `evenheat run`) is on the other side of the broker.

    ``step()`` advances one plant step of ``dt_s`` and then waits until ``dt_s / speedup`` of
    wall time has passed since the previous step (at least a little, so the broker, the
    sockets and the host's threads always get the CPU), so the pace holds whatever the
    compute time. Each board services its link every ``link_period_ms`` of board time (a
    real board: every second of real time; 10 s of board time is 17 ms of wall time at
    600x, and keeps 60 boards from spending the step in select()). ``clock()`` is board time
    (EPOCH_S + simulated seconds): give it to a host service so that its staleness and
    timeouts are judged in simulated time.
    """

    def __init__(self, scn: Scenario, broker_host: str, broker_port: int, client_class: type,
                 root: str, site: str = "sim", speedup: float = 600.0,
                 link_period_ms: int = 10_000):
        self.scn = scn
        self.speedup = speedup
        self.plant = Plant(scn.estate, scn.weather, scn.station, scn.dt_s)
        self.net = scn.estate.network
        self.boards, self.hh_idx = make_boards(scn, root)
        rng = random.Random(scn.seed)
        self.meter = HeatMeter(len(self.net.entrances), scn.devices,
                               np.random.default_rng([scn.seed, 11]))
        self.links = []
        for b in self.boards:
            unit_cfg = {"site": site, "unit": b.unit, "broker": f"{broker_host}:{broker_port}",
                        "socket_timeout_s": 2, "keepalive_s": 60, "boot_spread_s": 0}
            self.links.append(ConnectedBoard(b.app, unit_cfg, client_class=client_class,
                                             rand=rng.random,
                                             link_period_ms=link_period_ms))
        self.ent_open = np.array([e.valve.opening for e in self.net.entrances])
        self.hh_open = np.array([h.valve.opening if h.valve else 1.0 for h in self.net.households])
        self.steps = 0
        self.out: Any = None  # the plant's outputs at the start of the last step
        self._next_wall = time.perf_counter()

    @property
    def now_s(self) -> float:
        """Simulated seconds since the start."""
        return self.steps * self.scn.dt_s

    def clock(self) -> float:
        return EPOCH_S + self.now_s

    def step(self) -> Any:
        out = self.plant.step(self.ent_open, self.hh_open)
        self.steps += 1
        end_ms = int(round(self.steps * self.scn.dt_s * 1000.0))
        step_boards(self.boards, self.hh_idx, out, end_ms, self.ent_open, self.hh_open)
        self.out = out
        step_wall = self.scn.dt_s / self.speedup
        self._next_wall = max(self._next_wall + step_wall, time.perf_counter() + step_wall / 4)
        time.sleep(max(0.0, self._next_wall - time.perf_counter()))
        return out

    def meter_flows(self) -> dict[str, float]:
        """Each entrance heat meter's flow reading (m3/h) at the last step."""
        flows = self.meter.flow_m3h(self.out.flows.entrance_flow_m3h)
        return {e.id: float(g) for e, g in zip(self.net.entrances, flows, strict=True)}

    def close(self) -> None:
        for link in self.links:
            link.close()


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
    """Run ``scn`` for its days with every board on the broker at ``host:port`` and the
    strategy behind a HostSide."""
    t0 = time.perf_counter()
    run = BrokerPlant(scn, broker_host, broker_port, client_class, root, site, speedup)
    host = HostSide(broker_host, broker_port, site)
    n_steps = int(round(scn.days * 86400.0 / scn.dt_s))
    next_host_s = strategy.period_s if strategy is not None else float("inf")
    sent = 0
    try:
        for _ in range(n_steps):
            run.step()
            host.pump()
            now_s = run.now_s
            if strategy is not None and now_s >= next_host_s:
                next_host_s += strategy.period_s
                decision = strategy.decide(run.clock(), host.records, run.meter_flows())
                for unit, targets in decision.targets.items():
                    host.send_targets(unit, targets, run.clock())
                    sent += 1
    finally:
        run.close()
        host.close()
    return BrokerRunResult(
        uplink_counts=dict(host.counts), acks=host.acks, targets_sent=sent,
        targets_version={b.unit: b.app.targets_version for b in run.boards},
        t_room_c=run.plant.state.t_air_c.copy(), wall_s=time.perf_counter() - t0,
    )
