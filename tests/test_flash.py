"""flash.sh builds a board bundle of .mpy files that real MicroPython imports and runs."""

import os
import subprocess
from pathlib import Path

from tests.boardcheck import ROOT, board_files
from tests.micropython import micropython_binary


def test_build_bundle_runs_on_micropython(tmp_path):
    proc = subprocess.run(
        ["bash", "flash.sh", "build"], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lib = ROOT / "build" / "board" / "lib"
    for path in board_files():
        if path.name != "main.py":
            assert (lib / path.with_suffix(".mpy")).exists(), path
    assert not list(lib.rglob("*.py")), "sources must not be shipped, only .mpy"
    script = tmp_path / "probe.py"
    script.write_text(
        "from shared import protocol as p\n"
        "print(p.decode(p.STATE, b'{\"v\":1,\"status\":\"online\"}')['status'])\n"
        "print(p.__file__)\n"
    )
    # Only the bundle on the path: no source tree to fall back on.
    env = dict(os.environ, MICROPYPATH=f".frozen:{lib}")
    run = subprocess.run(
        [micropython_binary(), str(script)], capture_output=True, text=True, env=env,
        cwd=tmp_path, timeout=60,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.split()
    assert lines[0] == "online"
    assert lines[1].endswith(".mpy")


def test_flash_without_arguments_prints_usage_and_fails():
    proc = subprocess.run(["bash", "flash.sh"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert "flash.sh build" in proc.stdout
    assert Path(ROOT / "flash.sh").stat().st_mode & 0o111
