"""Board code (edge/, shared/) compiles with mpy-cross, type-checks against the ESP32 stubs and
uses numpy only as ulab's subset. Each check also proves, on a planted fault, that it can fail."""

from pathlib import Path

import pytest

from tests.boardcheck import ROOT, board_files, compile_mpy, mypy_board, ulab_violations

FILES = board_files()


def test_board_code_exists():
    assert Path("shared/protocol.py") in FILES


@pytest.mark.parametrize("path", FILES, ids=str)
def test_compiles_with_mpy_cross(path):
    proc = compile_mpy(path)
    assert proc.returncode == 0, proc.stderr


def test_mpy_cross_refuses_syntax_micropython_lacks(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("match 3:\n    case 3:\n        pass\n")
    assert compile_mpy(bad).returncode != 0


def test_board_code_type_checks_against_esp32_stubs():
    errors, output = mypy_board(FILES)
    assert not errors, "\n".join(errors)
    assert "Traceback" not in output, output


def test_type_check_catches_calls_the_board_does_not_have():
    probe = ROOT / "edge" / "_typecheck_probe.py"
    probe.write_text(
        "import machine\n"
        "import dataclasses\n"
        "def run():\n"
        "    machine.Pin(4, machine.Pin.OUT).value(1)\n"
        "    machine.Pin.toggle_all()\n"
    )
    try:
        errors, output = mypy_board([probe.relative_to(ROOT)])
    finally:
        probe.unlink()
    text = "\n".join(errors)
    assert "toggle_all" in text, output
    assert "dataclasses" in text, output
    assert len(errors) == 2, text


@pytest.mark.parametrize("path", FILES, ids=str)
def test_board_code_uses_only_ulab_numpy(path):
    assert ulab_violations(path) == []


def test_ulab_check_catches_numpy_outside_the_subset():
    source = (
        "from edge.xnp import np\n"
        "import numpy\n"
        "a = np.zeros(3)\n"
        "b = np.clip(a, 0, 1)\n"
        "c = np.abs(a)\n"
        "d = np.einsum('i->', a)\n"
    )
    problems = ulab_violations(Path("edge/probe.py"), source)
    assert len(problems) == 3, problems
    assert any("np.abs" in p for p in problems)
    assert any("np.einsum" in p for p in problems)
    assert any("import numpy" in p for p in problems)
