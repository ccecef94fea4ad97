"""Hydraulic conditions from the host's store: telemetry history in, estimator conditions out.

The other source of conditions besides the CSV file (docs/estimation.md, "Conditions from the
host's store"). For one site and time range it reads, through the storage interface and the
export's reader (:func:`host.reports.export.read`), the telemetry of every point the estimator
needs:

- the flow of every entrance: ``flow_m3h`` of the entrance's unit (point ``entrance``, the heat
  meter);
- the pressure at every node with a pressure sensor in the network file: ``p_supply_kpa`` /
  ``p_return_kpa`` of the unit of the entrance whose supply / return node it is, and for the
  station's supply and return nodes those of the **station unit**, the board at the station's
  headers named in the network file's ``meta.registry.station_unit`` (registered by the
  registry import; it publishes ordinary ``tele`` with no valves and the header pressures in
  its ``entrance`` object). A sensor at any other node cannot be carried by telemetry: refused;
- the entrance valve's opening where reported (``opening_meas_pct``, else
  ``opening_cmd_pct``), informational like the CSV's ``opening``.

Which unit serves which entrance comes from the registry in the store (``entrances`` table),
not from the file. Boards sample at their own times, so every series is averaged into time
bins of ``bin_s`` (default: the collection period in force, see :func:`collection_period_s`),
and only bins in which every needed point has a value are kept. Pressures become heads with
the catalog's conversion (:meth:`Catalog.head_from_pressure`, as the CSV's ``pressure_kpa``).
The kept bins are history samples for :mod:`host.models.estimation.selection`: steady windows
(never across a gap) averaged into conditions, then the ones with distinct flow distributions.

Bad input raises :class:`HistoryError` (a :class:`ConditionsError`) listing every problem:
unknown site, an entrance not registered at the site, a sensor no unit carries, a needed point
never reported in the range, no data in the range, no complete bin, too few steady windows.
Nothing is written here.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from host.models.estimation.adapter import catalog
from host.models.estimation.conditions import Conditions, ConditionsError, RowProblem
from host.models.estimation.graph import FloatArray, IntArray
from host.models.estimation.selection import select_distinct, steady_conditions
from host.models.hydraulics.network import Network
from host.reports.export import ExportError, ExportRequest, read
from host.storage import Storage
from host.storage.base import ENTRANCE_POINT

#: The boards' default collection period (edge/config.py), when no desired config sets one.
DEFAULT_BIN_S = 60
#: Key of ``meta.registry`` naming the board that reports the station's header pressures.
STATION_UNIT_KEY = "station_unit"
FLOW = "flow_m3h"
P_SUPPLY = "p_supply_kpa"
P_RETURN = "p_return_kpa"
OPENINGS = ("opening_meas_pct", "opening_cmd_pct")  # measured first, else commanded
FIELDS = (FLOW, P_SUPPLY, P_RETURN, *OPENINGS)


class HistoryError(ConditionsError):
    """The store cannot give conditions for this request; ``problems`` lists why."""


@dataclass(frozen=True)
class Source:
    """One needed series: ``field`` of ``unit`` is the ``quantity`` at ``at`` (node/entrance)."""

    unit: str
    field: str
    quantity: str  # "head_m" or "flow_m3h"
    at: str
    what: str  # for messages: "node 'S0' (station supply)"

    def describe(self) -> str:
        return f"{self.what}: {self.field} of unit {self.unit}"


@dataclass(frozen=True)
class History:
    """Complete time bins of one site and range, as history samples.

    samples : one "condition" per complete bin, in time order (id and timestamp: bin start)
    segment : (K,) label of the gap-free stretch of bins each sample belongs to
    bin_s, n_bins : bin width and number of bins in the range
    """

    samples: Conditions
    segment: IntArray
    bin_s: int
    n_bins: int


def iso(ts_s: int) -> str:
    """UTC seconds as ISO-8601 with ``Z`` (the conditions' timestamp format)."""
    return datetime.fromtimestamp(ts_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _label(site: str, start_s: int, end_s: int) -> str:
    return f"site {site} {iso(start_s)}..{iso(end_s)}"


def _fail(problems: Iterable[str], source: str) -> HistoryError:
    return HistoryError([RowProblem(0, p) for p in problems], source)


def station_unit(network: Network) -> str | None:
    """The unit reporting the station's header pressures (``meta.registry.station_unit``)."""
    reg = network.meta.get("registry")
    unit = reg.get(STATION_UNIT_KEY) if isinstance(reg, dict) else None
    return str(unit) if unit else None


def sources(storage: Storage, network: Network, site: str, label: str) -> list[Source]:
    """The series the estimator needs at ``site``; :class:`HistoryError` naming what is
    unknown or uncarried (all problems at once)."""
    stations = storage.stations_at(site)
    if not stations and not any(s == site for _, s, _ in storage.units()):
        known = ", ".join(storage.station_sites()) or "none"
        raise _fail(
            [f"unknown site {site!r}: nothing is registered there (sites: {known})"], label
        )
    problems: list[str] = []
    registered = storage.entrance_units()
    unit_of: dict[str, str] = {}
    for e in network.entrances:
        where = registered.get(e.id)
        if where is None:
            problems.append(f"entrance {e.id!r} is not in the registry (import the network file)")
        elif where[0] != site:
            problems.append(f"entrance {e.id!r} is registered at site {where[0]!r}, not {site!r}")
        else:
            unit_of[e.id] = where[1]
    st_unit = station_unit(network)
    if st_unit is not None and storage.unit_id(site, st_unit) is None:
        problems.append(
            f"station unit {site}/{st_unit} (meta.registry.{STATION_UNIT_KEY}) is not registered"
        )
    out = [
        Source(unit_of[e.id], FLOW, FLOW, e.id, f"entrance {e.id!r}")
        for e in network.entrances
        if e.id in unit_of
    ]
    st = network.station
    for node in sorted(set(catalog(network).required_heads)):
        carriers: list[tuple[str | None, str, str]] = []
        if node == st.supply_node:
            carriers.append((st_unit, P_SUPPLY, "station supply"))
        if node == st.return_node:
            carriers.append((st_unit, P_RETURN, "station return"))
        for e in network.entrances:
            if node == e.supply_node:
                carriers.append((unit_of.get(e.id), P_SUPPLY, f"entrance {e.id} supply"))
            if node == e.return_node:
                carriers.append((unit_of.get(e.id), P_RETURN, f"entrance {e.id} return"))
        usable = [c for c in carriers if c[0] is not None]
        if usable:
            unit, field, what = usable[0]
            out.append(Source(str(unit), field, "head_m", node, f"node {node!r} ({what})"))
        elif any(what.startswith("station") for _, _, what in carriers):
            problems.append(
                f"node {node!r} ({carriers[0][2]}) has a pressure sensor in the network file, but "
                f"no station unit is named: set meta.registry.{STATION_UNIT_KEY} in the network "
                "file"
            )
        elif not carriers:
            problems.append(
                f"node {node!r} has a pressure sensor in the network file, but no board reports "
                "it (only entrance supply/return nodes and the station's headers can be)"
            )
        # else: its entrance is not registered at the site, reported above
    if problems:
        raise _fail(problems, label)
    return out


def collection_period_s(storage: Storage, site: str, units: Iterable[str]) -> int:
    """The longest ``collection_period_s`` of the units' newest desired config, else
    :data:`DEFAULT_BIN_S` (what the boards use when no config sets it)."""
    period = 0
    for unit in units:
        uid = storage.unit_id(site, unit)
        latest = storage.latest_desired(uid, "config") if uid is not None else None
        if latest is not None:
            period = max(period, int(json.loads(latest[1]).get("collection_period_s", 0)))
    return period or DEFAULT_BIN_S


def read_history(
    storage: Storage,
    network: Network,
    site: str,
    start_s: int,
    end_s: int,
    bin_s: int | None = None,
) -> History:
    """Read, bin and align the needed telemetry of ``site`` in [start_s, end_s] (UTC s)."""
    label = _label(site, start_s, end_s)
    if end_s <= start_s:
        raise _fail([f"the range is empty: from {iso(start_s)} is not before {iso(end_s)}"], label)
    srcs = sources(storage, network, site, label)
    ent_unit = {s.at: s.unit for s in srcs if s.quantity == FLOW}
    units = sorted({s.unit for s in srcs})
    bin_s = int(bin_s or collection_period_s(storage, site, units))
    if bin_s < 1:
        raise _fail([f"bin width {bin_s} s: must be at least 1 s"], label)
    try:
        tables = read(
            storage, ExportRequest(site, tuple(units), (ENTRANCE_POINT,), FIELDS, start_s, end_s)
        )
    except ExportError as exc:
        raise _fail([str(exc)], label) from None
    n_bins = (end_s - start_s) // bin_s + 1
    # (unit, field) -> (bins with a value, ascending; the mean of the readings in each)
    series: dict[tuple[str, str], tuple[IntArray, FloatArray]] = {}
    for table in tables:
        for name in FIELDS:
            pairs = [
                (ts, reading)
                for ts, point, v in table.rows
                if point == ENTRANCE_POINT
                and (reading := v.get(name)) is not None
                and not (name == FLOW and reading < 0)  # an entrance cannot push water back
            ]
            if not pairs:
                continue
            ts, val = np.array(pairs, dtype=float).T
            bins, inverse = np.unique((ts - start_s) // bin_s, return_inverse=True)
            means = np.bincount(inverse, weights=val) / np.bincount(inverse)
            series[(table.unit, name)] = (bins.astype(np.intp), means)
    if not series:
        raise _fail([f"no telemetry from units {', '.join(units)} in the range"], label)
    missing = [s.describe() for s in srcs if (s.unit, s.field) not in series]
    if missing:
        raise _fail([f"{m}: never reported in the range" for m in missing], label)
    complete = functools.reduce(np.intersect1d, (series[(s.unit, s.field)][0] for s in srcs))
    if complete.size == 0:
        counts = [series[(s.unit, s.field)][0].size for s in srcs]
        worst = np.argsort(counts, kind="stable")[:3]
        sparsest = "; ".join(f"{srcs[i].describe()} in {counts[i]}" for i in worst)
        raise _fail(
            [
                f"no time bin of {bin_s} s in which every needed point has a value "
                f"({n_bins} bins; sparsest: {sparsest}); widen --bin-s"
            ],
            label,
        )

    def at_complete(unit: str, name: str) -> FloatArray:
        """The series' means at the complete bins (NaN where it has none)."""
        out = np.full(complete.size, np.nan)
        if (unit, name) in series:
            bins, means = series[(unit, name)]
            got = np.isin(complete, bins)
            out[got] = means[np.searchsorted(bins, complete[got])]
        return out

    cat = catalog(network)
    heads = {
        s.at: cat.head_from_pressure(s.at, at_complete(s.unit, s.field))
        for s in srcs
        if s.quantity == "head_m"
    }
    openings: dict[str, FloatArray] = {}
    for ent, unit in ent_unit.items():
        measured, commanded = (at_complete(unit, name) for name in OPENINGS)
        pct = np.where(np.isfinite(measured), measured, commanded)
        if np.all(np.isfinite(pct)):
            openings[ent] = np.clip(pct / 100.0, 0.0, 1.0)
    stamps = tuple(iso(start_s + int(k) * bin_s) for k in complete)
    samples = Conditions(
        condition_ids=stamps,
        timestamps=stamps,
        head_m=dict(sorted(heads.items())),
        flow_m3h={e.id: at_complete(ent_unit[e.id], FLOW) for e in network.entrances},
        opening={e.id: openings[e.id] for e in network.entrances if e.id in openings},
    )
    segment = np.concatenate(([0], np.cumsum(np.diff(complete) != 1))).astype(np.intp)
    return History(samples, segment, bin_s, n_bins)


def conditions_from_store(
    storage: Storage,
    network: Network,
    site: str,
    start_s: int,
    end_s: int,
    *,
    bin_s: int | None = None,
    window: int = 3,
    max_conditions: int = 10,
    min_conditions: int = 1,
) -> Conditions:
    """Steady conditions with distinct flow distributions from the store's history."""
    hist = read_history(storage, network, site, start_s, end_s, bin_s)
    label = _label(site, start_s, end_s)
    steady = steady_conditions(hist.samples, window=window, segments=hist.segment)
    chosen = steady.subset(select_distinct(steady, max_conditions))
    if chosen.n_conditions < max(min_conditions, 1):
        n = hist.samples.n_conditions
        raise _fail(
            [
                f"{steady.n_conditions} steady window(s) of {window} bins of {hist.bin_s} s "
                f"({n} complete bin(s) of {hist.n_bins}, {int(hist.segment[-1]) + 1} "
                f"gap-free stretch(es)), {chosen.n_conditions} with distinct flow "
                f"distributions; at least {max(min_conditions, 1)} needed: choose a range with "
                "valves held still at several settings, or lower --window"
            ],
            label,
        )
    return chosen
