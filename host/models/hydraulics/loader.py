"""Read a network file (JSON, docs/network-format.md) into a validated :class:`Network`.

The loader never stops at the first problem: it walks the whole document, collects every
problem with its location (``pipes[3] (id "S12").to``) and raises one
:class:`~host.models.hydraulics.errors.NetworkFileError` listing them all. Checks: types and
required fields, unknown fields, duplicate ids, dangling pipes, non-positive length,
diameter or S, negative roughness, pump curves that do not fall, valves out of range,
entrances unreachable from the station, households under unknown entrances, measurements
at unknown places.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order

from host.models.hydraulics.errors import NetworkFileError, Problem
from host.models.hydraulics.network import (
    Entrance,
    Household,
    Measurement,
    MeasurementKind,
    Network,
    Node,
    Pipe,
    Pump,
    Side,
    Station,
)
from host.models.hydraulics.valves import Characteristic, Valve

FORMAT_NAME = "evenheat-network"
FORMAT_VERSION = 1
_MAX_SPEED_RATIO = 1.5
_T_RANGE_C = (0.0, 150.0)

_TOP_KEYS = {
    "format",
    "version",
    "name",
    "station",
    "nodes",
    "pipes",
    "entrances",
    "households",
    "measurements",
    "meta",
}
_STATION_KEYS = {
    "id",
    "supply_node",
    "return_node",
    "pump",
    "supply_temp_c",
    "return_temp_c",
    "return_pressure_kpa",
}
_PUMP_KEYS = {"curve", "speed_ratio"}
_NODE_KEYS = {"id", "elevation_m"}
_PIPE_KEYS = {
    "id",
    "side",
    "from",
    "to",
    "s_m_per_m3h2",
    "length_m",
    "diameter_mm",
    "roughness_mm",
}
_VALVE_KEYS = {"characteristic", "kvs_m3h", "opening", "rangeability"}
_ENTRANCE_KEYS = {
    "id",
    "building",
    "supply_node",
    "return_node",
    "valve",
    "internal_s_m_per_m3h2",
    "design_flow_m3h",
    "floors",
}
_HOUSEHOLD_KEYS = {"id", "entrance", "s_m_per_m3h2", "valve", "floor", "design_flow_m3h"}
_MEASUREMENT_KEYS = {"kind", "at"}


class _Reader:
    """Typed field access that records problems instead of raising."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, loc: str, msg: str) -> None:
        self.problems.append(Problem(loc, msg))

    def obj(self, value: Any, loc: str, keys: set[str]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.add(loc, f"expected an object, got {type(value).__name__}")
            return None
        for k in sorted(set(value) - keys):
            self.add(f"{loc}.{k}", "unknown field")
        return value

    def items(self, doc: Mapping[str, Any], key: str, required: bool) -> list[Any]:
        value = doc.get(key)
        if value is None:
            if required:
                self.add(key, "missing (a list is required)")
            return []
        if not isinstance(value, list):
            self.add(key, f"expected a list, got {type(value).__name__}")
            return []
        return value

    def text(self, d: Mapping[str, Any], key: str, loc: str) -> str | None:
        value = d.get(key)
        if value is None:
            self.add(f"{loc}.{key}", "missing")
            return None
        if not isinstance(value, str) or not value:
            self.add(f"{loc}.{key}", f"expected a non-empty string, got {value!r}")
            return None
        return value

    def number(
        self,
        d: Mapping[str, Any],
        key: str,
        loc: str,
        *,
        default: float | None = None,
        required: bool = True,
        low: float | None = None,
        low_open: bool = False,
        high: float | None = None,
    ) -> float | None:
        value = d.get(key)
        where = f"{loc}.{key}"
        if value is None:
            if required and default is None:
                self.add(where, "missing")
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.add(where, f"expected a number, got {value!r}")
            return None
        x = float(value)
        if not math.isfinite(x):
            self.add(where, f"must be finite, got {value!r}")
            return None
        if low is not None and (x <= low if low_open else x < low):
            rel = ">" if low_open else ">="
            self.add(where, f"must be {rel} {low:g}, got {x:g}")
            return None
        if high is not None and x > high:
            self.add(where, f"must be <= {high:g}, got {x:g}")
            return None
        return x


def _each(
    r: _Reader, doc: Mapping[str, Any], key: str, keys: set[str], required: bool = False
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(location, object) of every item of the list ``key`` that is an object."""
    for i, raw in enumerate(r.items(doc, key, required)):
        loc = _label(key, i, raw)
        d = r.obj(raw, loc, keys)
        if d is not None:
            yield loc, d


def _label(kind: str, i: int, d: Any) -> str:
    if isinstance(d, dict) and isinstance(d.get("id"), str):
        return f'{kind}[{i}] (id "{d["id"]}")'
    return f"{kind}[{i}]"


def _valve(r: _Reader, value: Any, loc: str) -> Valve | None:
    d = r.obj(value, loc, _VALVE_KEYS)
    if d is None:
        return None
    ch_raw = d.get("characteristic", Characteristic.EQUAL_PERCENTAGE.value)
    try:
        ch = Characteristic(ch_raw)
    except ValueError:
        choices = ", ".join(c.value for c in Characteristic)
        r.add(f"{loc}.characteristic", f"unknown characteristic {ch_raw!r} (one of {choices})")
        ch = None
    kvs = r.number(d, "kvs_m3h", loc, low=0.0, low_open=True)
    opening = r.number(d, "opening", loc, default=1.0, low=0.0, high=1.0)
    rng = r.number(d, "rangeability", loc, default=30.0, low=1.0, low_open=True)
    if ch is None or kvs is None or opening is None or rng is None:
        return None
    return Valve(kvs_m3h=kvs, opening=opening, characteristic=ch, rangeability=rng)


def _pump(r: _Reader, value: Any, loc: str) -> Pump | None:
    d = r.obj(value, loc, _PUMP_KEYS)
    if d is None:
        return None
    speed = r.number(d, "speed_ratio", loc, default=1.0, low=0.0, high=_MAX_SPEED_RATIO)
    curve = d.get("curve")
    if not isinstance(curve, list) or not curve:
        r.add(f"{loc}.curve", "expected a non-empty list of {flow_m3h, head_m} points")
        return None
    flows: list[float] = []
    heads: list[float] = []
    ok = True
    for i, pt in enumerate(curve):
        ploc = f"{loc}.curve[{i}]"
        p = r.obj(pt, ploc, {"flow_m3h", "head_m"})
        if p is None:
            ok = False
            continue
        q = r.number(p, "flow_m3h", ploc, low=0.0)
        h = r.number(p, "head_m", ploc, low=0.0)
        if q is None or h is None:
            ok = False
            continue
        flows.append(q)
        heads.append(h)
    if not ok:
        return None
    if len(flows) == 1 and (flows[0] <= 0.0 or heads[0] <= 0.0):
        r.add(f"{loc}.curve", "a single-point curve needs flow > 0 and head > 0")
        return None
    for i in range(1, len(flows)):
        if flows[i] <= flows[i - 1]:
            r.add(f"{loc}.curve[{i}].flow_m3h", "flows must increase along the curve")
            return None
        if heads[i] >= heads[i - 1]:
            r.add(
                f"{loc}.curve[{i}].head_m",
                f"the pump curve does not fall: head {heads[i]:g} m at {flows[i]:g} m3/h is not "
                f"below {heads[i - 1]:g} m at {flows[i - 1]:g} m3/h",
            )
            return None
    pump = Pump(tuple(flows), tuple(heads), speed if speed is not None else 1.0)
    a, b, c = pump.coefficients
    q_max = max(flows)
    if b > 0.0 or b + 2.0 * c * q_max >= 0.0 or a <= 0.0:
        r.add(
            f"{loc}.curve",
            f"the fitted curve h = {a:.4g} + {b:.4g}·G + {c:.4g}·G² does not fall over "
            f"0..{q_max:g} m3/h (a pump curve must fall from shut-off to run-out)",
        )
        return None
    return pump if speed is not None else None


def _station(r: _Reader, value: Any) -> Station | None:
    loc = "station"
    d = r.obj(value, loc, _STATION_KEYS)
    if d is None:
        return None
    sid = r.text(d, "id", loc)
    sup = r.text(d, "supply_node", loc)
    ret = r.text(d, "return_node", loc)
    ts = r.number(d, "supply_temp_c", loc, default=55.0, low=_T_RANGE_C[0], high=_T_RANGE_C[1])
    tr = r.number(d, "return_temp_c", loc, default=40.0, low=_T_RANGE_C[0], high=_T_RANGE_C[1])
    p = r.number(d, "return_pressure_kpa", loc, default=200.0, low=0.0)
    if "pump" not in d:
        r.add(f"{loc}.pump", "missing: the loop needs a circulation pump")
        pump = None
    else:
        pump = _pump(r, d["pump"], f"{loc}.pump")
    if None in (sid, sup, ret, ts, tr, p) or pump is None:
        return None
    assert sid and sup and ret and ts is not None and tr is not None and p is not None
    return Station(sid, sup, ret, pump, ts, tr, p)


def _nodes(r: _Reader, doc: Mapping[str, Any]) -> list[tuple[str, Node]]:
    out: list[tuple[str, Node]] = []
    for loc, d in _each(r, doc, "nodes", _NODE_KEYS, required=True):
        nid = r.text(d, "id", loc)
        z = r.number(d, "elevation_m", loc, default=0.0)
        if nid is not None and z is not None:
            out.append((loc, Node(nid, z)))
    return out


def _pipes(r: _Reader, doc: Mapping[str, Any]) -> list[tuple[str, Pipe]]:
    out: list[tuple[str, Pipe]] = []
    for loc, d in _each(r, doc, "pipes", _PIPE_KEYS, required=True):
        pid = r.text(d, "id", loc)
        a = r.text(d, "from", loc)
        b = r.text(d, "to", loc)
        try:
            side = Side(str(d.get("side")))
        except ValueError:
            r.add(f"{loc}.side", f"must be 'supply' or 'return', got {d.get('side')!r}")
            side = None
        has_s = "s_m_per_m3h2" in d
        geo = [k for k in ("length_m", "diameter_mm", "roughness_mm") if k in d]
        s = length = diam = rough = None
        bad = False
        if has_s and geo:
            r.add(
                loc,
                f"give either s_m_per_m3h2 or length/diameter/roughness, not both "
                f"(also has {', '.join(geo)})",
            )
            bad = True
        elif has_s:
            s = r.number(d, "s_m_per_m3h2", loc, low=0.0, low_open=True)
            bad = s is None
        else:
            length = r.number(d, "length_m", loc, low=0.0, low_open=True)
            diam = r.number(d, "diameter_mm", loc, low=0.0, low_open=True)
            rough = r.number(d, "roughness_mm", loc, low=0.0)
            bad = None in (length, diam, rough)
        if pid is None or a is None or b is None or side is None or bad:
            continue
        if a == b:
            r.add(loc, f"from and to are the same node {a!r}")
            continue
        out.append((loc, Pipe(pid, side, a, b, s, length, diam, rough)))
    return out


def _entrances(r: _Reader, doc: Mapping[str, Any]) -> list[tuple[str, Entrance]]:
    out: list[tuple[str, Entrance]] = []
    for loc, d in _each(r, doc, "entrances", _ENTRANCE_KEYS):
        eid = r.text(d, "id", loc)
        bld = r.text(d, "building", loc)
        sup = r.text(d, "supply_node", loc)
        ret = r.text(d, "return_node", loc)
        valve = _valve(r, d.get("valve"), f"{loc}.valve")
        s = r.number(d, "internal_s_m_per_m3h2", loc, low=0.0, low_open=True)
        g = r.number(d, "design_flow_m3h", loc, required=False, low=0.0, low_open=True)
        floors = r.number(d, "floors", loc, required=False, low=1.0)
        if None in (eid, bld, sup, ret, valve, s):
            continue
        assert eid and bld and sup and ret and valve is not None and s is not None
        out.append(
            (
                loc,
                Entrance(
                    eid, bld, sup, ret, valve, s, g, int(floors) if floors is not None else None
                ),
            )
        )
    return out


def _households(r: _Reader, doc: Mapping[str, Any]) -> list[tuple[str, Household]]:
    out: list[tuple[str, Household]] = []
    for loc, d in _each(r, doc, "households", _HOUSEHOLD_KEYS):
        hid = r.text(d, "id", loc)
        ent = r.text(d, "entrance", loc)
        s = r.number(d, "s_m_per_m3h2", loc, low=0.0, low_open=True)
        valve = _valve(r, d["valve"], f"{loc}.valve") if d.get("valve") is not None else None
        bad_valve = d.get("valve") is not None and valve is None
        floor = r.number(d, "floor", loc, required=False)
        g = r.number(d, "design_flow_m3h", loc, required=False, low=0.0, low_open=True)
        if hid is None or ent is None or s is None or bad_valve:
            continue
        out.append(
            (loc, Household(hid, ent, s, valve, int(floor) if floor is not None else None, g))
        )
    return out


def _measurements(r: _Reader, doc: Mapping[str, Any]) -> list[tuple[str, Measurement]]:
    out: list[tuple[str, Measurement]] = []
    for loc, d in _each(r, doc, "measurements", _MEASUREMENT_KEYS):
        try:
            kind = MeasurementKind(str(d.get("kind")))
        except ValueError:
            kinds = ", ".join(k.value for k in MeasurementKind)
            r.add(f"{loc}.kind", f"unknown kind {d.get('kind')!r} (one of {kinds})")
            continue
        at = r.text(d, "at", loc)
        if at is not None:
            out.append((loc, Measurement(kind, at)))
    return out


def _raw_ids(doc: Mapping[str, Any], key: str) -> list[tuple[str, str]]:
    """(location, id) of every item with a string id, valid or not."""
    items = doc.get(key)
    if not isinstance(items, list):
        return []
    return [
        (_label(key, i, d), d["id"])
        for i, d in enumerate(items)
        if isinstance(d, dict) and isinstance(d.get("id"), str)
    ]


def _check_duplicates(r: _Reader, kind: str, ids: list[tuple[str, str]]) -> None:
    seen: dict[str, str] = {}
    for loc, i in ids:
        if i in seen:
            r.add(loc, f"duplicate {kind} id {i!r} (first at {seen[i]})")
        else:
            seen[i] = loc


def _reachable(n_nodes: int, edges: list[tuple[int, int]], root: int) -> np.ndarray:
    """Boolean mask of nodes connected to ``root`` (undirected)."""
    mask = np.zeros(n_nodes, dtype=bool)
    if not edges:
        mask[root] = True
        return mask
    a = np.array(edges, dtype=np.int64)
    g = coo_matrix((np.ones(len(a)), (a[:, 0], a[:, 1])), shape=(n_nodes, n_nodes)).tocsr()
    order = breadth_first_order(g, root, directed=False, return_predecessors=False)
    mask[order] = True
    return mask


def _raw_refs(
    doc: Mapping[str, Any], key: str, fields: tuple[str, ...]
) -> list[tuple[str, dict[str, str]]]:
    """(location, {field: value}) of every item, for the string-valued ``fields`` it has."""
    items = doc.get(key)
    if not isinstance(items, list):
        return []
    return [
        (_label(key, i, d), {f: d[f] for f in fields if isinstance(d.get(f), str)})
        for i, d in enumerate(items)
        if isinstance(d, dict)
    ]


def _cross_check(r: _Reader, doc: Mapping[str, Any]) -> None:
    """References between items, checked on the declared ids (valid items or not).

    Using what the file declares, rather than only the items that parsed cleanly, keeps one
    bad field from causing a cascade of follow-on "unknown id" problems.
    """
    node_index = {nid: i for i, (_, nid) in enumerate(_raw_ids(doc, "nodes"))}
    entrance_ids = {eid for _, eid in _raw_ids(doc, "entrances")}
    pipes = _raw_refs(doc, "pipes", ("from", "to"))
    for loc, ref in pipes:
        for end, nid in ref.items():
            if nid not in node_index:
                r.add(f"{loc}.{end}", f"dangling pipe: unknown node {nid!r}")
    raw_station = doc.get("station")
    station: dict[str, Any] = raw_station if isinstance(raw_station, dict) else {}
    ends = {
        k: station[k] for k in ("supply_node", "return_node") if isinstance(station.get(k), str)
    }
    for key, nid in ends.items():
        if nid not in node_index:
            r.add(f"station.{key}", f"unknown node {nid!r}")
    entrances = _raw_refs(doc, "entrances", ("supply_node", "return_node"))
    for loc, ref in entrances:
        for key, nid in ref.items():
            if nid not in node_index:
                r.add(f"{loc}.{key}", f"unknown node {nid!r}")
    for loc, ref in _raw_refs(doc, "households", ("entrance",)):
        if "entrance" in ref and ref["entrance"] not in entrance_ids:
            r.add(f"{loc}.entrance", f"household under an unknown entrance {ref['entrance']!r}")
    for i, m in enumerate(doc.get("measurements") or []):
        if not isinstance(m, dict) or not isinstance(m.get("at"), str):
            continue
        is_node = m.get("kind") == MeasurementKind.PRESSURE.value
        if m["at"] not in (node_index if is_node else entrance_ids):
            r.add(
                f"measurements[{i}].at",
                f"{m.get('kind')} measurement at an unknown "
                f"{'node' if is_node else 'entrance'} {m['at']!r}",
            )
    if set(ends) != {"supply_node", "return_node"} or not set(ends.values()) <= set(node_index):
        return
    edges = [
        (node_index[ref["from"]], node_index[ref["to"]])
        for _, ref in pipes
        if ref.get("from") in node_index and ref.get("to") in node_index
    ]
    from_supply = _reachable(len(node_index), edges, node_index[ends["supply_node"]])
    from_return = _reachable(len(node_index), edges, node_index[ends["return_node"]])
    for loc, ref in entrances:
        sup, ret = ref.get("supply_node"), ref.get("return_node")
        if sup in node_index and not from_supply[node_index[sup]]:
            r.add(
                f"{loc}.supply_node",
                f"entrance unreachable from the station: no pipe path from "
                f"{ends['supply_node']!r} to {sup!r}",
            )
        if ret in node_index and not from_return[node_index[ret]]:
            r.add(
                f"{loc}.return_node",
                f"entrance unreachable from the station: no pipe path from "
                f"{ret!r} back to {ends['return_node']!r}",
            )


def network_from_dict(doc: Any, source: str = "network") -> Network:
    """Validate a parsed network document and build the model.

    Raises
    ------
    NetworkFileError
        With every problem found, each with its location.
    """
    r = _Reader()
    top = r.obj(doc, "$", _TOP_KEYS)
    if top is None:
        raise NetworkFileError(r.problems, source)
    if top.get("format", FORMAT_NAME) != FORMAT_NAME:
        r.add("format", f"expected {FORMAT_NAME!r}, got {top.get('format')!r}")
    if top.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        r.add("version", f"unsupported version {top.get('version')!r} (this reader: 1)")
    name = top.get("name", source)
    station = _station(r, top.get("station")) if "station" in top else None
    if "station" not in top:
        r.add("station", "missing")
    located_nodes = _nodes(r, top)
    nodes = [n for _, n in located_nodes]
    pipes = _pipes(r, top)
    entrances = _entrances(r, top)
    households = _households(r, top)
    measurements = _measurements(r, top)
    _check_duplicates(r, "node", _raw_ids(top, "nodes"))
    _check_duplicates(
        r,
        "link",
        _raw_ids(top, "pipes") + _raw_ids(top, "entrances") + _raw_ids(top, "households"),
    )
    _cross_check(r, top)
    if r.problems:
        raise NetworkFileError(r.problems, source)
    assert station is not None
    meta = top.get("meta") if isinstance(top.get("meta"), dict) else {}
    return Network(
        name=str(name),
        station=station,
        nodes=tuple(nodes),
        pipes=tuple(p for _, p in pipes),
        entrances=tuple(e for _, e in entrances),
        households=tuple(h for _, h in households),
        measurements=tuple(m for _, m in measurements),
        meta=meta or {},
    )


def load_network(path: str | Path) -> Network:
    """Read and validate a network file. Raises NetworkFileError listing every problem."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise NetworkFileError(
            [Problem(f"line {exc.lineno} column {exc.colno}", f"invalid JSON: {exc.msg}")],
            str(p),
        ) from exc
    return network_from_dict(doc, str(p))
