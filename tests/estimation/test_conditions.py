"""The conditions CSV: parsing, pressure conversion and every validation error with its line."""

from __future__ import annotations

import io

import numpy as np
import pytest

from host.models.estimation.conditions import (
    Catalog,
    Conditions,
    ConditionsError,
    parse_conditions,
    write_conditions,
)

CAT = Catalog(
    nodes={"S0": (0.0, 0.1), "S1": (2.0, 0.1), "R0": (0.0, 0.1)},
    entrances=["E1"],
    required_heads=["S0"],
)
HEADER = "condition,timestamp,quantity,id,value\n"
T1 = "2026-11-20T08:00:00+00:00"
T2 = "2026-11-20T09:00:00Z"


def _good() -> str:
    return HEADER + (
        f"c1,{T1},head_m,S0,40\n"
        f"c1,{T1},pressure_kpa,S1,300\n"
        f"c1,{T1},flow_m3h,E1,2.5\n"
        f"c2,{T2},head_m,S0,41\n"
        f"c2,{T2},pressure_kpa,S1,310\n"
        f"c2,{T2},flow_m3h,E1,2.0\n"
    )


def test_parse_and_convert_pressure() -> None:
    c = parse_conditions(_good(), CAT)
    assert c.condition_ids == ("c1", "c2")
    np.testing.assert_allclose(c.head_m["S1"], [2.0 + 30.0, 2.0 + 31.0])
    np.testing.assert_allclose(c.flow_m3h["E1"], [2.5, 2.0])


def test_roundtrip_through_writer() -> None:
    c = parse_conditions(_good(), CAT)
    buf = io.StringIO()
    write_conditions(buf, c)
    c2 = parse_conditions(buf.getvalue(), CAT)
    for k in c.head_m:
        np.testing.assert_array_equal(c.head_m[k], c2.head_m[k])


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        (f"c3,{T1},head_m,NOPE,1", "line 8: unknown node 'NOPE'"),
        (f"c3,{T1},flow_m3h,E9,1", "line 8: unknown entrance 'E9'"),
        ("c3,,head_m,S0,1", "line 8: missing timestamp"),
        ("c3,yesterday,head_m,S0,1", "line 8: timestamp 'yesterday' is not ISO-8601"),
        (f"c3,{T1},head_m,S0,nan", "line 8: value 'nan' is not finite"),
        (f"c3,{T1},head_m,S0,abc", "line 8: value 'abc' is not a number"),
        (f"c3,{T1},flow_m3h,E1,-1", "line 8: negative flow -1.0 m³/h at entrance 'E1'"),
        (f"c3,{T1},opening,E1,1.5", "line 8: opening 1.5 outside 0..1"),
        (f"c3,{T1},velocity,E1,1", "line 8: unknown quantity 'velocity'"),
        (f"c1,{T1},head_m,S0,40", "line 8: duplicate head_m for 'S0' in condition 'c1'"),
        (f"c1,{T2},head_m,R0,40", "line 8: condition 'c1' has timestamp"),
    ],
)
def test_bad_rows_named_with_line(row: str, needle: str) -> None:
    with pytest.raises(ConditionsError) as exc:
        parse_conditions(_good() + row + "\n", CAT)
    assert any(needle in str(p) for p in exc.value.problems), exc.value.problems


def test_missing_quantity_in_one_condition() -> None:
    text = _good().replace(f"c2,{T2},flow_m3h,E1,2.0\n", "")
    with pytest.raises(ConditionsError) as exc:
        parse_conditions(text, CAT)
    assert "condition 'c2': no flow_m3h for entrance 'E1'" in str(exc.value)


def test_required_head_missing_everywhere() -> None:
    text = HEADER + f"c1,{T1},flow_m3h,E1,2.5\n"
    with pytest.raises(ConditionsError) as exc:
        parse_conditions(text, CAT)
    assert "no head for node 'S0'" in str(exc.value)


def test_all_problems_reported_at_once() -> None:
    text = _good() + f"c3,{T1},head_m,NOPE,1\nc3,,head_m,S0,1\nc3,{T1},flow_m3h,E1,-2\n"
    with pytest.raises(ConditionsError) as exc:
        parse_conditions(text, CAT)
    lines = {p.line for p in exc.value.problems}
    assert {8, 9, 10} <= lines


def test_missing_columns_and_empty_file() -> None:
    with pytest.raises(ConditionsError, match="missing column"):
        parse_conditions("condition,timestamp,id,value\n", CAT)
    with pytest.raises(ConditionsError, match="empty"):
        parse_conditions("", CAT)


def test_subset_keeps_order() -> None:
    c: Conditions = parse_conditions(_good(), CAT)
    s = c.subset([1])
    assert s.condition_ids == ("c2",) and s.flow_m3h["E1"][0] == 2.0
