"""Stand-ins for the link's dual-runtime tests (CPython and the MicroPython unix port).

- `FakeBroker` + `FakeClient`: a scripted broker behind the umqtt.simple `MQTTClient` API
  (retained messages, subscriptions, an on/off switch for outages, a log of every publish).
  It is a test double for the link's *logic*; the real-broker checks are in tests/edge_link
  (paho-mqtt against Mosquitto) and run the same link code.
- `LinkRig`: link + outbox + desired state wired as edge/connected.py does, on a manual clock.
- `scratch_dir()` / `rmtree()`: a throw-away folder on both runtimes.
"""

import json
import os

from edge import persist
from edge.clock import ManualClock
from edge.desired import Desired
from edge.link import Link, LinkConfig
from edge.outbox import Outbox
from shared import protocol as p

SITE = "estate-7"
UNIT = "b12-e2"
CFG = {
    "site": SITE,
    "unit": UNIT,
    "broker": "broker.local:1883",
    "user": "b12-e2",
    "password": "s3cret-pw",
    "keepalive_s": 60,
    "backoff_first_s": 2,
    "backoff_cap_s": 300,
    "replay_per_s": 5,
    "replay_burst": 10,
    "boot_spread_s": 0,
}


class FakeBroker:
    def __init__(self):
        self.up = True
        self.retained = {}
        self.log = []  # (topic, payload bytes, retain) of every accepted publish
        self.wills = {}
        self.sessions = 0
        self.client = None
        self.fail_publish_after = None  # drop the connection after this many publishes

    def topics(self, suffix):
        return [t for t, _p, _r in self.log if t.endswith(suffix)]

    def payloads(self, suffix):
        return [json.loads(p) for t, p, _r in self.log if t.endswith(suffix)]

    def go_down(self):
        """The broker (or the board's network) vanishes: the session dies, the will fires."""
        self.up = False
        if self.client is not None and self.client.alive:
            self.client.alive = False
            topic, payload, retain = self.wills[self.client.client_id]
            if retain:
                self.retained[topic] = payload
        self.client = None

    def come_back(self):
        self.up = True

    def publish_retained(self, topic, payload):
        """The host publishes desired state (retained): delivered now if subscribed."""
        self.retained[topic] = payload
        if self.client is not None and self.client.alive and topic in self.client.subs:
            self.client.pending.append((topic, payload))


class FakeClient:
    """The umqtt.simple MQTTClient API on a FakeBroker (set `FakeClient.broker` first)."""

    broker = None
    instances = []

    def __init__(self, client_id, server, port=0, user=None, password=None, keepalive=0, ssl=None):
        self.client_id = client_id
        self.server = server
        self.port = port
        self.user = user
        self.password = password
        self.keepalive = keepalive
        self.ssl = ssl
        self.cb = None
        self.will = None
        self.alive = False
        self.subs = []
        self.pending = []
        self.pings = 0
        FakeClient.instances.append(self)

    def set_callback(self, f):
        self.cb = f

    def set_last_will(self, topic, msg, retain=False, qos=0):
        self.will = (topic, msg, retain)

    def connect(self, clean_session=True, timeout=None):
        broker = FakeClient.broker
        if not broker.up:
            raise OSError(111)  # ECONNREFUSED
        broker.sessions += 1
        broker.wills[self.client_id] = self.will
        broker.client = self
        self.alive = True
        return 0

    def _check_alive(self):
        if not self.alive or not FakeClient.broker.up:
            self.alive = False
            raise OSError(-1)

    def publish(self, topic, msg, retain=False, qos=0):
        self._check_alive()
        broker = FakeClient.broker
        if broker.fail_publish_after is not None:
            if broker.fail_publish_after <= 0:
                broker.fail_publish_after = None
                broker.go_down()
                raise OSError(110)  # ETIMEDOUT waiting for PUBACK
            broker.fail_publish_after -= 1
        broker.log.append((topic, bytes(msg), retain))
        if retain:
            broker.retained[topic] = bytes(msg)

    def subscribe(self, topic, qos=0):
        self._check_alive()
        self.subs.append(topic)
        if topic in FakeClient.broker.retained:
            self.pending.append((topic, FakeClient.broker.retained[topic]))

    def check_msg(self):
        self._check_alive()
        if not self.pending:
            return None
        topic, payload = self.pending.pop(0)
        self.cb(topic.encode(), payload)
        return 0x30

    def ping(self):
        self._check_alive()
        self.pings += 1

    def disconnect(self):
        self.alive = False


_counter = [0]


def scratch_dir(name):
    """A new empty folder under /tmp for one test."""
    import time

    _counter[0] += 1
    base = "/tmp/evenheat-mp-{}-{}-{}".format(
        name, int(time.time() * 1000) % 100000000, _counter[0]
    )
    rmtree(base)
    os.mkdir(base)
    return base


def rmtree(path):
    try:
        entries = os.listdir(path)
    except OSError:
        try:
            os.remove(path)
        except OSError:
            pass
        return
    for name in entries:
        rmtree(path + "/" + name)
    os.rmdir(path)


class SeqRand:
    """A deterministic rand() for tests: cycles through the given fractions."""

    def __init__(self, values):
        self.values = values
        self.i = 0

    def __call__(self):
        v = self.values[self.i % len(self.values)]
        self.i += 1
        return v


class LinkRig:
    """Link + outbox + desired state on a manual clock, wired as edge/connected.py does.

    With no client_class the link talks to a new FakeBroker (`self.broker`); tests on CPython
    pass the paho-backed client (sim/board_mqtt/paho_umqtt.py) and a real broker address.
    """

    def __init__(self, root, rand=None, cfg=None, client_class=None):
        self.clock = ManualClock(epoch_s=1795000000)
        self.broker = None
        if client_class is None:
            self.broker = FakeBroker()
            FakeClient.broker = self.broker
            client_class = FakeClient
        self.root = root
        self.outbox = Outbox(root + "/outbox", seg_records=16, max_segments=16)
        self.link = Link(
            LinkConfig(cfg or CFG),
            self.clock,
            self.outbox,
            self.birth,
            client_class=client_class,
            rand=rand or SeqRand([0.5]),
        )
        self.applied = []
        self.versions = persist.load(root + "/versions.json", {p.TARGETS: 0, p.CONFIG: 0})
        self.desired = Desired(self.clock, self.versions.get, self.apply, self.link.send_ack)
        self.link.on(p.TARGETS, lambda payload: self.desired.handle(p.TARGETS, payload))
        self.link.on(p.CONFIG, lambda payload: self.desired.handle(p.CONFIG, payload))
        self.seq = 0

    def birth(self):
        return {
            "ts_s": self.clock.time_s(),
            "fw": "0.1.0",
            "board": "esp32-devkit",
            "boot_reason": "power_on",
            "targets_version": self.versions[p.TARGETS],
            "config_version": self.versions[p.CONFIG],
        }

    def apply(self, kind, msg):
        """A stand-in for edge.app's apply_*: check against the board, persist, put in force."""
        if kind == p.TARGETS:
            for valve in msg["targets"]:
                if valve not in ("entrance", "f6-east"):
                    return False, "no valve " + valve + " on this board"
        self.versions[kind] = msg["version"]
        persist.save(self.root + "/versions.json", self.versions)
        self.applied.append(msg["version"])
        return True, ""

    def record(self):
        payload = p.encode(
            p.TELE,
            {
                "ts_s": self.clock.time_s(),
                "seq": self.seq,
                "valves": [{"id": "entrance", "t_return_c": 40.0, "opening_cmd_pct": 50.0}],
            },
        )
        self.seq += 1
        return self.link.send_record(p.TELE, payload)

    def run(self, ms, step_ms=100):
        end = self.clock.now_ms + ms
        while self.clock.now_ms < end:
            self.link.poll()
            self.clock.advance(step_ms)
