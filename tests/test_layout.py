"""The architecture as the folder tree states it: the host never imports the simulator, the
test peers or the benchmarks, and `evenheat serve` loads no simulator module."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE_THE_PRODUCT = ("sim", "tests", "bench")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_host_module_imports_the_simulator_the_tests_or_the_benchmarks():
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in imported_modules(path) if name.split(".")[0] in OUTSIDE_THE_PRODUCT
        )
        for path in (ROOT / "host").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_import_check_sees_an_import_inside_a_function(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from sim.runner import run\n    import bench.ingest\n")
    assert imported_modules(module) == {"sim.runner", "bench.ingest"}


def test_evenheat_serve_loads_no_simulator_module():
    probe = (
        "import sys\n"
        "from host.cli.main import _command_in, build_parser\n"
        "build_parser(_command_in(['serve', '--config', 'x.toml']))\n"
        "import host.server, host.api\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sim', 'tests', 'bench')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
