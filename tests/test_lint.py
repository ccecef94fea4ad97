"""The gates on the whole tree: ruff's lint and its formatter (config in pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

RUFF = str(Path(sys.executable).parent / "ruff")


def test_ruff_is_clean():
    proc = subprocess.run([RUFF, "check", "."], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format_leaves_every_file_as_it_is():
    proc = subprocess.run([RUFF, "format", "--check", "."], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
