"""Measured hydraulic conditions from a CSV file: format, parsing and validation.

One row per condition, quantity and location (long format, what a historian exports)::

    condition,timestamp,quantity,id,value
    c1,2026-11-20T08:00:00+00:00,head_m,S0,42.10
    c1,2026-11-20T08:00:00+00:00,pressure_kpa,SB0E0,311.2
    c1,2026-11-20T08:00:00+00:00,flow_m3h,B0E0,3.42
    c1,2026-11-20T08:00:00+00:00,opening,B0E0,0.8

Quantities: ``head_m`` (piezometric head at a node, m), ``pressure_kpa`` (gauge pressure at a
node, converted to head with the node's elevation and the water density), ``flow_m3h``
(entrance flow, m³/h, never negative) and ``opening`` (entrance valve opening 0..1, optional).
Every row of one condition carries the same ISO-8601 timestamp.

Validation collects every problem with its line number and raises :class:`ConditionsError`
before anything is computed or written: unknown column, condition, quantity or id, a missing
or unparsable timestamp, a value that is not a finite number, a negative flow, an opening
outside 0..1, a duplicate row, and a node or entrance missing in some condition.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, overload

import numpy as np

from host.errors import ProblemsError
from host.models.estimation.graph import FloatArray

COLUMNS = ("condition", "timestamp", "quantity", "id", "value")
HEAD_QUANTITIES = ("head_m", "pressure_kpa")
FLOW_QUANTITY = "flow_m3h"
OPENING_QUANTITY = "opening"
QUANTITIES = (*HEAD_QUANTITIES, FLOW_QUANTITY, OPENING_QUANTITY)
#: Refuse files larger than this many rows (a historian dump, not a condition set).
MAX_ROWS = 2_000_000


@dataclass(frozen=True)
class RowProblem:
    """One problem: the 1-based line of the file (0: the file as a whole) and what is wrong."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class ConditionsError(ProblemsError, ValueError):
    """The conditions file has problems; ``problems`` lists all of them."""

    reason = "bad-conditions"

    def __init__(self, problems: Iterable[RowProblem], source: str = "conditions") -> None:
        super().__init__(problems, source)


@dataclass(frozen=True)
class Conditions:
    """K validated conditions.

    condition_ids, timestamps : tuple of str, shape (K,)
    head_m : dict node id → ndarray (K,), heads (pressures already converted)
    flow_m3h : dict entrance id → ndarray (K,)
    opening : dict entrance id → ndarray (K,) (only entrances given openings)
    """

    condition_ids: tuple[str, ...]
    timestamps: tuple[str, ...]
    head_m: dict[str, FloatArray]
    flow_m3h: dict[str, FloatArray]
    opening: dict[str, FloatArray] = field(default_factory=dict)

    @property
    def n_conditions(self) -> int:
        return len(self.condition_ids)

    def subset(self, index: Iterable[int]) -> Conditions:
        """The conditions at the given positions, in that order."""
        idx = np.asarray(list(index), dtype=np.intp)
        return Conditions(
            tuple(self.condition_ids[i] for i in idx),
            tuple(self.timestamps[i] for i in idx),
            {k: v[idx] for k, v in self.head_m.items()},
            {k: v[idx] for k, v in self.flow_m3h.items()},
            {k: v[idx] for k, v in self.opening.items()},
        )


@dataclass(frozen=True)
class Catalog:
    """What the network offers: ids the rows may name, and what must be present.

    head_to_m : node id → (elevation m, m per kPa) for pressure conversion.
    required_heads : node ids that must have a head in every condition.
    entrances : entrance ids (every one needs a flow in every condition).
    """

    nodes: dict[str, tuple[float, float]]
    entrances: Collection[str]
    required_heads: Collection[str] = ()

    @overload
    def head_from_pressure(self, node: str, pressure_kpa: float) -> float: ...
    @overload
    def head_from_pressure(self, node: str, pressure_kpa: FloatArray) -> FloatArray: ...
    def head_from_pressure(
        self, node: str, pressure_kpa: float | FloatArray
    ) -> float | FloatArray:
        """Piezometric head (m) at ``node`` from gauge pressure (kPa): elevation + p·m/kPa."""
        elev, m_per_kpa = self.nodes[node]
        return elev + pressure_kpa * m_per_kpa


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_conditions(text: str, catalog: Catalog, source: str = "conditions") -> Conditions:
    """Parse and validate CSV text; raise :class:`ConditionsError` listing every problem."""
    problems: list[RowProblem] = []
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ConditionsError([RowProblem(0, "the file is empty")], source) from None
    missing_cols = [c for c in COLUMNS if c not in header]
    if missing_cols:
        raise ConditionsError(
            [
                RowProblem(
                    1, f"missing column(s) {', '.join(missing_cols)}; need {','.join(COLUMNS)}"
                )
            ],
            source,
        )
    col = {c: header.index(c) for c in COLUMNS}
    order: list[str] = []
    stamps: dict[str, tuple[str, int]] = {}
    values: dict[tuple[str, str, str], tuple[float, int]] = {}
    for line, row in enumerate(reader, start=2):
        if line > MAX_ROWS + 1:
            problems.append(RowProblem(line, f"more than {MAX_ROWS} rows: select a period first"))
            break
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < len(header):
            problems.append(RowProblem(line, f"{len(row)} field(s), expected {len(header)}"))
            continue
        cond, stamp, qty, ident, raw = (row[col[c]].strip() for c in COLUMNS)
        bad = False
        if not cond:
            problems.append(RowProblem(line, "empty condition id"))
            bad = True
        if not stamp:
            problems.append(RowProblem(line, "missing timestamp"))
            bad = True
        elif _parse_time(stamp) is None:
            problems.append(RowProblem(line, f"timestamp {stamp!r} is not ISO-8601"))
            bad = True
        if qty not in QUANTITIES:
            problems.append(
                RowProblem(
                    line, f"unknown quantity {qty!r}; expected one of {', '.join(QUANTITIES)}"
                )
            )
            bad = True
        elif qty in HEAD_QUANTITIES and ident not in catalog.nodes:
            problems.append(RowProblem(line, f"unknown node {ident!r}"))
            bad = True
        elif qty in (FLOW_QUANTITY, OPENING_QUANTITY) and ident not in catalog.entrances:
            problems.append(RowProblem(line, f"unknown entrance {ident!r}"))
            bad = True
        try:
            value = float(raw)
        except ValueError:
            problems.append(RowProblem(line, f"value {raw!r} is not a number"))
            continue
        if not math.isfinite(value):
            problems.append(RowProblem(line, f"value {raw!r} is not finite"))
            continue
        if qty == FLOW_QUANTITY and value < 0:
            problems.append(
                RowProblem(line, f"negative flow {value} m³/h at entrance {ident!r} is impossible")
            )
            bad = True
        if qty == OPENING_QUANTITY and not 0.0 <= value <= 1.0:
            problems.append(RowProblem(line, f"opening {value} outside 0..1"))
            bad = True
        if bad:
            continue
        if cond not in stamps:
            stamps[cond] = (stamp, line)
            order.append(cond)
        elif _parse_time(stamps[cond][0]) != _parse_time(stamp):
            problems.append(
                RowProblem(
                    line,
                    f"condition {cond!r} has timestamp {stamp}, but line {stamps[cond][1]} "
                    f"says {stamps[cond][0]}",
                )
            )
            continue
        key_q = "head_m" if qty in HEAD_QUANTITIES else qty
        key = (cond, key_q, ident)
        if key in values:
            problems.append(
                RowProblem(
                    line,
                    f"duplicate {key_q} for {ident!r} in condition {cond!r} "
                    f"(first at line {values[key][1]})",
                )
            )
            continue
        if qty == "pressure_kpa":
            value = float(catalog.head_from_pressure(ident, value))
        values[key] = (value, line)
    if not order and not problems:
        problems.append(RowProblem(0, "no condition rows"))
    # completeness: the same heads in every condition, a flow for every entrance
    heads_seen = sorted({k[2] for k in values if k[1] == "head_m"} | set(catalog.required_heads))
    openings_seen = sorted({k[2] for k in values if k[1] == OPENING_QUANTITY})
    for cond in order:
        line = stamps[cond][1]
        for node in heads_seen:
            if (cond, "head_m", node) not in values:
                problems.append(RowProblem(line, f"condition {cond!r}: no head for node {node!r}"))
        for ent in sorted(catalog.entrances):
            if (cond, FLOW_QUANTITY, ent) not in values:
                problems.append(
                    RowProblem(line, f"condition {cond!r}: no flow_m3h for entrance {ent!r}")
                )
        for ent in openings_seen:
            if (cond, OPENING_QUANTITY, ent) not in values:
                problems.append(
                    RowProblem(line, f"condition {cond!r}: no opening for entrance {ent!r}")
                )
    if problems:
        raise ConditionsError(problems, source)

    def column(kind: str, ident: str) -> FloatArray:
        return np.array([values[(c, kind, ident)][0] for c in order])

    return Conditions(
        condition_ids=tuple(order),
        timestamps=tuple(stamps[c][0] for c in order),
        head_m={n: column("head_m", n) for n in heads_seen},
        flow_m3h={e: column(FLOW_QUANTITY, e) for e in sorted(catalog.entrances)},
        opening={e: column(OPENING_QUANTITY, e) for e in openings_seen},
    )


def load_conditions(path: str | Path, catalog: Catalog) -> Conditions:
    """Read and validate a conditions CSV file (see the module docstring)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConditionsError([RowProblem(0, f"cannot read {p}: {exc}")], str(p)) from None
    return parse_conditions(text, catalog, source=str(p))


def write_conditions(path_or_buffer: str | Path | IO[str], conditions: Conditions) -> None:
    """Write conditions in the CSV format above (heads as head_m)."""
    if isinstance(path_or_buffer, str | Path):
        with open(path_or_buffer, "w", newline="", encoding="utf-8") as fh:
            _write_rows(fh, conditions)
    else:
        _write_rows(path_or_buffer, conditions)


def _write_rows(fh: IO[str], conditions: Conditions) -> None:
    w = csv.writer(fh)
    w.writerow(COLUMNS)
    for k, (cid, ts) in enumerate(
        zip(conditions.condition_ids, conditions.timestamps, strict=True)
    ):
        for node, arr in conditions.head_m.items():
            w.writerow([cid, ts, "head_m", node, repr(float(arr[k]))])
        for ent, arr in conditions.flow_m3h.items():
            w.writerow([cid, ts, FLOW_QUANTITY, ent, repr(float(arr[k]))])
        for ent, arr in conditions.opening.items():
            w.writerow([cid, ts, OPENING_QUANTITY, ent, repr(float(arr[k]))])
