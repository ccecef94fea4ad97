"""`evenheat` CLI and the main job `evenheat run` (what `make run` starts), as a real process:
an embedded amqtt broker that boards connect to, a log of what arrives, a clean Ctrl-C."""

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from shared import protocol as p
from tests.brokers import free_port, wait_for_port
from tests.mqtt_client import TestClient

EVENHEAT = str(Path(sys.executable).parent / "evenheat")
EXAMPLES = json.loads(Path("docs/protocol-examples.json").read_text())


def test_help_lists_the_run_command():
    proc = subprocess.run([EVENHEAT, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "run" in proc.stdout


def test_no_command_prints_help_and_fails():
    proc = subprocess.run([EVENHEAT], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "usage: evenheat" in proc.stdout


def wait_for_log(path: Path, text: str, timeout_s: float = 20) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        log = path.read_text()
        if text in log:
            return log
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in the log:\n{path.read_text()}")


def test_run_logs_board_messages_and_stops_cleanly_on_ctrl_c(tmp_path):
    port = free_port()
    log_path = tmp_path / "run.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [EVENHEAT, "run", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port("127.0.0.1", port)
        wait_for_log(log_path, "listening on")
        board = TestClient("127.0.0.1", port)
        board.publish(p.topic("demo", "b1-e1", p.TELE), p.encode(p.TELE, EXAMPLES["tele"]))
        board.publish(p.topic("demo", "b1-e1", p.TELE), b'{"v": 1, "seq": "x"}')
        board.publish(p.topic("demo", "b1-e1", p.EVENT), p.encode(p.EVENT, EXAMPLES["event"]))
        board.close()
        wait_for_log(log_path, "sensor_fault")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    log = log_path.read_text()
    assert "demo/b1-e1 tele seq=4711 valves=2" in log
    assert "refused tele from demo/b1-e1" in log
    assert "stopped: 2 messages accepted, 1 refused" in log
    assert "Traceback" not in log
    with socket.socket() as s:  # the port is released
        s.bind(("127.0.0.1", port))


def test_run_refuses_a_port_in_use_with_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = subprocess.run(
            [EVENHEAT, "run", "--port", str(port)], capture_output=True, text=True, timeout=60
        )
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr
