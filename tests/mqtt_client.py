"""A small synchronous wrapper around paho-mqtt for tests: connect, publish, collect messages."""

from __future__ import annotations

import queue
import threading
import uuid

import paho.mqtt.client as mqtt


class TestClient:
    """A paho client that queues every message it receives."""

    __test__ = False  # not a pytest test class

    def __init__(self, host: str, port: int, will: tuple[str, bytes] | None = None):
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id="test-" + uuid.uuid4().hex[:10],
        )
        if will:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        self.client.on_message = lambda _c, _u, msg: self.messages.put(msg)
        self._subacks: set[int] = set()
        self._suback = threading.Condition()
        self.client.on_subscribe = self._on_subscribe
        self.client.connect(host, port, keepalive=5)
        self.client.loop_start()

    def _on_subscribe(self, _c, _u, mid, _reason_codes, _props) -> None:
        with self._suback:
            self._subacks.add(mid)
            self._suback.notify_all()

    def subscribe(self, pattern: str, qos: int = 1, timeout_s: float = 30.0) -> None:
        """Subscribe and return once the broker has acknowledged it (its SUBACK)."""
        with self._suback:
            result, mid = self.client.subscribe(pattern, qos)
            assert result == mqtt.MQTT_ERR_SUCCESS
            assert self._suback.wait_for(lambda: mid in self._subacks, timeout_s), "no SUBACK"

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout=5)
        assert info.is_published()

    def receive(self, timeout_s: float = 5.0) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=timeout_s)

    def drop_connection(self) -> None:
        """Vanish without a DISCONNECT packet, as a board losing power does."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
