"""A real Mosquitto broker for tests, started on a free loopback port.

Never a mock: the tests speak MQTT to the same broker the estates run. The binary comes from
Debian's `mosquitto` package (`make test` installs it); a missing binary fails the run.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if not found:
        raise RuntimeError(
            "mosquitto is not installed: run `make test` (apt-get install mosquitto)"
        )
    return found


def wait_for_port(host: str, port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout_s} s")


@dataclass
class Mosquitto:
    """A running Mosquitto; `restart()` keeps its port (and, if persistent, the retained store)."""

    host: str
    port: int
    workdir: Path
    persistence: bool = False
    process: subprocess.Popen | None = None

    def start(self) -> Mosquitto:
        conf = self.workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            "autosave_interval 1",
            "max_queued_messages 100000",
            "log_dest stderr",
            "log_type error",
        ]
        conf.write_text("\n".join(lines) + "\n")
        self.process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "mosquitto.log", "ab"),  # noqa: SIM115
        )
        wait_for_port(self.host, self.port)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def start_mosquitto(persistence: bool = False) -> Mosquitto:
    workdir = Path(tempfile.mkdtemp(prefix="evenheat-mosquitto-"))
    return Mosquitto("127.0.0.1", free_port(), workdir, persistence).start()
