"""Storage: the same tests against SQLite and PostgreSQL (the `storage` fixture is both)."""

from __future__ import annotations

import time

import pytest

from host.storage import StorageError, TeleMessage, open_storage, tele_rows
from host.storage.base import month_bounds
from host.storage.migrations import MIGRATIONS

SITE = "estate-7"
NOV = 1763800000  # 2025-11-22
DEC = 1764600000  # 2025-12-01 14:40 UTC


def msg(uid: int, seq: int, ts_s: int, t_c: float = 40.0) -> TeleMessage:
    body = {
        "ts_s": ts_s,
        "seq": seq,
        "valves": [
            {"id": "entrance", "t_return_c": t_c, "opening_cmd_pct": 50.0, "sensor_ok": True},
            {"id": "h1", "t_return_c": t_c - 2, "opening_cmd_pct": 30.0},
        ],
        "entrance": {"flow_m3h": 2.5},
    }
    return TeleMessage(uid, seq, ts_s, time.time(), tele_rows(body))


def test_migrations_are_versioned_and_run_once(storage):
    assert storage.schema_version() == MIGRATIONS[-1][0]
    assert storage.migrate() == MIGRATIONS[-1][0]  # again: nothing to do, no error
    rows = storage.fetch_all("SELECT version, name FROM schema_migrations")
    assert [v for v, _ in rows] == [m[0] for m in MIGRATIONS]


def test_dedup_within_a_batch_across_batches_and_across_months(storage):
    uid = storage.add_unit(SITE, "b1")
    assert storage.add_unit(SITE, "b1") == uid  # idempotent
    batch = [msg(uid, 1, NOV), msg(uid, 2, DEC), msg(uid, 1, NOV)]
    assert storage.insert_telemetry(batch) == [True, True, False]
    assert storage.insert_telemetry([msg(uid, 2, DEC), msg(uid, 3, NOV + 60)]) == [False, True]
    assert storage.message_seqs(SITE, "b1") == [(1, NOV), (2, DEC), (3, NOV + 60)]
    assert storage.record_count() == 6
    names = {n for (n,) in storage.fetch_all("SELECT name FROM partitions")}
    assert names == {month_bounds(NOV)[0], month_bounds(DEC)[0]} == {"202511", "202512"}


def test_a_failed_transaction_stores_nothing(storage):
    uid = storage.add_unit(SITE, "b1")
    with pytest.raises(RuntimeError), storage.transaction():
        storage.insert_telemetry([msg(uid, 1, NOV)])
        raise RuntimeError("boom")
    assert storage.record_count() == 0
    assert storage.insert_telemetry([msg(uid, 1, NOV)]) == [True]


def test_queries_return_time_order_across_months_and_downsample(storage):
    uid = storage.add_unit(SITE, "b1")
    start = DEC - 3600  # two hours of December 1st
    boundary = month_bounds(DEC)[1] - 1800  # 30 min before 2026-01-01
    samples = [(start + 60 * i, 40.0 + i % 10) for i in range(120)]  # from 13:40 UTC
    samples += [(boundary + 60 * i, 30.0 + i % 4) for i in range(60)]  # crosses into January
    storage.insert_telemetry([msg(uid, i, ts, t) for i, (ts, t) in enumerate(samples)])
    got = storage.query(SITE, "b1", "entrance", "t_return_c", 0, 2**40)
    assert got == sorted(samples)
    assert storage.query(SITE, "b1", "h1", "t_return_c", start, start + 120) == [
        (start, 38.0),
        (start + 60, 39.0),
        (start + 120, 40.0),
    ]
    assert storage.query(SITE, "b1", "entrance", "flow_m3h", start, start)[0][1] == 2.5
    # 600 s buckets over the boundary part: exact means, January merged correctly.
    lo, hi = boundary, boundary + 3599
    down = storage.query(SITE, "b1", "entrance", "t_return_c", lo, hi, max_points=6)
    assert len(down) <= 7
    for bucket, mean in down:
        inside = [t for ts, t in samples if bucket <= ts < bucket + 600 and lo <= ts <= hi]
        assert mean == pytest.approx(sum(inside) / len(inside))
    # Few samples: no downsampling.
    assert len(storage.query(SITE, "b1", "entrance", "t_return_c", lo, lo + 120, 10)) == 3
    assert storage.query(SITE, "nobody", "entrance", "t_return_c", 0, 2**40) == []
    with pytest.raises(StorageError):
        storage.query(SITE, "b1", "entrance", "point; DROP TABLE units", 0, 1)


@pytest.mark.slow
def test_a_season_of_one_entrance_comes_back_in_well_under_a_second(storage):
    uid = storage.add_unit(SITE, "b1")
    season_start = 1760000000  # mid-October, about 180 days at one record a minute
    n = 260_000
    batch = []
    for seq in range(n):
        ts = season_start + 60 * seq
        batch.append(
            TeleMessage(
                uid, seq, ts, 0.0, (("entrance", 40.0 + seq % 7, None, 50.0) + (None,) * 11,)
            )
        )
        if len(batch) == 20_000:
            storage.insert_telemetry(batch)
            batch = []
    storage.insert_telemetry(batch)
    end = season_start + 60 * n
    t0 = time.perf_counter()
    rows = storage.query(SITE, "b1", "entrance", "t_return_c", season_start, end)
    full_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    down = storage.query(SITE, "b1", "entrance", "t_return_c", season_start, end, 1000)
    down_s = time.perf_counter() - t0
    assert len(rows) == n and rows[0][0] == season_start and rows[-1][0] == end - 60
    assert 900 <= len(down) <= 1001
    print(f"{storage.dialect}: full season {full_s:.3f} s, downsampled {down_s:.3f} s")
    assert full_s < 0.8 and down_s < 0.5


def test_boards_events_refusals_persist(storage, db_url):
    uid = storage.add_unit(SITE, "b1")
    with storage.transaction():
        storage.save_board(
            uid,
            {
                "status": "online",
                "status_s": 5,
                "status_reason": "birth",
                "fw": "1.0",
                "outbox_depth": 3,
            },
        )
        ev = {"ts_s": NOV, "seq": 9, "event": "boot", "severity": "info"}
        assert storage.insert_event(uid, ev, 1.0)
        assert not storage.insert_event(uid, ev, 2.0)
        storage.count_refusals({(SITE, "b1", "json"): (2, "bad")}, 1.0)
        storage.count_refusals({(SITE, "b1", "json"): (1, "worse")}, 2.0)
    storage.close()
    again = open_storage(db_url)
    try:
        board = again.boards()[(SITE, "b1")]
        assert board["status"] == "online" and board["fw"] == "1.0" and board["outbox_depth"] == 3
        assert again.events(SITE, "b1") == [(9, NOV, "boot", "info")]
        assert again.refusals() == {(SITE, "b1", "json"): 3}
    finally:
        again.close()


def test_unknown_database_url_is_refused():
    with pytest.raises(StorageError, match="expected sqlite"):
        open_storage("mysql://x")
