"""Telemetry routes: history (downsampled) and exports to CSV and Excel, with local times."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import openpyxl
import pytest

from tests.api.conftest import VIEWER, publish_tele

T = 1736467200  # 2025-01-10 00:00 UTC = 08:00 in Asia/Shanghai
LOCAL_FROM, LOCAL_TO = "2025-01-10T08:00", "2025-01-10T08:30"


@pytest.fixture(scope="module", autouse=True)
def data(service, mosquitto, site):
    from tests.mqtt_client import TestClient as MqttClient

    board = MqttClient(mosquitto.host, mosquitto.port)
    # u1: seq 1..5 at 40 degC, 6..10 at 44 degC, one minute apart from 08:01 local
    publish_tele(service, board, site, "u1", range(1, 6), ts0=T, t_c=40.0)
    publish_tele(service, board, site, "u1", range(6, 11), ts0=T, t_c=44.0)
    publish_tele(service, board, site, "u2", range(1, 4), ts0=T, t_c=38.0, n_households=0)
    board.close()


def test_history_raw_and_downsampled(client, site):
    q = {
        "site": site,
        "units": "u1",
        "points": "entrance",
        "fields": "t_return_c",
        "from": T,
        "to": T + 3600,
    }
    raw = client.get("/api/v1/history", params=q | {"max_points": 100}, auth=VIEWER).json()
    (series,) = raw["series"]
    assert (series["unit"], series["point"], series["field"]) == ("u1", "entrance", "t_return_c")
    assert series["values"] == [[T + 60 * s, 40.0 if s <= 5 else 44.0] for s in range(1, 11)]
    down = client.get("/api/v1/history", params=q | {"max_points": 3}, auth=VIEWER).json()
    bucket_s = -(-3601 // 3)  # equal buckets: at most about max_points of them
    buckets: dict[int, list[float]] = {}
    for t, v in series["values"]:
        buckets.setdefault(t // bucket_s * bucket_s, []).append(v)
    assert down["series"][0]["values"] == [[b, sum(v) / len(v)] for b, v in buckets.items()]


def test_history_of_several_units_points_and_fields_with_local_times(client, site):
    q = [
        ("site", site),
        ("units", "u1"),
        ("units", "u2"),
        ("points", "entrance,h0"),
        ("fields", "t_return_c"),
        ("fields", "flow_m3h"),
        ("from", LOCAL_FROM),
        ("to", "2025-01-10T08:02:00"),
    ]
    out = client.get("/api/v1/history", params=q, auth=VIEWER).json()
    assert out["from_s"] == T and out["to_s"] == T + 120  # naive times are Shanghai time
    got = {(s["unit"], s["point"], s["field"]): s["values"] for s in out["series"]}
    assert got == {
        ("u1", "entrance", "t_return_c"): [[T + 60, 40.0], [T + 120, 40.0]],
        ("u1", "entrance", "flow_m3h"): [[T + 60, 3.2], [T + 120, 3.2]],
        ("u1", "h0", "t_return_c"): [[T + 60, 39.0], [T + 120, 39.0]],
        ("u1", "h0", "flow_m3h"): [[T + 60, None], [T + 120, None]],
        ("u2", "entrance", "t_return_c"): [[T + 60, 38.0], [T + 120, 38.0]],
        ("u2", "entrance", "flow_m3h"): [[T + 60, 3.2], [T + 120, 3.2]],
    }  # u2 has no h0: it is skipped there, not refused
    utc = {"from": "2025-01-10T00:01:00+00:00", "to": "2025-01-10T00:01:00Z"}
    one = client.get("/api/v1/history", params={"site": site, "units": "u2", **utc}, auth=VIEWER)
    assert one.status_code == 400  # from == to: an empty range


@pytest.mark.parametrize(
    ("params", "status", "reason"),
    [
        ({"from": T + 60, "to": T}, 400, "bad-range"),
        ({"from": "yesterday"}, 400, "bad-time"),
        ({"fields": "t_return_c,colour"}, 422, "unknown-field"),
        ({"fields": "mode"}, 422, "unknown-field"),
        ({"units": "ghost"}, 404, "unknown-unit"),
        ({"points": "h7"}, 404, "unknown-point"),
        ({"tz": "Mars/Olympus"}, 422, "unknown-timezone"),
        ({"max_points": 0}, 422, "invalid"),
        ({"site": "nosuchsite", "units": ""}, 404, "unknown-unit"),
    ],
)
def test_bad_history_and_export_requests(client, site, params, status, reason):
    base = {"site": site, "units": "u1", "from": T, "to": T + 600}
    for path in ("/api/v1/history", "/api/v1/export"):
        if path.endswith("export") and params.get("max_points") == 0:
            continue
        r = client.get(path, params=base | params, auth=VIEWER)
        assert (r.status_code, r.json()["error"]) == (status, reason), (path, r.text)


def test_export_needs_credentials_and_a_known_format(client, site):
    q = {"site": site, "from": T, "to": T + 600}
    assert client.get("/api/v1/export", params=q).status_code == 401
    r = client.get("/api/v1/export", params=q | {"format": "pdf"}, auth=VIEWER)
    assert r.status_code == 422


def test_csv_export(client, site):
    q = {
        "site": site,
        "units": "u1,u2",
        "points": "entrance",
        "format": "csv",
        "fields": "t_return_c,flow_m3h",
        "from": LOCAL_FROM,
        "to": "2025-01-10T08:03",
    }
    r = client.get("/api/v1/export", params=q, auth=VIEWER)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == (
        f'attachment; filename="evenheat-{site}-20250110T0800-20250110T0803.csv"'
    )
    assert r.content.startswith(b"\xef\xbb\xbf")  # a BOM, for Excel
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "time (Asia/Shanghai)",
        "ts_s [s UTC]",
        "unit",
        "point",
        "t_return_c [°C]",
        "flow_m3h [m³/h]",
    ]
    assert rows[1:] == [
        ["2025-01-10T08:01:00+08:00", str(T + 60), "u1", "entrance", "40.0", "3.2"],
        ["2025-01-10T08:01:00+08:00", str(T + 60), "u2", "entrance", "38.0", "3.2"],
        ["2025-01-10T08:02:00+08:00", str(T + 120), "u1", "entrance", "40.0", "3.2"],
        ["2025-01-10T08:02:00+08:00", str(T + 120), "u2", "entrance", "38.0", "3.2"],
        ["2025-01-10T08:03:00+08:00", str(T + 180), "u1", "entrance", "40.0", "3.2"],
        ["2025-01-10T08:03:00+08:00", str(T + 180), "u2", "entrance", "38.0", "3.2"],
    ]
    other = client.get(
        "/api/v1/export", params=q | {"tz": "UTC", "from": T + 60, "to": T + 60}, auth=VIEWER
    )
    assert other.status_code == 400  # an empty range is refused, not an empty file


def test_excel_export_one_sheet_per_entrance_in_local_time(client, site):
    q = [
        ("site", site),
        ("format", "xlsx"),
        ("fields", "t_return_c"),
        ("fields", "target_c"),
        ("fields", "opening_cmd_pct"),
        ("from", LOCAL_FROM),
        ("to", LOCAL_TO),
    ]
    r = client.get("/api/v1/export", params=q, auth=VIEWER)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert r.headers["content-disposition"].endswith('.xlsx"')
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == ["u1", "u2", "(export)"]  # every unit of the site
    u1 = list(book["u1"].iter_rows(values_only=True))
    assert u1[0] == (
        "time (Asia/Shanghai)",
        "ts_s [s UTC]",
        "point",
        "t_return_c [°C]",
        "target_c [°C]",
        "opening_cmd_pct [%]",
    )
    assert len(u1) == 1 + 10 * 3  # ten messages of entrance, h0, h1
    assert u1[1] == (datetime(2025, 1, 10, 8, 1), T + 60, "entrance", 40.0, None, 50.0)
    assert u1[2] == (datetime(2025, 1, 10, 8, 1), T + 60, "h0", 39.0, None, 40.0)
    assert u1[-1] == (datetime(2025, 1, 10, 8, 10), T + 600, "h1", 43.0, None, 40.0)
    assert book["u1"]["A2"].number_format == "yyyy-mm-dd hh:mm:ss"
    u2 = list(book["u2"].iter_rows(values_only=True))
    assert [row[2] for row in u2[1:]] == ["entrance"] * 3
    assert [row[0] for row in u2[1:]] == [datetime(2025, 1, 10, 8, m) for m in (1, 2, 3)]
    info = dict(book["(export)"].iter_rows(values_only=True))
    assert info["site"] == site and info["time zone"] == "Asia/Shanghai"
    assert info["from"] == "2025-01-10T08:00:00+08:00" and info["values"] == "raw records"


def test_excel_export_downsampled_in_another_zone(client, site):
    q = {
        "site": site,
        "units": "u1",
        "points": "entrance",
        "format": "xlsx",
        "max_points": 2,
        "tz": "Europe/Berlin",
        "from": "2025-01-10T01:00",
        "to": "2025-01-10T01:10",
    }
    book = openpyxl.load_workbook(
        io.BytesIO(client.get("/api/v1/export", params=q, auth=VIEWER).content)
    )
    rows = list(book["u1"].iter_rows(values_only=True))
    assert rows[0][0] == "time (Europe/Berlin)"
    assert 2 <= len(rows) - 1 <= 3  # buckets, not ten records
    # a bucket is stamped with its start, which may lie before the range's start
    assert all(
        datetime(2025, 1, 10, 0, 55) <= r[0] <= datetime(2025, 1, 10, 1, 10) for r in rows[1:]
    )
    assert 40.0 <= rows[1][3] <= 44.0
