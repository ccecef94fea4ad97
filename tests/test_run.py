"""`evenheat` CLI and the main job `evenheat run` (what `make run` starts), as a real process:
its own Mosquitto, a station's virtual boards (simulated hardware, real board
program and link), the host service balancing them and the REST API, on a fast clock."""

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from sim.mosquitto import check_port_free
from tests.brokers import free_port

EVENHEAT = str(Path(sys.executable).parent / "evenheat")


def test_help_lists_the_run_command():
    proc = subprocess.run([EVENHEAT, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "run" in proc.stdout and "serve" in proc.stdout


def test_no_command_prints_help_and_fails():
    proc = subprocess.run([EVENHEAT], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "usage: evenheat" in proc.stdout


def wait_for_log(path: Path, pattern: str, timeout_s: float = 60) -> re.Match:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = re.search(pattern, path.read_text())
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} never appeared in the log:\n{path.read_text()[-3000:]}")


def test_the_demo_balances_a_station_and_the_api_shows_it(tmp_path):
    """`evenheat run` as a process, on the compact scenario (the typical estate at test size;
    `make run` shows the typical one)."""
    mqtt_port, api_port = free_port(), free_port()
    work = tmp_path / "demo"
    log_path = tmp_path / "run.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                EVENHEAT,
                "run",
                "--scenario",
                "compact",
                "--port",
                str(mqtt_port),
                "--api-port",
                str(api_port),
                "--days",
                "0.125",
                "--speedup",
                "3000",
                "--workdir",
                str(work),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_log(log_path, r"day 1 00:00 \| returns")
        password = (work / "admin-password").read_text().strip()
        auth = ("admin", password)
        api = f"http://127.0.0.1:{api_port}/api/v1"
        # The host balances every 30 simulated minutes: wait for the second run's targets.
        wait_for_log(log_path, r"day 1 01:00 .*targets issued [1-9]", timeout_s=120)
        summary = httpx.get(f"{api}/stations/ST/summary", auth=auth, timeout=10).json()
        assert summary["entrances"] == 21 and summary["reporting"] == 21
        assert summary["last_run"] is not None
        assert httpx.get(f"{api}/stations/ST/summary", timeout=10).status_code == 401
        wait_for_log(log_path, r"the host and the API stay up", timeout_s=180)
        decisions = httpx.get(f"{api}/stations/ST/decisions", auth=auth, timeout=10).json()
        assert decisions and {"reason", "inputs", "new_target_c"} <= set(decisions[0])
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    log = log_path.read_text()
    assert "Traceback" not in log, log[-3000:]
    hours = re.findall(r"within \+-([\d.]+) K .*targets issued (\d+), applied (\d+)", log)
    assert len(hours) == 4  # 00:00 to 03:00
    spreads = [float(s) for s, _, _ in hours]
    issued, applied = int(hours[-1][1]), int(hours[-1][2])
    # Targets reached the boards and came back acknowledged; the spread shrank.
    assert issued >= 21 and applied >= 0.9 * issued
    assert spreads[-1] < spreads[0] - 1.0, spreads
    for port in (mqtt_port, api_port):  # nothing listens any more
        check_port_free("127.0.0.1", port)


def test_run_refuses_a_port_in_use_with_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = subprocess.run(
            [
                EVENHEAT,
                "run",
                "--scenario",
                "compact",
                "--port",
                str(port),
                "--api-port",
                str(free_port()),
                "--workdir",
                str(tmp_path / "demo"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr
