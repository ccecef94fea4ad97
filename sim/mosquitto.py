"""The broker `evenheat run` starts for itself: a Mosquitto on a loopback port.

Production estates run their own broker (Mosquitto, EMQX) with per-board credentials and ACLs
(docs/operator-guide.md). For the demo and single-machine installs `evenheat run` starts
Debian's Mosquitto (`make run` installs it) with a generated configuration: anonymous access
on loopback only, persistence in the job's folder. The tests start theirs the same way.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


class BrokerStartError(RuntimeError):
    """The broker could not start (binary missing, port taken, exited at once)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_port_free(host: str, port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise BrokerStartError(
                f"cannot listen on {host}:{port}: {exc.strerror}. Is another broker running? "
                "Choose another port with --port."
            ) from exc


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if not found:
        raise BrokerStartError(
            "mosquitto is not installed: `make run` installs it (apt-get install mosquitto)"
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
    raise BrokerStartError(f"nothing listens on {host}:{port} after {timeout_s} s")


@dataclass
class Mosquitto:
    """A Mosquitto of our own; `restart()` keeps its port (and, if persistent, its store)."""

    host: str
    port: int
    workdir: Path
    persistence: bool = False
    process: subprocess.Popen | None = None

    def start(self) -> Mosquitto:
        check_port_free(self.host, self.port)
        conf = self.workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            # Without it a PUBACK can wait out the peer's delayed ACK (Nagle): 40 ms per
            # QoS 1 publish that follows a delivery to the same client.
            "set_tcp_nodelay true",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            "autosave_interval 1",
            "max_queued_messages 100000",
            "log_dest stderr",
            "log_type error",
        ]
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf.write_text("\n".join(lines) + "\n")
        with open(self.workdir / "mosquitto.log", "ab") as log_file:  # the child keeps its copy
            self.process = subprocess.Popen(
                [mosquitto_binary(), "-c", str(conf)],
                stdout=subprocess.DEVNULL,
                stderr=log_file,
            )
        try:
            wait_for_port(self.host, self.port)
        except BrokerStartError:
            self.stop()
            log = (self.workdir / "mosquitto.log").read_text(errors="replace")[-500:]
            raise BrokerStartError(f"mosquitto did not start: {log}") from None
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
