"""host.reports.export on both storage backends: latest record per point, known points, and the
request checks (the API and CLI tests cover the rendering)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from host.assets.registry import Registry
from host.reports.export import ExportError, ExportRequest, check, header, latest_records, read
from host.storage import Storage, TeleMessage, open_storage, tele_rows
from tests.host.helpers import tele
from tests.postgres import PostgresCluster

T = 1736467200  # 2025-01-10 00:00 UTC
MONTH = 31 * 86400


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/evenheat.db"
    else:
        url = request.getfixturevalue("postgres").new_database()
    store = open_storage(url)
    reg = Registry(store)
    reg.add_station("st1", "est")
    reg.add_building("b1", "st1")
    reg.add_entrance("e1", "b1", "est", "u1")
    reg.add_entrance("e2", "b1", "est", "u2")
    reg.add_household("hh1", "e1", point="h5")  # registered, never reported
    uid = store.unit_id("est", "u1")
    # January: seq 1..3 with households h0, h1; February: seq 4 (newer) without h1; a
    # replayed older record of h0 arrives last (it must not count as the latest).
    msgs = [
        TeleMessage(uid, s, T + 60 * s, T, tele_rows(tele(s, T + 60 * s, t_c=40.0 + s)))
        for s in (1, 2, 3)
    ]
    feb = tele(4, T + MONTH, n_households=1, t_c=50.0)
    msgs.append(TeleMessage(uid, 4, T + MONTH, T, tele_rows(feb)))
    msgs.append(TeleMessage(uid, 5, T + 30, T, tele_rows(tele(5, T + 30, t_c=0.0))))
    store.insert_telemetry(msgs)
    yield store
    store.close()


def test_latest_record_per_point_across_partitions(storage):
    latest = latest_records(storage, "est", "u1")
    assert sorted(latest) == ["entrance", "h0", "h1"]
    assert (latest["entrance"]["seq"], latest["entrance"]["t_return_c"]) == (4, 50.0)
    assert latest["entrance"]["flow_m3h"] == 3.2 and latest["entrance"]["ts_s"] == T + MONTH
    assert (latest["h0"]["seq"], latest["h0"]["t_return_c"]) == (4, 49.0)
    assert (latest["h1"]["seq"], latest["h1"]["ts_s"]) == (3, T + 180)  # January's
    assert latest_records(storage, "est", "u2") == {}
    assert latest_records(storage, "est", "ghost") == {}


def test_requests_are_checked_before_reading(storage):
    base = ExportRequest("est", ("u1",), (), ("t_return_c",), T, T + 2 * MONTH)
    plan = check(storage, base)
    assert plan == {"u1": ("entrance", "h0", "h1", "h5")}  # registry points count too
    assert check(storage, ExportRequest("est", (), ("h1",), ("t_return_c",), T, T + 1)) == {
        "u1": ("h1",),
        "u2": (),
    }
    (table,) = read(storage, ExportRequest("est", ("u1",), ("h1",), ("t_return_c",), T, T + 200))
    assert table.rows == [(T + 30, "h1", {"t_return_c": -1.0})] + [
        (T + 60 * s, "h1", {"t_return_c": 39.0 + s}) for s in (1, 2, 3)
    ]
    bad = [
        (ExportRequest("est", ("u1",), (), ("t_return_c",), T, T), "bad-range"),
        (ExportRequest("est", ("u1",), (), (), T, T + 1), "bad-value"),
        (ExportRequest("est", ("u1",), (), ("t_return_c",), T, T + 1, max_points=0), "bad-value"),
        (ExportRequest("est", ("u1",), ("h9",), ("t_return_c",), T, T + 1), "unknown-point"),
        (ExportRequest("nowhere", (), (), ("t_return_c",), T, T + 1), "unknown-unit"),
    ]
    for req, reason in bad:
        with pytest.raises(ExportError) as err:
            check(storage, req)
        assert err.value.reason == reason


def test_headers_carry_units():
    assert [
        header(f)
        for f in (
            "t_return_c",
            "opening_meas_pct",
            "p_supply_kpa",
            "flow_m3h",
            "heat_kw",
            "sensor_ok",
        )
    ] == [
        "t_return_c [°C]",
        "opening_meas_pct [%]",
        "p_supply_kpa [kPa]",
        "flow_m3h [m³/h]",
        "heat_kw [kW]",
        "sensor_ok",
    ]
