"""A real Mosquitto broker for tests, started on a free loopback port.

Never a mock: the tests speak MQTT to the same broker the estates run, started by the same
code as `evenheat run` starts its own (sim/mosquitto.py). A missing binary fails the run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sim.mosquitto import Mosquitto, free_port, mosquitto_binary, wait_for_port

__all__ = ["Mosquitto", "free_port", "mosquitto_binary", "start_mosquitto", "wait_for_port"]


def start_mosquitto(persistence: bool = False) -> Mosquitto:
    workdir = Path(tempfile.mkdtemp(prefix="evenheat-mosquitto-"))
    return Mosquitto("127.0.0.1", free_port(), workdir, persistence).start()
