"""Watches the broker and logs every board message that arrives, decoded and validated.

The first, smallest form of ingest: nothing is stored yet. Refused messages are counted per
unit and reason, so a misbehaving board is visible at once.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter

import paho.mqtt.client as mqtt

from shared import protocol as p

log = logging.getLogger(__name__)


def describe(kind: str, msg: dict) -> str:
    """One log line's worth of a decoded message."""
    if kind == p.TELE:
        temps = [v["t_return_c"] for v in msg["valves"] if v["t_return_c"] is not None]
        mean = f"{sum(temps) / len(temps):.1f} degC" if temps else "no valid probe"
        return f"seq={msg['seq']} valves={len(msg['valves'])} mean return {mean}"
    if kind == p.STATE:
        return f"{msg['status']} fw={msg.get('fw', '?')} boot={msg.get('boot_reason', '?')}"
    if kind == p.EVENT:
        return f"{msg['severity']} {msg['event']} {msg.get('detail', '')}".rstrip()
    if kind == p.ACK:
        return f"{msg['of']} v{msg['version']} {msg['result']} {msg.get('reason', '')}".rstrip()
    return ""


class Monitor:
    """Subscribes to every uplink topic of a site and logs arrivals."""

    def __init__(self, host: str, port: int, site: str = "+"):
        self.host, self.port, self.site = host, port, site
        self.accepted: Counter[str] = Counter()
        self.refused: Counter[tuple[str, str]] = Counter()  # (unit or topic, reason)
        self.connected = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id="evenheat-monitor-" + uuid.uuid4().hex[:8],
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)

    def _on_connect(self, client, _userdata, _flags, reason_code, _props) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        for pattern in p.host_subscriptions(self.site):
            client.subscribe(pattern, qos=1)
        self.connected.set()
        log.info("listening on %s:%d for %s", self.host, self.port, ", ".join(p.UPLINK))

    def _on_message(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        try:
            site, unit, kind = p.parse_topic(message.topic)
        except p.ProtocolError as exc:
            self.refused[(message.topic, exc.reason)] += 1
            log.warning("refused topic %s: %s", message.topic, exc)
            return
        if not message.payload and message.retain:
            return  # a cleared retained message
        try:
            msg = p.decode(kind, message.payload)
        except p.ProtocolError as exc:
            self.refused[(f"{site}/{unit}", exc.reason)] += 1
            log.warning("refused %s from %s/%s: %s", kind, site, unit, exc)
            return
        self.accepted[kind] += 1
        log.info("%s/%s %s %s", site, unit, kind, describe(kind, msg))

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        # Stop the network thread first: paho 2.2 logs a spurious error if its loop runs on
        # after disconnect() has dropped the socket.
        self.client.loop_stop()
        self.client.disconnect()
