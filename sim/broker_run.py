"""Run over a real MQTT broker with an accelerated clock: plant and boards in this process,
every board joined to the broker by the real link (edge.connected.ConnectedBoard), the host
on the other side of the broker seeing only what the boards publish.

The simulated clock is driven by events, not by a race against the wall clock: after each
plant step (``dt_s`` of simulated time, the boards run through it) ``BrokerPlant.settle``
waits until the host has taken every message the boards published, has run its periodic work
(timeouts, balancing) at the step's time, and everything it published has reached the boards'
sockets. The outcome is then the same on an idle machine and on one loaded by other jobs;
only the wall time differs. A ``speedup`` adds pacing on top (at most ``speedup`` simulated
seconds per wall second, for people watching `evenheat run`); ``None`` runs as fast as the
events allow (tests, benchmarks). The host side subscribes as the host service does
(shared.protocol.host_subscriptions), decodes telemetry, calls the strategy every
``period_s`` of simulated time and publishes retained desired targets; boards take them
through their link, apply and acknowledge them.

The boards need umqtt.simple's ``MQTTClient`` API; on CPython pass a stand-in backed by a real
client (the tests use sim/board_mqtt/paho_umqtt.py, paho-mqtt against Mosquitto).
"""

from __future__ import annotations

import queue
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edge.connected import ConnectedBoard
from shared import protocol
from sim.devices import HeatMeter
from sim.host_strategy import HostStrategy
from sim.plant import Plant
from sim.room_sensors import RoomSensorField
from sim.runner import keep_record, make_boards, step_boards
from sim.scenario import Scenario
from sim.virtual_board import EPOCH_S
from sim.virtual_station import VirtualStation

# Generous on purpose: a step settles in milliseconds on an idle machine; the limit only turns a
# lost message (a bug) into a clear error instead of a hung run, however loaded the machine.
SETTLE_TIMEOUT_S = 300.0


class SettleTimeout(RuntimeError):
    """A step did not settle: something published was never taken (names what and how many)."""


def wait_for(
    what: str,
    done: Callable[[], bool],
    timeout_s: float = SETTLE_TIMEOUT_S,
    detail: Callable[[], str] | None = None,
) -> None:
    """Poll ``done()`` until it holds; raise SettleTimeout naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    pause_s = 0.0002
    while not done():
        if time.monotonic() > deadline:
            extra = f" ({detail()})" if detail is not None else ""
            raise SettleTimeout(f"waited {timeout_s:.0f} s for {what}{extra}")
        time.sleep(pause_s)
        pause_s = min(0.005, pause_s * 2)


class HostPeer(Protocol):
    """What the event-driven clock needs of whoever plays the host."""

    def processed(self) -> int:
        """Messages taken from the broker so far (stored, for the real service)."""

    def tick(self, now_s: float, timeout_s: float) -> None:
        """Run the periodic work due at board time ``now_s`` on everything processed, and
        return when it is done."""

    def published(self) -> Mapping[str, bytes]:
        """The last payload published on each topic."""


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
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_args: subscribed.set()
        self.client.connect(host, port, keepalive=30)
        self.client.subscribe([(pattern, 1) for pattern in protocol.host_subscriptions(site)])
        self.client.loop_start()
        wait_for("the host side's SUBACK", subscribed.is_set, 30.0)
        self.records: dict[str, dict[str, Any]] = {}
        self.counts: dict[str, int] = {kind: 0 for kind in protocol.UPLINK}
        self.acks: list[dict[str, Any]] = []
        self.versions: dict[str, int] = {}
        self.taken = 0
        self.last_published: dict[str, bytes] = {}
        self.strategy: HostStrategy | None = None
        self.meter_flows: Callable[[], dict[str, float]] = dict
        self.sent = 0
        self._next_decision_s = float("inf")  # simulated seconds since the start

    def use(self, strategy: HostStrategy, meter_flows: Callable[[], dict[str, float]]) -> None:
        """Decide with ``strategy`` every ``strategy.period_s``, the first after one period."""
        self.strategy = strategy
        self.meter_flows = meter_flows
        self._next_decision_s = strategy.period_s

    def processed(self) -> int:
        self.pump()
        return self.taken

    def published(self) -> Mapping[str, bytes]:
        return self.last_published

    def tick(self, now_s: float, timeout_s: float) -> None:
        """Run the strategy when its period is due (``now_s`` is board time)."""
        if self.strategy is None:
            return
        if now_s - EPOCH_S >= self._next_decision_s:
            self._next_decision_s += self.strategy.period_s
            decision = self.strategy.decide(now_s, self.records, self.meter_flows())
            for unit, targets in decision.targets.items():
                self.send_targets(unit, targets, now_s)
                self.sent += 1

    def pump(self) -> None:
        """Take every message that has arrived."""
        while True:
            try:
                msg = self.inbox.get_nowait()
            except queue.Empty:
                return
            self.taken += 1
            try:
                _site, unit, kind = protocol.parse_topic(msg.topic)
                body = protocol.decode(kind, msg.payload)
            except protocol.ProtocolError:
                continue
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if kind == protocol.TELE:
                keep_record(self.records, unit, body)
            elif kind == protocol.ACK:
                self.acks.append(body)

    def send_targets(self, unit: str, targets: dict[str, dict[str, Any]], now_s: float) -> None:
        """Publish retained desired targets with the unit's next version."""
        version = self.versions.get(unit, 0) + 1
        self.versions[unit] = version
        msg = {
            "v": protocol.SCHEMA_VERSION,
            "version": version,
            "ts_s": int(now_s),
            "targets": targets,
        }
        topic = protocol.topic(self.site, unit, protocol.TARGETS)
        payload = protocol.encode(protocol.TARGETS, msg)
        self.last_published[topic] = payload
        self.client.publish(topic, payload, qos=1, retain=True)

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

    ``step()`` advances one plant step of ``dt_s``; with a ``speedup`` it then waits until
    ``dt_s / speedup`` of wall time has passed since the previous step. ``settle(host)`` is
    the event-driven clock's barrier (module docstring): call it after each step. Each board
    services its link every ``link_period_ms`` of board time (a real board: every second;
    10 s keeps 60 boards from spending the step in select()). ``clock()`` is board time
    (EPOCH_S + simulated seconds): give it to a host service so that its staleness and
    timeouts are judged in simulated time.
    """

    def __init__(
        self,
        scn: Scenario,
        broker_host: str,
        broker_port: int,
        client_class: type,
        root: str,
        site: str = "sim",
        speedup: float | None = None,
        link_period_ms: int = 10_000,
        station_unit: str | None = None,
    ):
        self.scn = scn
        self.speedup = speedup
        self.clients: list[Any] = []  # every client the boards' links made, in order

        def client(*args: Any, **kwargs: Any) -> Any:
            made = client_class(*args, **kwargs)
            self.clients.append(made)
            return made

        self.plant = Plant(scn.estate, scn.weather, scn.station, scn.dt_s)
        self.net = scn.estate.network
        self.boards, self.hh_idx = make_boards(scn, root)
        self.rooms = RoomSensorField(scn.rooms, scn.days * 86400.0)
        rng = random.Random(scn.seed)
        self.meter = HeatMeter(
            len(self.net.entrances), scn.devices, np.random.default_rng([scn.seed, 11])
        )

        def link(app: Any, unit: str) -> ConnectedBoard:  # noqa: ANN401
            unit_cfg = {
                "site": site,
                "unit": unit,
                "broker": f"{broker_host}:{broker_port}",
                "socket_timeout_s": 2,
                "keepalive_s": 60,
                "boot_spread_s": 0,
            }
            return ConnectedBoard(
                app, unit_cfg, client_class=client, rand=rng.random, link_period_ms=link_period_ms
            )

        self.links = [link(b.app, b.unit) for b in self.boards]
        # The station's gateway (sim.virtual_station), a unit of its own when asked for.
        self.station_board: VirtualStation | None = None
        if station_unit is not None:
            folder = Path(root) / station_unit
            folder.mkdir(parents=True, exist_ok=True)
            self.station_board = VirtualStation(self.plant, f"{folder}/", EPOCH_S, station_unit)
            self.links.append(link(self.station_board.app, station_unit))
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
        step_boards(
            self.boards, self.hh_idx, out, end_ms, self.ent_open, self.hh_open, rooms=self.rooms
        )
        if self.station_board is not None:
            self.station_board.run_until(end_ms)
        self.out = out
        if self.speedup is not None:
            step_wall = self.scn.dt_s / self.speedup
            self._next_wall = max(self._next_wall + step_wall, time.perf_counter())
            time.sleep(max(0.0, self._next_wall - time.perf_counter()))
        return out

    def published(self) -> int:
        """Messages the boards have put on the broker (PUBACK seen for QoS 1)."""
        return sum(c.published for c in self.clients)

    def _received(self, published: Mapping[str, bytes]) -> bool:
        """Whether the last payload the host published on each topic is on a board's socket."""
        for link in self.links:
            client = link.link.client
            if client is not None:
                client.receive()
        latest: dict[str, bytes] = {}
        for c in self.clients:  # in creation order: a reconnected board's newest client wins
            latest.update(c.received)
        return all(latest.get(topic) == payload for topic, payload in list(published.items()))

    def settle(self, host: HostPeer, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
        """The event-driven clock: return once the host has taken every message the boards
        published, has run its periodic work at this step's time, and all it published is on
        the boards' sockets (raise SettleTimeout naming what never came)."""
        wait_for(
            "the host to take the boards' messages",
            lambda: host.processed() >= self.published(),
            timeout_s,
            lambda: f"{host.processed()} of {self.published()}",
        )
        host.tick(self.clock(), timeout_s)
        wait_for(
            "the boards to receive the host's messages",
            lambda: self._received(host.published()),
            timeout_s,
        )

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
    site: str = "sim",
) -> BrokerRunResult:
    """Run ``scn`` for its days with every board on the broker at ``host:port`` and the
    strategy behind a HostSide, on the event-driven clock."""
    t0 = time.perf_counter()
    host = HostSide(broker_host, broker_port, site)
    run = BrokerPlant(scn, broker_host, broker_port, client_class, root, site)
    if strategy is not None:
        host.use(strategy, run.meter_flows)
    n_steps = int(round(scn.days * 86400.0 / scn.dt_s))
    try:
        for _ in range(n_steps):
            run.step()
            run.settle(host)
    finally:
        run.close()
        host.close()
    return BrokerRunResult(
        uplink_counts=dict(host.counts),
        acks=host.acks,
        targets_sent=host.sent,
        targets_version={b.unit: b.app.targets_version for b in run.boards},
        t_room_c=run.plant.state.t_air_c.copy(),
        wall_s=time.perf_counter() - t0,
    )
