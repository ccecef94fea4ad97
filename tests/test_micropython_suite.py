"""Every dual-runtime module in tests/mp runs again inside the real MicroPython unix port."""

import pytest

from tests.micropython import MP_TESTS, run_test_module

MODULES = sorted(p.stem for p in MP_TESTS.glob("test_*.py"))


def test_there_are_micropython_test_modules():
    assert MODULES, "tests/mp has no test_*.py module"


@pytest.mark.parametrize("module", MODULES)
def test_module_passes_on_micropython(module):
    result = run_test_module(module)
    assert not result.failed, f"failed on MicroPython: {result.failed}\n{result.output}"
    assert result.passed, f"no test ran on MicroPython\n{result.output}"
