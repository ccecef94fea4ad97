"""The board's MQTT link: one owner of the broker session, never in the control loop's way.

`Link.poll()` is called from the board's main loop every few hundred milliseconds and always
returns promptly: it makes at most one connection attempt when one is due, reads whatever the
broker has sent without waiting (umqtt.simple `check_msg`), keeps the session alive, and
replays a paced slice of the offline outbox. Every socket operation has a timeout.

Design (mqtt_as style, on umqtt.simple):
- `_drop()` is the only place that ends a session and schedules the next attempt; every
  failure anywhere (OSError, MQTTException, a silent broker) goes through it.
- Reconnect delays grow exponentially with "equal jitter": attempt n waits between half and
  all of min(cap, first * factor**n), so a broker restart spreads an estate's reconnects over
  time instead of the same second; the delays are counted and kept for diagnostics.
- On connect: the last will (retained `offline` state, shared.protocol.last_will) is
  registered, the retained birth `online` state published, and the unit's desired topics
  subscribed again (a clean session remembers nothing).
- Messages from the broker are only queued inside the client callback (umqtt.simple may call
  it from inside publish or subscribe); they are handled by `poll()` afterwards.
- Telemetry and events go straight to the broker when the link is up and no backlog waits;
  otherwise into the outbox, which `poll()` drains in order at `replay_per_s`, keeping each
  record's own `ts_s` and `seq`.
- umqtt.simple's `check_msg` leaves its socket blocking without a timeout; the link wraps the
  socket so that "blocking" always means "blocking with the configured timeout", and so that it
  knows when the broker last sent anything (a half-open TCP session is dropped after 1.5
  keep-alive intervals of silence).
- Credentials and TLS settings come from the unit configuration; `describe()` and every log
  line leave the password out.

Units: times in ms on the injected clock (edge.clock), configuration in s.
"""

from shared import protocol

_LOG_LEN = 8
_POSTPONE_MS = 1000  # how long an attempt may_connect() refused is put off


class LinkConfig:
    """The link's part of the unit configuration (unit.json), validated.

    Keys: site, unit, broker ("host:port"), user, password, tls (false, true, or an object
    with `ca`, a CA certificate file on flash), keepalive_s, socket_timeout_s,
    backoff_first_s, backoff_cap_s, backoff_factor, boot_spread_s (the first attempt after
    boot waits a random part of this, so an estate powered up together does not connect in
    the same second), replay_per_s, replay_burst, msgs_per_poll, client_id.
    """

    def __init__(self, cfg):
        self.site = cfg["site"]
        self.unit = cfg["unit"]
        protocol.topic(self.site, self.unit, protocol.TELE)  # raises on a bad identifier
        self.tls = cfg.get("tls") or False
        if self.tls is not True and self.tls is not False and type(self.tls) is not dict:
            raise ValueError("unit config: tls must be true, false or an object")
        host, port = _split_broker(cfg["broker"], 8883 if self.tls else 1883)
        self.host = host
        self.port = port
        self.user = cfg.get("user") or None
        self.password = cfg.get("password") or None
        if (self.user is None) != (self.password is None):
            raise ValueError("unit config: user and password go together")
        self.keepalive_s = _num(cfg, "keepalive_s", 60, 10, 3600)
        self.socket_timeout_s = _num(cfg, "socket_timeout_s", 5, 0.2, 60)
        self.backoff_first_s = _num(cfg, "backoff_first_s", 5, 0.1, 600)
        self.boot_spread_s = _num(cfg, "boot_spread_s", 10, 0, 600)
        self.backoff_cap_s = _num(cfg, "backoff_cap_s", 300, 1, 86400)
        self.backoff_factor = _num(cfg, "backoff_factor", 2, 1.1, 10)
        self.replay_per_s = _num(cfg, "replay_per_s", 5, 0.1, 1000)
        self.replay_burst = int(_num(cfg, "replay_burst", 10, 1, 1000))
        self.msgs_per_poll = int(_num(cfg, "msgs_per_poll", 4, 1, 100))
        self.client_id = cfg.get("client_id") or "evenheat-{}-{}".format(self.site, self.unit)

    def describe(self):
        """A printable summary that never contains the password."""
        return "mqtt{}://{}{}:{} as {}".format(
            "s" if self.tls else "",
            (self.user + ":***@") if self.user else "",
            self.host,
            self.port,
            self.client_id,
        )


def _split_broker(text, default_port):
    if type(text) is not str or not text:
        raise ValueError("unit config: broker must be HOST or HOST:PORT")
    if ":" in text:
        host, port_text = text.rsplit(":", 1)
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError("unit config: broker port must be 1..65535")
        return host, int(port_text)
    return text, default_port


def ssl_context(cfg, read_file=None):
    """The TLS context for `cfg.tls` (None without TLS), on the board's ssl module.

    tls: true verifies nothing beyond the encryption (the board has no CA store); an object
    {"ca": "ca.pem"} verifies the broker's certificate against that CA file on flash.
    """
    if not cfg.tls:
        return None
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca = cfg.tls.get("ca") if type(cfg.tls) is dict else None
    if ca:
        if read_file is None:
            with open(ca, "rb") as f:
                cadata = f.read()
        else:
            cadata = read_file(ca)
        ctx.load_verify_locations(cadata=cadata)
        mode = ssl.CERT_REQUIRED
    else:
        mode = ssl.CERT_NONE
    ctx.verify_mode = mode  # type: ignore[attr-defined]  # in MicroPython, not its stubs
    return ctx


def _num(cfg, key, default, lo, hi):
    value = cfg.get(key, default)
    if type(value) not in (int, float) or not lo <= value <= hi:
        raise ValueError("unit config: {} must be a number in {}..{}".format(key, lo, hi))
    return value


class Backoff:
    """Exponential back-off with equal jitter and a cap; `rand()` returns a float in [0, 1)."""

    def __init__(self, first_s, cap_s, factor, rand):
        self.first_ms = int(first_s * 1000)
        self.cap_ms = int(cap_s * 1000)
        self.factor = factor
        self.rand = rand
        self.failures = 0  # consecutive failed attempts

    def next_delay_ms(self):
        ceiling = self.first_ms
        for _ in range(self.failures):
            ceiling = int(ceiling * self.factor)
            if ceiling >= self.cap_ms:
                break
        ceiling = min(ceiling, self.cap_ms)
        self.failures += 1
        half = ceiling // 2
        return half + int(self.rand() * (ceiling - half))

    def reset(self):
        self.failures = 0


class _TimeoutSocket:
    """Wraps the client's socket: blocking always has a timeout; remembers the last byte in.

    umqtt.simple calls `setblocking(True)` after each non-blocking `check_msg` read, which on
    MicroPython removes the timeout; here it restores the link's timeout instead.
    """

    def __init__(self, sock, timeout_s, clock):
        self._sock = sock
        self._timeout_s = timeout_s
        self._clock = clock
        self.rx_ms = clock.ticks_ms()
        self.settimeout(None)

    def setblocking(self, flag):
        if flag:
            self.settimeout(None)
        else:
            self._sock.setblocking(False)

    def settimeout(self, value):
        fn = getattr(self._sock, "settimeout", None)
        if fn is None:  # a TLS socket without settimeout: blocking, keep-alive still watches
            self._sock.setblocking(True)
        else:
            fn(self._timeout_s if value is None else value)

    def read(self, n):
        data = self._sock.read(n)
        if data:
            self.rx_ms = self._clock.ticks_ms()
        return data

    def write(self, buf, n=-1):
        if n >= 0:
            return self._sock.write(buf, n)
        return self._sock.write(buf)

    def close(self):
        self._sock.close()


def default_rand():
    """A float in [0, 1) from the board's random module (seeded from hardware on boards)."""
    import random

    return random.getrandbits(24) / 16777216


def default_client_factory():
    from umqtt.simple import MQTTClient

    return MQTTClient


class Link:
    """The MQTT session of one unit.

    cfg:            LinkConfig
    clock:          edge.clock clock (ticks_ms, ticks_diff, time_s)
    outbox:         edge.outbox.Outbox (or None: records are dropped while offline)
    birth:          birth() -> dict, the fields of the retained online state message
    client_class:   the umqtt.simple MQTTClient class (or a stand-in with its API)
    rand:           rand() -> float in [0, 1), for the jitter
    ssl_context:    an SSL context for TLS (built by the caller from the unit config)
    may_connect:    may_connect() -> bool; False postpones a due attempt by a second: the
                    board's own network is down (WLAN.isconnected), or a valve is moving and
                    must not wait for a connect that can block up to socket_timeout_s
    """

    def __init__(
        self,
        cfg,
        clock,
        outbox,
        birth,
        client_class=None,
        rand=None,
        ssl_context=None,
        may_connect=None,
    ):
        self.cfg = cfg
        self.clock = clock
        self.outbox = outbox
        self._birth = birth
        self._client_class = client_class
        self._ssl = ssl_context
        self._may_connect = may_connect
        self.backoff = Backoff(
            cfg.backoff_first_s, cfg.backoff_cap_s, cfg.backoff_factor, rand or default_rand
        )
        self.client = None
        self._sock = None
        self.connected = False
        spread_ms = int(cfg.boot_spread_s * 1000 * self.backoff.rand())
        self._next_try_ms = clock.ticks_add(clock.ticks_ms(), spread_ms)
        self._last_tx_ms = 0
        self._tokens = float(cfg.replay_burst)
        self._tokens_ms = clock.ticks_ms()
        self._inbox = []  # (kind, payload) from the broker, handled in poll()
        self._handlers = {}
        self.delays_ms = []  # reconnect delays of the current or last outage (at most 64)
        self.errors = []  # the last few link errors, as short strings
        self.stats = {
            "attempts": 0,
            "connects": 0,
            "drops": 0,
            "published": 0,
            "replayed": 0,
            "queued": 0,
            "received": 0,
            "refused_msgs": 0,
        }
        self.topic_tele = protocol.topic(cfg.site, cfg.unit, protocol.TELE)
        self.topic_event = protocol.topic(cfg.site, cfg.unit, protocol.EVENT)
        self.topic_state = protocol.topic(cfg.site, cfg.unit, protocol.STATE)
        self.topic_ack = protocol.topic(cfg.site, cfg.unit, protocol.ACK)
        self._subscriptions = protocol.board_subscriptions(cfg.site, cfg.unit)

    def on(self, kind, handler):
        """handler(payload bytes) is called from poll() for each message of a downlink kind."""
        self._handlers[kind] = handler

    # ------------------------------------------------------------------------ session ----

    def poll(self):
        """Do the link's share of work for this pass of the main loop; never blocks long."""
        now = self.clock.ticks_ms()
        if not self.connected and self.clock.ticks_diff(now, self._next_try_ms) >= 0:
            if self._may_connect is not None and not self._may_connect():
                self._next_try_ms = self.clock.ticks_add(now, _POSTPONE_MS)
            else:
                self._connect()
        if self.connected:
            self._receive()
        if self.connected:
            self._keepalive()
        self._dispatch()
        if self.connected:
            self._replay()

    def _connect(self):
        cfg = self.cfg
        self.stats["attempts"] += 1
        client = None
        try:
            cls = self._client_class or default_client_factory()
            client = cls(
                cfg.client_id,
                cfg.host,
                port=cfg.port,
                user=cfg.user,
                password=cfg.password,
                keepalive=int(cfg.keepalive_s),
                ssl=self._ssl,
            )
            client.set_callback(self._on_message)
            will_topic, will_payload = protocol.last_will(cfg.site, cfg.unit)
            client.set_last_will(will_topic, will_payload, retain=True, qos=1)
            self.client = client
            try:
                client.connect(clean_session=True, timeout=cfg.socket_timeout_s)
            except TypeError:  # an older umqtt.simple without the timeout argument
                client.connect(clean_session=True)
            sock = getattr(client, "sock", None)
            if sock is not None and hasattr(sock, "read"):
                self._sock = _TimeoutSocket(sock, cfg.socket_timeout_s, self.clock)
                client.sock = self._sock
            client.publish(self.topic_state, self._state_payload(), retain=True, qos=1)
            for topic in self._subscriptions:
                client.subscribe(topic, qos=1)
        except Exception as exc:  # noqa: BLE001 - any failure ends this attempt the same way
            self.client = client
            self._drop("connect", exc)
            return
        self.connected = True
        self.stats["connects"] += 1
        self.backoff.reset()
        self._last_tx_ms = self.clock.ticks_ms()

    def _drop(self, where, exc):
        """End the session (if any) and schedule the next attempt: the one owner of reconnects."""
        self._note_error(where, exc)
        if self.connected:
            self.stats["drops"] += 1
            self.delays_ms = []  # a new outage: keep its delays from the first one
        self.connected = False
        client = self.client
        self.client = None
        self._sock = None
        if client is not None:
            try:
                sock = getattr(client, "sock", None)
                if sock is not None:
                    sock.close()
            except Exception:  # noqa: BLE001 - closing a dead socket may fail; it is gone
                pass
        delay = self.backoff.next_delay_ms()
        self.delays_ms.append(delay)
        if len(self.delays_ms) > 64:
            self.delays_ms.pop(0)
        self._next_try_ms = self.clock.ticks_add(self.clock.ticks_ms(), delay)

    def _note_error(self, where, exc):
        text = "{}: {}".format(where, _describe_exc(exc))
        self.errors.append(text)
        if len(self.errors) > _LOG_LEN:
            self.errors.pop(0)

    def next_attempt_in_ms(self):
        """How long until the next connection attempt (0 when connected or due)."""
        if self.connected:
            return 0
        return max(0, self.clock.ticks_diff(self._next_try_ms, self.clock.ticks_ms()))

    def close(self):
        """Leave cleanly (the broker then does not publish the last will)."""
        if self.connected and self.client is not None:
            try:
                self.client.publish(
                    self.topic_state,
                    protocol.encode(protocol.STATE, {"status": "offline"}),
                    retain=True,
                    qos=1,
                )
                self.client.disconnect()
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        self.connected = False
        self.client = None

    # ------------------------------------------------------------------------ receive ----

    def _on_message(self, topic, payload):
        # Called by the client, possibly inside publish()/subscribe(): queue only.
        self.stats["received"] += 1
        try:
            site, unit, kind = protocol.parse_topic(topic)
        except protocol.ProtocolError:
            site = unit = kind = None
        if site != self.cfg.site or unit != self.cfg.unit:
            self.stats["refused_msgs"] += 1
            return
        for i in range(len(self._inbox)):
            if self._inbox[i][0] == kind:  # only the newest desired state per kind matters
                self._inbox[i] = (kind, bytes(payload))
                return
        self._inbox.append((kind, bytes(payload)))

    def _receive(self):
        client = self.client
        if client is None:
            return
        try:
            for _ in range(self.cfg.msgs_per_poll):
                if client.check_msg() is None:
                    break
        except Exception as exc:  # noqa: BLE001
            self._drop("receive", exc)

    def _keepalive(self):
        now = self.clock.ticks_ms()
        keep_ms = int(self.cfg.keepalive_s * 1000)
        sock = self._sock
        if sock is not None and self.clock.ticks_diff(now, sock.rx_ms) > keep_ms * 3 // 2:
            self._drop("keepalive", OSError("broker silent for 1.5 keep-alive intervals"))
            return
        if self.clock.ticks_diff(now, self._last_tx_ms) >= keep_ms // 2:
            try:
                if self.client is not None:
                    self.client.ping()
                self._last_tx_ms = now
            except Exception as exc:  # noqa: BLE001
                self._drop("ping", exc)

    def _dispatch(self):
        while self._inbox:
            kind, payload = self._inbox.pop(0)
            handler = self._handlers.get(kind)
            if handler is not None:
                handler(payload)

    # ------------------------------------------------------------------------ publish ----

    def _publish(self, topic, payload, retain=False):
        """Publish QoS 1 and wait (bounded by the socket timeout) for the PUBACK."""
        client = self.client
        if client is None:
            return False
        try:
            client.publish(topic, payload, retain=retain, qos=1)
        except Exception as exc:  # noqa: BLE001
            self._drop("publish", exc)
            return False
        self._last_tx_ms = self.clock.ticks_ms()
        self.stats["published"] += 1
        return True

    def send_record(self, kind, payload):
        """Send a tele or event record now if possible, else keep it in the outbox.

        Returns the number of old records the outbox dropped to make room (0 normally).
        """
        if self.connected and (self.outbox is None or self.outbox.depth() == 0):
            topic = self.topic_tele if kind == protocol.TELE else self.topic_event
            if self._publish(topic, payload):
                return 0
        if self.outbox is None:
            return 1
        self.stats["queued"] += 1
        return self.outbox.append(kind, payload)

    def send_ack(self, payload):
        """Publish an acknowledgement; False when offline (retained desired state is
        delivered again on the next subscribe, and the board acknowledges it again)."""
        if not self.connected:
            return False
        return self._publish(self.topic_ack, payload)

    def send_state(self):
        """Publish the retained online state again (e.g. after desired versions changed)."""
        if not self.connected:
            return False
        return self._publish(self.topic_state, self._state_payload(), True)

    def _state_payload(self):
        """The birth message; a field the contract refuses must not keep the board offline."""
        fields = self._birth() if self._birth else {}
        fields["status"] = "online"
        try:
            return protocol.encode(protocol.STATE, fields)
        except protocol.ProtocolError as exc:
            self._note_error("birth", exc)
            return protocol.encode(protocol.STATE, {"status": "online"})

    def _replay(self):
        outbox = self.outbox
        if outbox is None or outbox.depth() == 0:
            return
        now = self.clock.ticks_ms()
        elapsed = self.clock.ticks_diff(now, self._tokens_ms)
        self._tokens_ms = now
        self._tokens = min(
            float(self.cfg.replay_burst), self._tokens + elapsed * self.cfg.replay_per_s / 1000
        )
        sent = 0
        while self._tokens >= 1 and self.connected:
            item = outbox.peek()
            if item is None:
                break
            kind, payload = item
            topic = self.topic_tele if kind == protocol.TELE else self.topic_event
            if not self._publish(topic, payload):
                break
            outbox.pop()
            self._tokens -= 1
            sent += 1
        if sent:
            self.stats["replayed"] += sent
            outbox.commit()


def _describe_exc(exc):
    name = type(exc).__name__
    args = getattr(exc, "args", ())
    return "{}{}".format(name, args if args else "")
