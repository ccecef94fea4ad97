"""umqtt.simple's `MQTTClient` API backed by paho-mqtt, for running board code on CPython.

umqtt.simple exists only on boards (`mpremote mip install umqtt.simple`); no registry reachable
here serves it. This class gives the board's link (edge/link.py) the same methods and the
same blocking/non-blocking behaviour, but talks to a real Mosquitto through paho-mqtt:

- `connect()` waits (bounded by `timeout`) for the CONNACK and raises `MQTTException(rc)` on
  refusal, `OSError` when the broker cannot be reached;
- `publish(qos=1)` returns only after the PUBACK, or raises `OSError` after the timeout;
- `subscribe()` waits for the SUBACK; `check_msg()` never waits and delivers at most one
  message to the callback as `(topic bytes, payload bytes)`;
- a lost connection shows as `OSError` from the next call, as on a board.

Each client also counts what it put on the broker (`published`) and keeps the last payload it
received on each topic (`received`): the evidence the simulator's event-driven clock waits for
(sim/broker_run.py, `BrokerPlant.settle`). A real board has neither; the link never reads them.

`NETWORK` is the board's own network (Wi-Fi/Ethernet): `NETWORK.up = False` makes every
connection attempt fail and cuts a live session without a DISCONNECT packet, so the broker
publishes the last will, just as when a board loses its network while the broker stays up.
"""

from __future__ import annotations

import errno
import queue
import socket
import time

import paho.mqtt.client as mqtt

from sim.board_mqtt.umqtt.simple import MQTTClient as SocketMQTTClient
from sim.board_mqtt.umqtt.simple import MQTTException

__all__ = ["MQTTClient", "MQTTException", "NETWORK"]


class NetworkSwitch:
    def __init__(self) -> None:
        self.up = True


NETWORK = NetworkSwitch()


class MQTTClient(SocketMQTTClient):
    """See the module docstring. Timeouts default to 5 s as the board's link configures.

    The constructor, `set_callback` and `set_last_will` are those of our MicroPython client
    (umqtt/simple.py beside this file, same API); everything that talks to the broker is paho's.
    """

    def __init__(
        self,
        client_id,
        server,
        port=0,
        user=None,
        password=None,
        keepalive=0,
        ssl=None,
        ssl_params=None,
    ):
        super().__init__(client_id, server, port, user, password, keepalive, ssl, ssl_params)
        self.timeout_s = 5.0
        self._c: mqtt.Client | None = None
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._connack: int | None = None
        self._session_present = 0
        self._subacks: dict[int, list] = {}
        self.published = 0  # messages the broker took (QoS 1: PUBACK seen)
        self.received: dict[str, bytes] = {}  # topic -> last payload off the socket

    def connect(self, clean_session=True, timeout=None):
        if not NETWORK.up:
            raise OSError(errno.ENETUNREACH, "network down")
        if timeout:
            self.timeout_s = float(timeout)
        c = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
        )
        if self.lw_topic:
            c.will_set(self.lw_topic, self.lw_msg, qos=self.lw_qos, retain=self.lw_retain)
        if self.user:
            c.username_pw_set(self.user, self.pswd)
        if self.ssl:
            c.tls_set_context(self.ssl if not isinstance(self.ssl, bool) else None)
        c.on_connect = self._on_connect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        self._c = c
        c.connect(self.server, self.port, keepalive=self.keepalive or 60)  # OSError if refused
        sock = c.socket()
        # as lwIP sends at once: no 40 ms Nagle/delayed-ACK stalls (TLS sockets are sockets too)
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        deadline = time.monotonic() + self.timeout_s
        while self._connack is None:
            if time.monotonic() > deadline:
                self._kill()
                raise OSError(errno.ETIMEDOUT, "no CONNACK")
            self._pump(0.02)
        if self._connack != 0:
            rc = self._connack
            self._kill()
            raise MQTTException(rc)
        return self._session_present

    def _on_connect(self, _c, _u, flags, reason_code, _props):
        self._connack = reason_code.value if hasattr(reason_code, "value") else int(reason_code)
        self._session_present = int(bool(getattr(flags, "session_present", 0)))

    def _on_message(self, _c, _u, m):
        payload = bytes(m.payload)
        self.received[m.topic] = payload
        self._inbox.put((m.topic.encode(), payload))

    def _on_subscribe(self, _c, _u, mid, reason_codes, _props):
        self._subacks[mid] = [rc.value if hasattr(rc, "value") else int(rc) for rc in reason_codes]

    def _kill(self):
        """Close the TCP connection without DISCONNECT (the broker then sends the will)."""
        c = self._c
        if c is not None:
            sock = c.socket()
            if sock is not None:
                sock.close()
        self._c = None

    def _pump(self, timeout_s=0.0):
        if not NETWORK.up:
            self._kill()
            raise OSError(errno.ENETDOWN, "network down")
        if self._c is None:
            raise OSError(errno.ENOTCONN, "not connected")
        rc = self._c.loop(timeout=timeout_s)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            self._kill()
            raise OSError(errno.ECONNRESET, f"connection lost ({rc})")

    def _wait(self, done, what):
        deadline = time.monotonic() + self.timeout_s
        while not done():
            if time.monotonic() > deadline:
                self._kill()
                raise OSError(errno.ETIMEDOUT, "no " + what)
            self._pump(0.02)

    def publish(self, topic, msg, retain=False, qos=0):
        if self._c is None or not NETWORK.up:
            self._kill()
            raise OSError(errno.ENOTCONN, "not connected")
        if isinstance(topic, bytes):
            topic = topic.decode()
        info = self._c.publish(topic, bytes(msg), qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self._kill()
            raise OSError(errno.ECONNRESET, f"publish failed ({info.rc})")
        if qos:
            self._wait(info.is_published, "PUBACK")
        else:
            self._pump(0)
        self.published += 1

    def subscribe(self, topic, qos=0):
        if self._c is None:
            raise OSError(errno.ENOTCONN, "not connected")
        if isinstance(topic, bytes):
            topic = topic.decode()
        result, mid = self._c.subscribe(topic, qos)
        if result != mqtt.MQTT_ERR_SUCCESS or mid is None:  # paho gives a mid on success
            self._kill()
            raise OSError(errno.ECONNRESET, "subscribe failed")
        self._wait(lambda: mid in self._subacks, "SUBACK")
        if self._subacks.pop(mid)[0] >= 0x80:
            raise MQTTException(0x80)

    def receive(self):
        """Read what has arrived on the socket, delivering nothing (the board's network stack
        taking packets in while its program is busy); a dead connection is left for the
        program's next call to find."""
        if self._c is not None and NETWORK.up:
            self._c.loop(timeout=0)

    def check_msg(self):
        self._pump(0)
        try:
            topic, payload = self._inbox.get_nowait()
        except queue.Empty:
            return None
        assert self.cb is not None, "set_callback() before check_msg()"
        self.cb(topic, payload)
        return 0x30

    def wait_msg(self):
        self._wait(lambda: not self._inbox.empty(), "message")
        return self.check_msg()

    def ping(self):
        self._pump(0)  # paho sends PINGREQ itself when the keep-alive interval is due

    def disconnect(self):
        if self._c is not None:
            self._c.disconnect()
            self._c.loop(timeout=0.1)
        self._c = None
