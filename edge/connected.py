"""The connected board: the balancing program (edge.app) joined to the host over MQTT.

`ConnectedBoard(app, unit, ...)` composes, without changing the app:
- the MQTT link (edge.link) with its offline outbox on flash (edge.outbox);
- desired targets and config (edge.desired), applied through the app's `apply_targets` /
  `apply_config`, which validate, persist atomically and put them in force;
- one record sequence for telemetry and events, persisted in blocks so it never goes
  backwards, not even across a reboot (docs/protocol.md "Sequence numbers");
- NTP time (edge.timesync) and the `time_synced` flag in every record.

Household valves and room panels on RS-485 are not handled here: they are devices of the
board definition (`rs485` section), the valves members of the app's PI loops with their
targets, telemetry entries and fail-safe behaviour like the valves the board drives itself,
the panels entries of the record's `rooms` (edge.app, edge.household_valves). A collection
period may hand over two records (the app splits rooms off when valves and rooms do not fit
in one payload); each is numbered here, from the one sequence, when it encodes.

It hooks into the app's seams: `on_record` (every telemetry record), the event ring, the
scheduler (a `link` task every `link_period_ms`), `summary()` for the birth.

On a board edge.main builds the program and calls `attach()`, which reads unit.json and
secrets.json (written by flash.sh) and brings the network up; `commission()` is the
installer's self-test.
"""

import edge
from edge import config as cfgmod
from edge import persist
from edge.desired import Desired
from edge.link import Link, LinkConfig
from edge.outbox import Outbox
from edge.timesync import TimeSync
from shared import protocol

FW_VERSION = "{}.{}.{}".format(edge.VERSION[0], edge.VERSION[1], edge.VERSION[2])


class SeqCounter:
    """The board's record sequence: `take()` the next number.

    The file holds the first number not yet handed out by an earlier boot's block; a block of
    `block` numbers is reserved with one flash write, so a reboot skips the rest of the block
    (a gap the host tolerates) and never reuses a number.
    """

    def __init__(self, path, block=64):
        self.path = path
        self.block = block
        self.next = persist.load(path, {"next": 0}).get("next", 0)
        self._reserved = self.next

    def take(self):
        if self.next >= self._reserved:
            self._reserved = self.next + self.block
            persist.save(self.path, {"next": self._reserved})
        n = self.next
        self.next += 1
        return n


class ConnectedBoard:
    """The app plus its link to the host (see the module docstring).

    app:          edge.app.App
    unit:         unit configuration (unit.json): site, unit, broker, link options
    secrets:      {"user", "password"} for the broker, or None
    client_class: umqtt.simple.MQTTClient (default) or a stand-in with its API
    rand:         rand() -> [0, 1) for the back-off jitter
    ntp:          (ntp_time_s, set_time_s) functions, or None for no time sync
    network_ready: network_ready() -> bool (the board's Wi-Fi/Ethernet is up), or None
    """

    def __init__(
        self,
        app,
        unit,
        secrets=None,
        client_class=None,
        rand=None,
        ntp=None,
        ssl_context=None,
        link_period_ms=200,
        outbox_kw=None,
        network_ready=None,
    ):
        self.app = app
        clock = app.clock
        self.clock = clock
        root = app.hw.fs_root
        cfg = dict(unit)
        if secrets:
            cfg["user"] = secrets.get("user") or None
            cfg["password"] = secrets.get("password") or None
        self.link_cfg = LinkConfig(cfg)
        if ssl_context is None and self.link_cfg.tls:
            from edge.link import ssl_context as make_ssl_context

            ssl_context = make_ssl_context(self.link_cfg)
        self.outbox = Outbox(root + "outbox", events=app.events, **(outbox_kw or {}))
        self.seq = SeqCounter(root + "seq.json")
        self._network_ready = network_ready
        self.link = Link(
            self.link_cfg,
            clock,
            self.outbox,
            self.birth,
            client_class,
            rand,
            ssl_context,
            self._may_connect,
        )
        self.desired = Desired(clock, self.version_of, self.apply, self.link.send_ack)
        self.link.on(protocol.TARGETS, self._on_targets)
        self.link.on(protocol.CONFIG, self._on_config)
        self.link.on(protocol.STATION, self._on_station)
        self.timesync = TimeSync(clock, ntp[0], ntp[1]) if ntp else None
        self.refused_records = 0
        self._was_connected = False
        app.on_record = self._on_record
        app.scheduler.add("link", link_period_ms, self._link_task)

    def _may_connect(self):
        """Connect only with the network up and no valve moving (a connect can block)."""
        if self._network_ready is not None and not self._network_ready():
            return False
        for p in self.app.positioners:
            if p.busy():
                return False
        return True

    # -------------------------------------------------------------------- desired state ----

    def _on_targets(self, payload):
        self.desired.handle(protocol.TARGETS, payload)

    def _on_config(self, payload):
        self.desired.handle(protocol.CONFIG, payload)

    def _on_station(self, payload):
        self.desired.handle(protocol.STATION, payload)

    def version_of(self, kind):
        if kind == protocol.TARGETS:
            return self.app.targets_version
        if kind == protocol.STATION:
            return self.app.station.command_version if self.app.station else 0
        return self.app.config.get("version", 0)

    def apply(self, kind, msg):
        """Put desired state in force through the app; (applied, reason)."""
        app = self.app
        if kind == protocol.CONFIG:
            # A config message is complete: fields left out go back to the board's defaults.
            changes = cfgmod.defaults(app.board)
            for name in cfgmod.CONFIG_FIELDS:
                if name in msg:
                    changes[name] = msg[name]
            changes["version"] = msg["version"]
            ok, reason = app.apply_config(changes)
        elif kind == protocol.STATION:
            ok, reason = app.apply_station(msg)
        else:
            for vid in msg["targets"]:
                if vid not in app.valve_ids:
                    return False, "targets.{}: no valve with this id on this board".format(vid)
            ok, reason = app.apply_targets(msg["targets"], msg["version"])
        if ok:
            self.link.send_state()  # the retained state shows the new versions
        return ok, reason

    # ------------------------------------------------------------------------ records ----

    def birth(self):
        state = self.app.summary()
        state["fw"] = FW_VERSION
        state["ts_s"] = self.clock.time_s()
        return state

    def _send(self, kind, rec):
        rec["seq"] = self.seq.next  # numbered only once it encodes: no gap for the host
        try:
            payload = protocol.encode(kind, rec)
        except protocol.ProtocolError as exc:
            self.refused_records += 1
            if kind == protocol.TELE:
                self.app.events.emit("record_invalid", "warning", None, None, str(exc))
            return
        self.seq.take()
        dropped = self.link.send_record(kind, payload)
        if dropped:
            self.app.events.emit(
                "outbox_overflow",
                "warning",
                None,
                dropped,
                "offline outbox full: oldest records dropped",
            )

    def _on_record(self, rec):
        rec["time_synced"] = self.timesync.synced if self.timesync is not None else False
        health = rec.setdefault("health", {})
        health["outbox_depth"] = self.outbox.depth()
        health["dropped_total"] = self.outbox.dropped_total
        self._send(protocol.TELE, rec)

    def _link_task(self):
        self.link.poll()
        if self.link.connected and not self._was_connected and self.link.errors:
            # Back after an outage: say why it went (the last few link errors).
            self.app.events.emit(
                "link_restored",
                "info",
                None,
                self.link.stats["attempts"],
                "; ".join(self.link.errors[-3:]),
            )
        self._was_connected = self.link.connected
        ts = self.timesync
        if ts is not None and (self.link.connected or not ts.synced) and ts.due():
            ev = ts.poll()
            if ev is not None:
                self.app.events.emit(ev["event"], ev["severity"], None, ev["value"], ev["detail"])
        for ev in self.app.events.drain(8):
            self._send(protocol.EVENT, ev)

    def close(self):
        self.link.close()


# ------------------------------------------------------------------------ on a board ----


def _load_json(path):
    import json

    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def network_up(unit, secrets, board):
    """Start Wi-Fi or Ethernet without waiting: the link retries until the network is there."""
    import network

    if unit.get("network") == "ethernet":
        from machine import Pin

        # Olimex ESP32-POE wiring unless the board definition says otherwise (the ESP32
        # port's LAN takes these keywords; the generic stubs do not list them).
        eth = board.get("ethernet", {})
        lan_kw = {
            "mdc": Pin(eth.get("mdc", 23)),
            "mdio": Pin(eth.get("mdio", 18)),
            "power": Pin(eth.get("power", 12)),
            "phy_type": network.PHY_LAN8720,
            "phy_addr": eth.get("phy_addr", 0),
        }
        lan = network.LAN(**lan_kw)
        lan.active(True)
        return lan
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    wlan.connect(unit["wifi_ssid"], (secrets or {}).get("wifi_password", ""))
    return wlan


def attach(app, board, root=""):
    """Join the host: the ConnectedBoard for `app`, or None when there is no unit.json (then
    the board balances alone on its local configuration). Brings the network up without
    waiting; the link retries until it is there."""
    from edge import timesync

    unit = _load_json(root + "unit.json")
    if unit is None:
        print("no unit.json: balancing alone (run flash.sh to join a site)")
        return None
    secrets = _load_json(root + "secrets.json") or {}
    net = network_up(unit, secrets, board)
    if unit.get("rs485"):
        # Before board definitions carried the bus, unit.json did: no longer read.
        app.events.emit(
            "config_ignored",
            "warning",
            None,
            None,
            "unit.json rs485: declare the bus in the board definition",
        )
    ntp = timesync.board_sources(unit.get("ntp_host"))
    return ConnectedBoard(app, unit, secrets, ntp=ntp, network_ready=net.isconnected)


def self_test(app, board_link, run_ms, stroke_timeout_ms=300000, link_timeout_ms=30000):
    """The commissioning checks on a built board; `run_ms(ms)` lets the board run that long.

    Returns the report lines (each `SELFTEST <what> ... ok|FAIL ...`, last `SELFTEST RESULT`).
    """
    lines = []
    failures = 0
    run_ms(15000)  # a few sensor samples
    app.stroke_test()
    waited = 0
    while waited < stroke_timeout_ms and any(p.busy() for p in app.positioners):
        run_ms(1000)
        waited += 1000
    report = app.commissioning()
    for name, s in sorted(report["sensors"].items()):
        unit = "kPa" if name.startswith("p_") else "degC"
        ok = s["ok"]
        failures += 0 if ok else 1
        lines.append(
            "SELFTEST sensor {} {} {} {}".format(
                name,
                "-" if s["value"] is None else "{:.1f}".format(s["value"]),
                unit,
                "ok" if ok else "FAIL " + str(s["fault"]),
            )
        )
    for vid, v in sorted(report["valves"].items()):
        test = v.get("stroke_test") or {}
        ok = bool(test.get("ok"))
        failures += 0 if ok else 1
        lines.append(
            "SELFTEST valve {} stroke {} {}".format(
                vid, "ok" if ok else "FAIL", _stroke_text(test)
            )
        )
    waited = 0
    while waited < link_timeout_ms and not board_link.link.connected:
        run_ms(500)
        waited += 500
    ok = board_link.link.connected
    failures += 0 if ok else 1
    lines.append(
        "SELFTEST broker {}:{} {}".format(
            board_link.link_cfg.host,
            board_link.link_cfg.port,
            "ok" if ok else "FAIL " + "; ".join(board_link.link.errors[-2:]),
        )
    )
    ts = board_link.timesync
    ok = ts is not None and ts.synced
    failures += 0 if ok else 1
    lines.append(
        "SELFTEST clock {}".format(
            "ok drift {} s".format(ts.last_drift_s) if ok else "FAIL not synchronised"
        )
    )
    lines.append(
        "SELFTEST RESULT {} {} failure(s)".format("PASS" if not failures else "FAIL", failures)
    )
    return lines


def _stroke_text(test):
    parts = []
    for key in ("angle_closed_deg", "angle_open_deg", "stroke_open_s", "stroke_close_s"):
        if key in test:
            parts.append("{} {:.1f}".format(key, test[key]))
    if test.get("reason"):
        parts.append("({})".format(test["reason"]))
    return " ".join(parts)


def commission(root=""):
    """flash.sh's self-test on the board: prints the report, one line per check."""
    from edge import main as entry
    from edge.clock import BoardClock
    from edge.events import EventLog

    clock = BoardClock()
    app, board_link = entry.build(root + "board.json", root, clock, EventLog(clock))
    if board_link is None:
        raise ValueError("unit.json is missing or unreadable: run flash.sh")

    def run_ms(ms):
        clock = app.clock
        end = clock.ticks_add(clock.ticks_ms(), ms)
        while clock.ticks_diff(end, clock.ticks_ms()) > 0:
            clock.sleep_ms(min(app.poll(), 50))

    for line in self_test(app, board_link, run_ms):
        print(line)
    board_link.close()
    app.hw.safe_state()
