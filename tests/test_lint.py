"""ruff is clean on the whole tree (config in pyproject.toml)."""

import subprocess
import sys
from pathlib import Path


def test_ruff_is_clean():
    ruff = str(Path(sys.executable).parent / "ruff")
    proc = subprocess.run([ruff, "check", "."], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
