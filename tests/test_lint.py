"""The gates on the whole tree: ruff's lint and its formatter, and mypy on host/ and sim/
(config in pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

RUFF = str(Path(sys.executable).parent / "ruff")
ROOT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean():
    proc = subprocess.run([RUFF, "check", "."], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format_leaves_every_file_as_it_is():
    proc = subprocess.run([RUFF, "format", "--check", "."], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_is_clean():
    """[tool.mypy]: the files (host/, sim/), the strict packages, the untyped libraries."""
    proc = subprocess.run([sys.executable, "-m", "mypy"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
