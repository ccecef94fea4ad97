"""The host's MQTT connection: a persistent session whose QoS 1 acks wait for storage.

MQTT 5 with `clean_start=False` and a session expiry: while the host is stopped, the broker
keeps its subscriptions and queues every QoS 1 message for it, and delivers them when it
returns. Manual acknowledgement: paho does not send PUBACK on receipt; the ingest calls
`ack()` after the records are committed. A message delivered but not acknowledged when the
connection or the process dies is delivered again by the broker (then deduplicated), so
"acknowledged" means "committed to the database".

Deliveries carry the connection generation they came in on; an ack for a delivery from an
older connection is not sent (its packet id belongs to the old session exchange, and the
broker redelivers the message anyway). paho reconnects on its own with back-off.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from host.errors import EvenheatError
from host.service.config import BrokerConfig

log = logging.getLogger(__name__)


class PublishError(EvenheatError, RuntimeError):
    """The broker did not confirm a publish in time."""

    reason = "publish-failed"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as the broker delivered it, stamped on arrival (host wall clock)."""

    generation: int
    mid: int
    qos: int
    topic: str
    payload: bytes
    retain: bool
    received_s: float


class MqttLink:
    """Connects, subscribes, hands every delivery to `deliver`, acks on request."""

    def __init__(
        self,
        cfg: BrokerConfig,
        subscriptions: Sequence[str],
        deliver: Callable[[Delivery], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.clock = clock  # stamps arrivals: the service's clock, simulated in the demo
        self.subscriptions = list(subscriptions)
        self.deliver = deliver
        self.generation = 0
        # Held while a delivery is stamped and handed over, so the service can take "now" and
        # see an empty queue atomically (no message stamped earlier can still be in transit).
        self.arrival_lock = threading.Lock()
        self.connected = threading.Event()  # set once the subscriptions are acknowledged
        self._subscribe_mid: int | None = -1
        self._session_present = False
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            protocol=mqtt.MQTTv5,
        )
        self.client.manual_ack_set(True)
        self.client.max_queued_messages_set(0)
        if cfg.username:
            self.client.username_pw_set(cfg.username, cfg.password())
        if cfg.tls_ca_file:
            self.client.tls_set(
                ca_certs=cfg.tls_ca_file,
                certfile=cfg.tls_cert_file or None,
                keyfile=cfg.tls_key_file or None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        self.generation += 1
        self._session_present = flags.session_present
        _, self._subscribe_mid = client.subscribe([(t, 1) for t in self.subscriptions])

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        _props: Properties | None,
    ) -> None:
        if mid != self._subscribe_mid:
            return
        if any(rc.is_failure for rc in reason_codes):
            log.error("broker refused a subscription: %s", reason_codes)
            return
        log.info(
            "connected to %s:%d (session %s), subscribed to %s",
            self.cfg.host,
            self.cfg.port,
            "resumed" if self._session_present else "new",
            ", ".join(self.subscriptions),
        )
        self.connected.set()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        _props: Properties | None,
    ) -> None:
        self.connected.clear()
        log.warning("disconnected from the broker: %s", reason_code)

    def _on_message(
        self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        with self.arrival_lock:
            self.deliver(
                Delivery(
                    self.generation,
                    message.mid,
                    message.qos,
                    message.topic,
                    bytes(message.payload),
                    bool(message.retain),
                    self.clock(),
                )
            )

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Send PUBACK for deliveries of the current connection (call after commit)."""
        generation = self.generation
        for d in deliveries:
            if d.qos and d.generation == generation:
                self.client.ack(d.mid, d.qos)

    def publish(self, topic: str, payload: bytes, retain: bool, timeout_s: float = 10.0) -> None:
        """Publish QoS 1 and wait for the broker's PUBACK; raise PublishError otherwise."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        try:
            info.wait_for_publish(timeout=timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise PublishError(f"publish to {topic} failed: {exc}") from None
        if not info.is_published():
            raise PublishError(f"publish to {topic}: no PUBACK within {timeout_s} s")

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.cfg.session_expiry_s
        props.ReceiveMaximum = self.cfg.receive_maximum
        self.client.connect_async(
            self.cfg.host,
            self.cfg.port,
            keepalive=self.cfg.keepalive_s,
            clean_start=False,
            properties=props,
        )
        self.client.loop_start()

    def stop(self) -> None:
        # DISCONNECT first: the network thread sends it, closes the socket and ends at once
        # (stopping the thread first leaves the socket open and waits out its 1 s select).
        self.client.disconnect()
        self.client.loop_stop()
