"""The ulab stand-in (edge/ulab_standin.py) agrees with numpy on everything edge/ uses.

On boards ulab runs; on the MicroPython unix port the stand-in runs instead, so the
dual-runtime edge tests are only as good as this agreement. numpy is the reference here."""

import math
import random

import numpy
import pytest

from edge import ulab_standin as sn
from edge.xnp import BACKEND, FLOAT, np

CASES = [
    [0.0],
    [1.5, -2.0, 3.25],
    [40.0, 41.5, 39.0, 38.0, 42.0, -0.0],
    [random.Random(k).uniform(-100, 100) for k in range(33)],
]


def _same(a, b):
    a = list(a)
    b = list(b)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        if isinstance(y, float) and math.isnan(y):
            assert math.isnan(x)
        else:
            assert x == y, (a, b)


def test_cpython_uses_numpy():
    assert BACKEND == "numpy" and FLOAT is numpy.float64


@pytest.mark.parametrize("values", CASES)
def test_elementwise_arithmetic_and_comparisons(values):
    a, r = sn.array(values), numpy.array(values)
    b_vals = [v * 0.5 + 1.0 for v in values]
    b, rb = sn.array(b_vals), numpy.array(b_vals)
    _same(a + b, r + rb)
    _same(a - b, r - rb)
    _same(a * b, r * rb)
    with numpy.errstate(divide="ignore", invalid="ignore"):
        _same(a / b, r / rb)
    _same(2.5 - a, 2.5 - r)
    _same(3.0 * a, 3.0 * r)
    _same(1.0 + a, 1.0 + r)
    _same(-a, -r)
    for op in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"):
        _same(getattr(a, op)(b), getattr(r, op)(rb))
        _same(getattr(a, op)(1.5), getattr(r, op)(1.5))


@pytest.mark.parametrize("values", CASES)
def test_module_functions(values):
    a, r = sn.array(values), numpy.array(values)
    _same(sn.clip(a, -1.0, 2.0), numpy.clip(r, -1.0, 2.0))
    lo = sn.full(len(values), -0.5)
    _same(sn.clip(a, lo, 5.0), numpy.clip(r, numpy.full(len(values), -0.5), 5.0))
    _same(sn.minimum(a, 0.25), numpy.minimum(r, 0.25))
    _same(sn.maximum(a, 0.25), numpy.maximum(r, 0.25))
    _same(sn.where(a > 0.5, a, -1.0), numpy.where(r > 0.5, r, -1.0))
    _same(sn.where(a > 0.5, 1.0, 0.0), numpy.where(r > 0.5, 1.0, 0.0))
    assert abs(sn.sum(a) - numpy.sum(r)) < 1e-9
    assert abs(sn.mean(a) - numpy.mean(r)) < 1e-9
    assert sn.max(a) == numpy.max(r) and sn.min(a) == numpy.min(r)
    assert sn.all(a > -1000.0) and not sn.any(a > 1000.0)
    _same(sn.zeros(3), numpy.zeros(3))
    _same(sn.ones(3), numpy.ones(3))


def test_nan_and_infinity():
    vals = [1.0, float("nan"), float("inf"), -float("inf")]
    _same(sn.isfinite(sn.array(vals)), numpy.isfinite(numpy.array(vals)))
    with numpy.errstate(divide="ignore", invalid="ignore"):
        _same(sn.array([1.0, -1.0, 0.0]) / 0.0, numpy.array([1.0, -1.0, 0.0]) / 0.0)


def test_indexing_and_slice_assignment():
    a = sn.zeros(4)
    a[1] = 2.5
    a[2:4] = sn.array([7.0, 8.0])
    assert a.tolist() == [0.0, 2.5, 7.0, 8.0]
    assert (a > 1.0)[1] is True
    assert len(a) == 4 and list(a) == [0.0, 2.5, 7.0, 8.0]


def test_refuses_what_ulab_would_refuse():
    with pytest.raises(ValueError):
        sn.array([1.0, 2.0]) + sn.array([1.0, 2.0, 3.0])
    with pytest.raises(TypeError):
        sn.array([1.0]) + "x"


def test_the_shim_exposes_only_ulab_names_used_by_edge():
    # every np.<name> edge/ calls exists in the stand-in too
    import ast
    from pathlib import Path

    used = set()
    for path in (Path(__file__).resolve().parents[2] / "edge").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "np":
                used.add(node.attr)
    assert used, "edge/ uses no np.<name>?"
    missing = [name for name in used if not hasattr(sn, name)]
    assert not missing, missing
    assert hasattr(np, "where")
