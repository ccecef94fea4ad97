"""A host killed (SIGKILL) while boards publish, then restarted, loses no acknowledged record.

"Acknowledged" is the broker's PUBACK to the board: from then on the broker owns the
message, and the host's persistent session (MQTT 5, clean_start off, session expiry) keeps
it queued while the host is down; the host acks to the broker only after its commit, so a
message in flight when the host died is delivered again and deduplicated.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from host.storage import open_storage
from shared import protocol as p
from tests.host.helpers import new_site, tele_bytes, wait_until
from tests.mqtt_client import TestClient

N_RECORDS_PER_MSG = 3  # entrance valve + 2 households


def _config(tmp: Path, broker, site: str, db: Path) -> Path:
    path = tmp / "host.toml"
    path.write_text(
        f"""
[broker]
host = "{broker.host}"
port = {broker.port}
client_id = "host-{site}"
keepalive_s = 5

[database]
url = "sqlite:///{db}"

[service]
sites = ["{site}"]
accept_unknown_units = true
tick_s = 0.2
batch_max = 20  # small commits: the backlog waits in memory
"""
    )
    return path


def _start(cfg: Path, log: Path) -> subprocess.Popen:
    root = Path(__file__).resolve().parents[2]
    with open(log, "ab") as log_file:  # the child keeps its copy
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "host",
                "--log-level",
                "WARNING",
                "serve",
                "--config",
                str(cfg),
            ],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            env={**os.environ, "PYTHONPATH": str(root)},
        )


def test_host_killed_and_restarted_loses_no_acknowledged_record(mosquitto, tmp_path):
    site = new_site()
    db = tmp_path / "host.db"
    cfg = _config(tmp_path, mosquitto, site, db)
    log = tmp_path / "serve.log"
    topic = p.topic(site, "b1", p.TELE)
    board = TestClient(mosquitto.host, mosquitto.port)

    def seqs() -> set[int]:
        """The telemetry sequence numbers stored so far (read while the host writes)."""
        if not db.exists():
            return set()
        try:
            with sqlite3.connect(db) as conn:
                months = [m for (m,) in conn.execute("SELECT name FROM partitions")]
                return {
                    s for m in months for (s,) in conn.execute(f"SELECT seq FROM tele_msg_{m}")
                }
        except sqlite3.OperationalError:  # the host is still creating its schema
            return set()

    host = _start(cfg, log)
    try:
        # Ready: the session exists once a first record is stored.
        def first_stored() -> bool:
            board.publish(topic, tele_bytes(0))
            return 0 in seqs()

        wait_until(first_stored, 20, "the host's first record")
        # Down: the broker queues what the board publishes for the host's session.
        host.send_signal(signal.SIGKILL)
        host.wait()
        n = 10000
        for seq in range(1, n + 1):
            board.publish(topic, tele_bytes(seq, int(time.time())))  # waits for PUBACK
        # Up, flooded by the backlog: killed twice while it works through it.
        for k in (1, 2):
            host = _start(cfg, log)
            wait_until(lambda: len(seqs()) > 2000 * k, 30, "some records stored")  # noqa: B023
            host.send_signal(signal.SIGKILL)
            host.wait()
            assert len(seqs()) < n + 1, "too fast to test: raise n"
        host = _start(cfg, log)
        wait_until(lambda: len(seqs()) == n + 1, 60, f"all {n + 1} records")
        time.sleep(0.5)
        store = open_storage(f"sqlite:///{db}")
        assert [s for s, _ in store.message_seqs(site, "b1")] == list(range(n + 1))
        assert store.record_count() == (n + 1) * N_RECORDS_PER_MSG
        store.close()
    finally:
        host.send_signal(signal.SIGTERM)
        try:
            assert host.wait(20) == 0, log.read_text()[-2000:]
        finally:
            if host.poll() is None:
                host.kill()
            board.close()
