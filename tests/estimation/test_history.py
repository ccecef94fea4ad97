"""Conditions from the host's store: telemetry solved by the hydraulics package at several
valve settings, published as board messages through the host's ingest into a real SQLite
store (and once PostgreSQL), read back, aligned, selected and estimated."""

from __future__ import annotations

import dataclasses
import io
import json
import time
from collections.abc import Collection, Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from host.assets.network_import import import_network
from host.cli.main import main as cli_main
from host.models.estimation.adapter import catalog, estimate_network
from host.models.estimation.conditions import Conditions, load_conditions
from host.models.estimation.history import (
    HistoryError,
    conditions_from_store,
    iso,
    read_history,
)
from host.models.estimation.selection import steady_conditions
from host.models.hydraulics.network import Measurement, MeasurementKind, Network
from host.models.hydraulics.results import solve_network
from host.models.hydraulics.writer import save_network
from host.service.mqtt_link import Delivery
from host.service.runtime import Service
from host.storage import Storage
from shared import protocol as p
from tests.estimation.hydraulic_data import TIGHT, lumped_network, station_and_entrances
from tests.host.helpers import make_config
from tests.postgres import PostgresCluster

SITE = "estate-h"
STATION_UNIT = "st-hdr"
T0 = 1_736_467_200  # 2025-01-10T00:00:00Z
BIN_S = 60
HOLD = 6  # bins each setting is held
RAMP = 3  # bins of moving valves between settings
N_SETTINGS = 5


def _unit(entrance: str) -> str:
    return entrance.lower()


def make_network(station_unit: str | None = STATION_UNIT) -> tuple[Network, np.ndarray]:
    """A branched generated network (lumped S known), pressure sensors at the station and at
    both sides of every entrance, and the registry's site and units in its meta."""
    net, s_true = lumped_network(30, 3, spread=0.2)
    sensed = sorted(station_and_entrances(net))
    meas = [Measurement(MeasurementKind.PRESSURE, n) for n in sensed]
    meas += [Measurement(MeasurementKind.FLOW, e.id) for e in net.entrances]
    reg: dict = {"site": SITE, "units": {e.id: _unit(e.id) for e in net.entrances}}
    if station_unit:
        reg["station_unit"] = station_unit
    net = dataclasses.replace(net, measurements=tuple(meas), meta={"registry": reg})
    return net, s_true


@dataclasses.dataclass
class Plan:
    """What the boards saw: per bin, the entrance openings and the pump speed."""

    openings: list[dict[str, float]]
    speed: list[float]
    label: list[str]  # "s<i>" (steady setting i), "p0" (setting 0 at another speed), "ramp"


def history_plan(net: Network, seed: int = 11, ramps_only: bool = False) -> Plan:
    """N_SETTINGS distinct settings held HOLD bins, RAMP bins of moving valves between them,
    and last setting 0 again with the pump slower (same distribution, smaller flows)."""
    rng = np.random.default_rng(seed)
    ents = [e.id for e in net.entrances]
    settings = [{e: float(rng.uniform(0.25, 1.0)) for e in ents} for _ in range(N_SETTINGS)]
    stops = [*((s, 1.0, f"s{i}") for i, s in enumerate(settings)), (settings[0], 0.8, "p0")]
    plan = Plan([], [], [])
    for i, (op, speed, label) in enumerate(stops):
        if i:
            prev, prev_speed, _ = stops[i - 1]
            for r in range(1, RAMP + 1):
                f = r / (RAMP + 1)
                plan.openings.append({e: (1 - f) * prev[e] + f * op[e] for e in ents})
                plan.speed.append((1 - f) * prev_speed + f * speed)
                plan.label.append("ramp")
        for _ in range(1 if ramps_only else HOLD):
            plan.openings.append(op)
            plan.speed.append(speed)
            plan.label.append(label)
    return plan


def _solve(net: Network, openings: dict[str, float], speed: float):
    pump = dataclasses.replace(net.station.pump, speed_ratio=speed)
    moved = dataclasses.replace(net, station=dataclasses.replace(net.station, pump=pump))
    return solve_network(moved.with_openings(openings), TIGHT)


def messages(
    net: Network,
    plan: Plan,
    skip: tuple[str, str] | None = None,
    station_off: Collection[int] = (),
) -> list[tuple[str, dict]]:
    """(unit, tele message) of every board for every bin of the plan. Boards sample at their
    own phase within the bin. `skip` (unit, entrance field) leaves one reading out;
    the station board is silent in the bins of `station_off`."""
    cat = catalog(net)
    node_i = {n.id: i for i, n in enumerate(net.nodes)}
    phase = {e.id: 5 + (7 * i) % 50 for i, e in enumerate(net.entrances)}
    st = net.station
    out: list[tuple[str, dict]] = []
    cache: dict[tuple, object] = {}
    for k, (op, speed) in enumerate(zip(plan.openings, plan.speed, strict=True)):
        key = (tuple(sorted(op.items())), speed)
        sol = cache.get(key) or cache.setdefault(key, _solve(net, op, speed))

        def kpa(node: str, sol=sol) -> float:
            elev, m_per_kpa = cat.nodes[node]
            return float((sol.node_head_m[node_i[node]] - elev) / m_per_kpa)

        for i, e in enumerate(net.entrances):
            pct = 100.0 * op[e.id]
            ent = {
                "p_supply_kpa": kpa(e.supply_node),
                "p_return_kpa": kpa(e.return_node),
                "flow_m3h": float(sol.entrance_flow_m3h[i]),
            }
            if skip is not None and skip[0] == _unit(e.id):
                ent.pop(skip[1])
            valve = {
                "id": "entrance",
                "t_return_c": 40.0,
                "opening_cmd_pct": pct,
                "opening_meas_pct": pct,
            }
            msg = {
                "v": 1,
                "ts_s": T0 + k * BIN_S + phase[e.id],
                "seq": k + 1,
                "valves": [valve],
                "entrance": ent,
            }
            out.append((_unit(e.id), msg))
        if k not in station_off:
            hdr = {"p_supply_kpa": kpa(st.supply_node), "p_return_kpa": kpa(st.return_node)}
            msg = {
                "v": 1,
                "ts_s": T0 + k * BIN_S + 30,
                "seq": k + 1,
                "valves": [],
                "entrance": hdr,
            }
            out.append((STATION_UNIT, msg))
    return out


def fill_store(url: str, net_path: Path, msgs: list[tuple[str, dict]]) -> None:
    """Import the network file into the registry and ingest the messages (host code)."""
    broker = SimpleNamespace(host="127.0.0.1", port=1)  # never connected
    svc = Service(make_config(broker, url, SITE))
    try:
        import_network(svc.registry, net_path)
        now = time.time()
        deliveries = [
            Delivery(1, i + 1, 1, p.topic(SITE, unit, p.TELE), p.encode(p.TELE, msg), False, now)
            for i, (unit, msg) in enumerate(msgs)
        ]
        svc.ingest.process(deliveries)
        assert svc.ingest.metrics.refused_total() == 0, svc.storage.refusals()
    finally:
        svc.storage.close()


@dataclasses.dataclass
class Case:
    net: Network
    s_true: np.ndarray
    net_path: Path
    url: str
    plan: Plan
    end_s: int

    def storage(self) -> Storage:
        from host.storage import open_storage

        return open_storage(self.url)


def build_case(tmp: Path, url: str | None = None, **kw) -> Case:
    net, s_true = make_network()
    net_path = tmp / "net.json"
    save_network(net, net_path)
    plan = history_plan(net)
    url = url or f"sqlite:///{tmp}/evenheat.db"
    fill_store(url, net_path, messages(net, plan, **kw))
    return Case(net, s_true, net_path, url, plan, T0 + len(plan.label) * BIN_S - 1)


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    return build_case(tmp_path_factory.mktemp("history"))


@pytest.fixture
def store(case: Case) -> Iterator[Storage]:
    s = case.storage()
    yield s
    s.close()


def _unit_vectors(flows: np.ndarray) -> np.ndarray:
    return flows / np.linalg.norm(flows, axis=-1, keepdims=True)


def _which(case: Case, cond: Conditions) -> list[str]:
    """The plan label each condition's flows come from exactly (or "?")."""
    ents = [e.id for e in case.net.entrances]
    got = np.column_stack([cond.flow_m3h[e] for e in ents])
    truth = {}
    for lab, op, sp in zip(case.plan.label, case.plan.openings, case.plan.speed, strict=True):
        if lab != "ramp":
            truth[lab] = _solve(case.net, op, sp).entrance_flow_m3h
    out = []
    for row in got:
        hit = [lab for lab, f in truth.items() if np.allclose(row, f, rtol=1e-12, atol=0)]
        out.append(hit[0] if hit else "?")
    return out


def _check_s(case: Case, est) -> None:
    ids = [pp.id for pp in case.net.pipes]
    for side, res in est.sides:
        idx = [ids.index(pp) for pp in res.pipe_ids]
        ok = res.identifiable & np.isfinite(res.s_m_per_m3h2)
        assert ok.sum() >= 0.8 * len(ok), (side, res.message)
        rel = np.abs(res.s_m_per_m3h2[ok] / case.s_true[idx][ok] - 1)
        assert rel.max() < 1e-6, side
        for g in res.groups:
            if g.kind == "series" and g.identifiable:
                total = sum(case.s_true[ids.index(pp)] for pp in g.pipe_ids)
                assert abs(g.s_m_per_m3h2 / total - 1) < 1e-6


# ------------------------------------------------------------------ reading, alignment ----
def test_history_aligns_boards_on_bins_and_converts_pressures(case: Case, store) -> None:
    hist = read_history(store, case.net, SITE, T0, case.end_s)
    n = len(case.plan.label)
    assert hist.bin_s == BIN_S and hist.n_bins == n
    assert hist.samples.n_conditions == n  # every bin complete, one gap-free stretch
    assert np.all(hist.segment == 0)
    assert hist.samples.timestamps[0] == "2025-01-10T00:00:00Z"
    assert set(hist.samples.head_m) == station_and_entrances(case.net)
    # heads: pressures converted back exactly; openings from the valve records
    node_i = {nd.id: i for i, nd in enumerate(case.net.nodes)}
    sol = _solve(case.net, case.plan.openings[0], 1.0)
    for node, heads in hist.samples.head_m.items():
        assert heads[0] == pytest.approx(sol.node_head_m[node_i[node]], rel=1e-13, abs=1e-12)
    e0 = case.net.entrances[0].id
    assert hist.samples.opening[e0][0] == pytest.approx(case.plan.openings[0][e0], rel=1e-12)


def test_unsteady_periods_are_skipped_and_proportional_conditions_not_both(case, store):
    cond = conditions_from_store(store, case.net, SITE, T0, case.end_s)
    labels = _which(case, cond)
    assert "?" not in labels  # no window averaged over moving valves
    # the slower pump with setting 0's valves only scales the flows: at most one of them
    assert sorted(labels) in (
        sorted([f"s{i}" for i in range(N_SETTINGS)]),
        sorted(["p0", *(f"s{i}" for i in range(1, N_SETTINGS))]),
    )
    unit = _unit_vectors(np.column_stack(list(cond.flow_m3h.values())))
    off = 1 - unit @ unit.T  # chosen distributions all differ
    assert np.all(off[~np.eye(len(unit), dtype=bool)] > 1e-4)


def test_estimate_from_store_recovers_s(case: Case, store) -> None:
    cond = conditions_from_store(store, case.net, SITE, T0, case.end_s)
    _check_s(case, estimate_network(case.net, cond))


def test_windows_never_span_a_gap() -> None:
    flows = {"E1": np.ones(6)}
    samples = Conditions(tuple("abcdef"), tuple("abcdef"), {}, flows)
    seg = np.array([0, 0, 1, 1, 1, 1])
    assert steady_conditions(samples, window=3).condition_ids == ("a..c", "d..f")
    assert steady_conditions(samples, window=3, segments=seg).condition_ids == ("c..e",)


# ------------------------------------------------------------------ the CLI ----
def _cli(case: Case, *extra: str) -> list[str]:
    return [
        "estimate",
        str(case.net_path),
        "--database",
        case.url,
        "--site",
        SITE,
        "--from",
        iso(T0),
        "--to",
        iso(case.end_s),
        *extra,
    ]


def test_cli_estimates_from_the_store_and_writes_the_conditions(case, tmp_path, capsys) -> None:
    out_json, out_csv = tmp_path / "est.json", tmp_path / "cond.csv"
    rc = cli_main(_cli(case, "--json", str(out_json), "--write-conditions", str(out_csv)))
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert f"{N_SETTINGS} condition(s) used" in captured.out
    data = json.loads(out_json.read_text())
    assert set(data["sides"]) == {"supply", "return"}
    # the written conditions are a valid conditions CSV giving the same estimate
    cond = load_conditions(out_csv, catalog(case.net))
    assert cond.n_conditions == N_SETTINGS and "?" not in _which(case, cond)
    assert set(cond.opening) == {e.id for e in case.net.entrances}
    _check_s(case, estimate_network(case.net, cond))
    rc = cli_main(["estimate", str(case.net_path), str(out_csv)])
    assert rc == 0 and f"{N_SETTINGS} condition(s) used" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--site", "nowhere"), "unknown site 'nowhere'"),
        (("--from", "2024-01-01T00:00:00Z", "--to", "2024-01-02T00:00:00Z"), "no telemetry"),
        (("--to", iso(T0)), "the range is empty"),
        (("--window", "12"), "0 steady window(s) of 12 bins"),
        (("--min-conditions", "7"), "5 with distinct flow distributions; at least 7 needed"),
        (("--bin-s", "1"), "no time bin of 1 s in which every needed point has a value"),
        (("--from", "yesterday"), "neither epoch seconds nor an ISO 8601"),
        (("--site", None), "reading the store needs --site"),
        (("CSV",), "either CONDITIONS.csv or --database/--config, exactly one"),
    ],
)
def test_cli_bad_store_input_changes_nothing(case, tmp_path, capsys, args, needle) -> None:
    argv = _cli(
        case,
        "--json",
        str(tmp_path / "est.json"),
        "--write-conditions",
        str(tmp_path / "cond.csv"),
    )
    if args == ("CSV",):
        argv.insert(2, str(tmp_path / "some.csv"))
    elif args[1] is None:
        i = argv.index(args[0])
        del argv[i : i + 2]
    else:
        for opt, value in zip(args[::2], args[1::2], strict=True):
            if opt in argv:
                argv[argv.index(opt) + 1] = value
            else:
                argv += [opt, value]
    rc = cli_main(argv)
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("Error: ") and needle in err, err
    assert list(tmp_path.iterdir()) == []


def test_neither_csv_nor_store_is_refused(case, capsys) -> None:
    assert cli_main(["estimate", str(case.net_path)]) == 1
    assert "exactly one" in capsys.readouterr().err


# ------------------------------------------------------------------ what is missing ----
def test_a_point_never_reported_is_named(tmp_path) -> None:
    e0 = make_network()[0].entrances[0].id
    case = build_case(tmp_path, skip=(_unit(e0), "flow_m3h"))
    store = case.storage()
    try:
        with pytest.raises(HistoryError) as exc:
            conditions_from_store(store, case.net, SITE, T0, case.end_s)
    finally:
        store.close()
    msg = str(exc.value)
    assert f"entrance '{e0}': flow_m3h of unit {_unit(e0)}: never reported in the range" in msg


def test_station_pressures_need_the_station_unit(case: Case, store) -> None:
    bare, _ = make_network(station_unit=None)
    with pytest.raises(HistoryError) as exc:
        read_history(store, bare, SITE, T0, case.end_s)
    st = case.net.station
    text = str(exc.value)
    for node, what in ((st.supply_node, "station supply"), (st.return_node, "station return")):
        assert f"node {node!r} ({what}) has a pressure sensor" in text
    assert "meta.registry.station_unit" in text


def test_station_silent_in_the_range_is_named(tmp_path) -> None:
    case = build_case(tmp_path, station_off=range(10, 10_000))
    store = case.storage()
    try:
        with pytest.raises(HistoryError) as exc:
            read_history(store, case.net, SITE, T0 + 20 * BIN_S, case.end_s)
    finally:
        store.close()
    st = case.net.station
    assert f"node {st.supply_node!r} (station supply): p_supply_kpa of unit {STATION_UNIT}" in (
        str(exc.value)
    )


def test_gaps_split_the_history_and_no_window_spans_one(tmp_path) -> None:
    """The station board is silent for 2 bins in the middle of setting 0's 6: the 2 + 2 bins
    left on either side make no steady window of 3."""
    case = build_case(tmp_path, station_off=(2, 3))
    store = case.storage()
    try:
        hist = read_history(store, case.net, SITE, T0, case.end_s)
        cond = conditions_from_store(store, case.net, SITE, T0, case.end_s)
    finally:
        store.close()
    assert hist.samples.n_conditions == len(case.plan.label) - 2
    assert list(hist.segment[:4]) == [0, 0, 1, 1] and hist.segment[-1] == 1
    assert sorted(_which(case, cond)) == sorted(["p0", *(f"s{i}" for i in range(1, 5))])


def test_an_entrance_the_registry_does_not_know_is_named(case: Case, store) -> None:
    e = case.net.entrances[0]
    other = dataclasses.replace(e, id="B99E0")
    net = dataclasses.replace(case.net, entrances=(*case.net.entrances, other))
    with pytest.raises(HistoryError) as exc:
        read_history(store, net, SITE, T0, case.end_s)
    assert "entrance 'B99E0' is not in the registry" in str(exc.value)


def test_history_of_moving_valves_only_is_refused(tmp_path) -> None:
    net, _ = make_network()
    net_path = tmp_path / "net.json"
    save_network(net, net_path)
    plan = history_plan(net, ramps_only=True)
    url = f"sqlite:///{tmp_path}/evenheat.db"
    fill_store(url, net_path, messages(net, plan))
    out = io.StringIO()
    err = io.StringIO()
    from host.cli.estimate import run_estimate
    from host.cli.main import build_parser

    args = build_parser("estimate").parse_args(
        [
            "estimate",
            str(net_path),
            "--database",
            url,
            "--site",
            SITE,
            "--from",
            str(T0),
            "--to",
            str(T0 + 3600),
        ]
    )
    assert run_estimate(args, out, err) == 1
    assert "0 steady window(s) of 3 bins of 60 s" in err.getvalue()


# ------------------------------------------------------------------ PostgreSQL ----
def test_postgres_store_gives_the_same_conditions(tmp_path, case: Case) -> None:
    cluster = PostgresCluster()
    try:
        pg = build_case(tmp_path, url=cluster.new_database())
        a, b = pg.storage(), case.storage()
        try:
            got = conditions_from_store(a, pg.net, SITE, T0, pg.end_s)
            want = conditions_from_store(b, case.net, SITE, T0, case.end_s)
        finally:
            a.close()
            b.close()
    finally:
        cluster.stop()
    assert got.timestamps == want.timestamps
    for e in want.flow_m3h:
        np.testing.assert_array_equal(got.flow_m3h[e], want.flow_m3h[e])
    for n in want.head_m:
        np.testing.assert_array_equal(got.head_m[n], want.head_m[n])


# ------------------------------------------------------------------ the registry ----
def test_the_station_unit_is_registered_and_never_an_entrance_unit(tmp_path) -> None:
    from host.assets.registry import Registry, RegistryError
    from host.storage import open_storage

    net, _ = make_network()
    path = tmp_path / "net.json"
    save_network(net, path)
    store = open_storage(f"sqlite:///{tmp_path}/a.db")
    try:
        import_network(Registry(store), path)
        assert store.unit_id(SITE, STATION_UNIT) is not None
        row = store.fetch_one("SELECT entrance_id FROM units WHERE unit = ?", (STATION_UNIT,))
        assert row == (None,)
    finally:
        store.close()
    clash, _ = make_network(station_unit=_unit(net.entrances[0].id))
    save_network(clash, path)
    store = open_storage(f"sqlite:///{tmp_path}/b.db")
    try:
        with pytest.raises(RegistryError) as exc:
            import_network(Registry(store), path)
        assert exc.value.reason == "duplicate"
        assert Registry(store).counts()["stations"] == 0  # all or nothing
    finally:
        store.close()
