"""The host service: MQTT link, ingest thread, board timeouts, desired state, alarms, the
balancing loop, metrics.

One ingest thread does all the work in arrival order: it takes up to `batch_max` deliveries
from the queue the MQTT thread fills, processes them in one transaction, then acknowledges
them to the broker; between batches it runs the board timeouts and the balancer
(host/control/balancer.py). If the database fails, the batch is retried with back-off and
nothing is acknowledged meanwhile (the broker holds the rest). Commands (`desired.set`,
`alarms.acknowledge`, `alarms.set_thresholds`, the balancer's) may be called from any
thread: storage serialises them.

Usage::

    service = Service(load_config(path)); service.start(); ...; service.stop()
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from host.assets.registry import Registry
from host.control.alarms import Alarms
from host.control.balancer import Balancer
from host.control.desired import Desired
from host.control.model_balancing import ModelBalancing
from host.control.station_control import StationControl
from host.service.boards import Boards
from host.service.config import Config
from host.service.ingest import _DB_ERRORS, Ingest
from host.service.mqtt_link import Delivery, MqttLink
from host.storage import open_storage
from shared import protocol as p

log = logging.getLogger(__name__)


class Service:
    """Everything `evenheat serve` runs, startable and stoppable in-process (tests do)."""

    def __init__(self, cfg: Config, clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.clock = clock
        self.storage = open_storage(cfg.database.url, cfg.database.sqlite_synchronous)
        self.registry = Registry(self.storage)
        self.alarms = Alarms(self.storage, cfg.alarms, clock)
        self.boards = Boards(
            self.storage, cfg.service.offline_timeout_s, self.alarms.board_transition
        )
        # None in the queue is a wake-up (`wake()`), not a delivery.
        self.queue: queue.SimpleQueue[Delivery | None] = queue.SimpleQueue()
        subscriptions = [t for site in cfg.service.sites for t in p.host_subscriptions(site)]
        self.link = MqttLink(cfg.broker, subscriptions, self.queue.put, clock)
        self.desired = Desired(self.storage, self._publish, clock)
        self.ingest = Ingest(
            self.storage,
            cfg.service.sites,
            self.boards,
            self.alarms,
            self.desired,
            cfg.service.accept_unknown_units,
            cfg.service.max_clock_ahead_s,
            clock,
        )
        self.balancer = Balancer(
            self.storage,
            self.desired,
            lambda site, unit: self.ingest.latest.get((site, unit)),
            cfg.strategy,
            clock,
        )
        self.station_control = StationControl(
            self.storage,
            self.desired,
            lambda site, unit: self.ingest.latest.get((site, unit)),
            self.balancer.rooms,
            clock,
            cfg.strategy.period_s,
        )
        self.balancer.schedule_of = self.station_control.valve_schedule
        self.model_balancing = ModelBalancing(
            self.storage, self.balancer, clock, self.station_control.start_pump_from
        )
        self.last_published: dict[str, bytes] = {}  # topic -> last payload sent to the boards
        # (clock, deliveries processed) when the last tick ended: with `wake()`, what lets a
        # simulator step its clock by events (sim/broker_run.py)
        self.last_tick: tuple[float, int] = (float("-inf"), 0)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._http: ThreadingHTTPServer | None = None

    def _publish(self, topic: str, payload: bytes, retain: bool) -> None:
        self.last_published[topic] = payload
        self.link.publish(topic, payload, retain)

    def wake(self) -> None:
        """Have the ingest thread run its tick (timeouts, balancer) now, after what is queued."""
        self.queue.put(None)

    # ------------------------------------------------------------ lifecycle ----
    def start(self) -> None:
        for path in self.cfg.service.network_files:
            self._import(path)
        self.boards.grace(self.clock())
        self.link.start()
        self._spawn(self._run, "ingest")
        self._spawn(self._republish, "republish")
        if self.cfg.service.metrics_port:
            self._http = _metrics_server(self)
            self._spawn(self._http.serve_forever, "metrics")
        log.info(
            "serving sites %s, database %s",
            ", ".join(self.cfg.service.sites),
            self.storage.dialect,
        )

    def _import(self, path: str) -> None:
        from host.assets.network_import import import_network
        from host.assets.registry import RegistryError

        try:
            counts = import_network(self.registry, path)
            log.info("imported %s into the registry: %s", path, counts)
        except RegistryError as exc:
            if exc.reason != "duplicate":
                raise
            log.info("network file %s already in the registry (%s)", path, exc)

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=f"evenheat-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        """Finish the batch in hand, acknowledge it, disconnect, close the database."""
        self._stop.set()
        if self._http:
            self._http.shutdown()
            self._http.server_close()
        for thread in self._threads:
            thread.join(timeout=30)
        self.link.stop()
        self.storage.close()
        log.info("stopped: %s", self.summary())

    def _republish(self) -> None:
        while not self._stop.is_set():
            if self.link.connected.wait(timeout=0.2):
                n = self.desired.republish_all()
                log.info("republished %d desired states", n)
                return

    # ------------------------------------------------------------ ingest thread ----
    def _run(self) -> None:
        tick_s = self.cfg.service.tick_s
        batch_max = self.cfg.service.batch_max
        next_tick = next_log = 0.0
        while not self._stop.is_set():
            batch: list[Delivery] = []
            woken = False
            try:
                item = self.queue.get(timeout=min(tick_s, 0.2))
                while True:
                    if item is None:
                        woken = True
                    else:
                        batch.append(item)
                    if len(batch) >= batch_max:
                        break
                    item = self.queue.get_nowait()
            except queue.Empty:
                pass
            if batch:
                self._process(batch)
            now = self.clock()
            if woken or now >= next_tick:
                self._tick(batch)
                next_tick = now + tick_s
            if self.cfg.service.log_summary_s and now >= next_log:
                if next_log:
                    log.info("%s", self.summary())
                next_log = now + self.cfg.service.log_summary_s

    def _process(self, batch: list[Delivery]) -> None:
        delay_s = 0.5
        while True:
            try:
                self.ingest.process(batch)
                self.link.ack(batch)
                return
            except _DB_ERRORS as exc:
                log.error("database error, batch of %d kept unacknowledged: %s", len(batch), exc)
                self.boards.reload()
                self.alarms.reload()
                if self._stop.wait(delay_s):
                    return  # not acknowledged: the broker delivers it again next start
                delay_s = min(30.0, delay_s * 2)

    def _tick(self, batch: list[Delivery]) -> None:
        """Board timeouts, judged only against what has been processed: if deliveries are
        still queued, "now" is the arrival time of the last one processed."""
        with self.link.arrival_lock:
            now = self.clock()
            if not self.queue.empty() and batch:
                now = batch[-1].received_s
        try:
            with self.storage.transaction():
                self.boards.tick(now)
                self.boards.flush()
        except _DB_ERRORS as exc:
            log.error("database error in the board timeouts: %s", exc)
            self.boards.reload()
            self.alarms.reload()
            return
        now = self.clock()
        try:
            self.balancer.tick(now)
        except _DB_ERRORS as exc:
            log.error("database error in the balancer: %s", exc)
        try:
            self.model_balancing.tick(now)
        except _DB_ERRORS as exc:
            log.error("database error in the model-based balancing: %s", exc)
        try:
            self.station_control.tick(now)
        except _DB_ERRORS as exc:
            log.error("database error in the station control: %s", exc)
        self._sensor_verdicts()
        self.last_tick = (now, self.ingest.metrics.processed)

    def _sensor_verdicts(self) -> None:
        """Raise or clear `room_sensor_suspect` from the room estimator's verdicts (here, on
        the ingest thread, where alarms live)."""
        verdicts = self.balancer.rooms.take_sensor_verdicts()
        if not verdicts:
            return
        try:
            with self.storage.transaction():
                for v in verdicts:
                    text = (
                        f"reads {v.t_room_c:.1f} degC, which its household type's other sensed"
                        " flats cannot explain (wrong flat, over a radiator, behind a curtain)"
                        if v.suspect
                        else "the room estimator believes it again"
                    )
                    self.alarms.room_sensor(
                        v.site,
                        v.unit,
                        v.sensor,
                        "room_sensor_suspect",
                        v.ts_s,
                        v.t_room_c,
                        v.suspect,
                        text,
                    )
        except _DB_ERRORS as exc:
            log.error("database error raising room sensor alarms: %s", exc)
            self.alarms.reload()

    # ------------------------------------------------------------ metrics ----
    def summary(self) -> str:
        m = self.ingest.metrics
        online = sum(1 for b in self.boards.state.values() if b.get("status") == "online")
        return (
            f"received {sum(m.received.values())}, stored {sum(m.stored_messages.values())}"
            f" messages / {m.stored_records} records, refused {m.refused_total()},"
            f" boards online {online}/{len(self.boards.state)},"
            f" open alarms {len(self.alarms.open)}, queue {self.queue.qsize()}"
        )

    def metrics_text(self) -> str:
        """Prometheus text exposition of the counters (served on /metrics)."""
        m = self.ingest.metrics
        lines = [
            "# TYPE evenheat_messages_received_total counter",
            *(
                f'evenheat_messages_received_total{{kind="{k}"}} {n}'
                for k, n in sorted(m.received.items())
            ),
            "# TYPE evenheat_messages_stored_total counter",
            *(
                f'evenheat_messages_stored_total{{kind="{k}"}} {n}'
                for k, n in sorted(m.stored_messages.items())
            ),
            "# TYPE evenheat_records_stored_total counter",
            f"evenheat_records_stored_total {m.stored_records}",
            "# TYPE evenheat_refused_total counter",
            *(
                f'evenheat_refused_total{{site="{s}",unit="{u}",reason="{r}"}} {n}'
                for (s, u, r), n in sorted(m.refused.items())
            ),
            "# TYPE evenheat_ingest_batches_total counter",
            f"evenheat_ingest_batches_total {m.batches}",
            f"evenheat_ingest_commit_seconds_sum {m.commit_s_sum:.6f}",
            f"evenheat_ingest_commit_seconds_max {m.commit_s_max:.6f}",
            f"evenheat_ingest_lag_seconds {m.lag_s_max:.6f}",
            f"evenheat_ingest_queue_depth {self.queue.qsize()}",
            f"evenheat_broker_connected {int(self.link.connected.is_set())}",
            "# TYPE evenheat_boards gauge",
        ]
        status = Counter(b.get("status", "unknown") for b in self.boards.state.values())
        lines += [f'evenheat_boards{{status="{s}"}} {n}' for s, n in sorted(status.items())]
        kinds = Counter(key[3] for key in self.alarms.open)
        lines.append("# TYPE evenheat_alarms_open gauge")
        lines += [f'evenheat_alarms_open{{kind="{k}"}} {n}' for k, n in sorted(kinds.items())]
        return "\n".join(lines) + "\n"


def _metrics_server(service: Service) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if self.path != "/metrics":
                self.send_error(404)
                return
            body = service.metrics_text().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    cfg = service.cfg.service
    return ThreadingHTTPServer((cfg.metrics_host, cfg.metrics_port), Handler)
