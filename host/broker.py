"""An embedded MQTT broker (amqtt) for demos and single-machine installs.

Production estates run a real broker (Mosquitto, EMQX) with per-board credentials and ACLs;
this one exists so `make run` needs nothing installed system-wide.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from amqtt.broker import Broker

log = logging.getLogger(__name__)


class BrokerStartError(RuntimeError):
    """The embedded broker could not listen (port taken, bad address)."""


def _check_port_free(host: str, port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise BrokerStartError(
                f"cannot listen on {host}:{port}: {exc.strerror}. Is another broker running? "
                "Choose another port with --port."
            ) from exc


class EmbeddedBroker:
    """amqtt listening on host:port; anonymous access (loopback only by default)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883):
        self.host = host
        self.port = port
        self._broker: Broker | None = None

    async def start(self) -> None:
        _check_port_free(self.host, self.port)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        self._broker = Broker(config)
        await self._broker.start()
        log.info("embedded MQTT broker listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._broker is not None:
            await asyncio.wait_for(self._broker.shutdown(), timeout=10)
            self._broker = None
            log.info("embedded MQTT broker stopped")
