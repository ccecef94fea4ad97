"""Storage: the same tests against SQLite and PostgreSQL (the `storage` fixture is both)."""

from __future__ import annotations

import time

import pytest

from host.storage import StorageError, TeleMessage, open_storage, tele_rows
from host.storage.base import month_bounds
from host.storage.dialect import qmark_to_format
from host.storage.migrations import MIGRATIONS
from host.storage.telemetry import TELE_COLUMNS

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
def test_a_season_of_one_entrance_comes_back_whole_and_downsampled(storage):
    """A heating season at one record a minute, across its monthly partitions. How fast is
    printed, not asserted: a time bound fails on a loaded machine (speed lives in bench/)."""
    uid = storage.add_unit(SITE, "b1")
    season_start = 1760000000  # mid-October, about 180 days at one record a minute
    n = 260_000
    batch = []
    for seq in range(n):
        ts = season_start + 60 * seq
        batch.append(
            TeleMessage(
                uid,
                seq,
                ts,
                0.0,
                (("entrance", 40.0 + seq % 7, None, 50.0) + (None,) * (len(TELE_COLUMNS) - 4),),
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


# ---------------------------------------------------------------- the two dialects ----
def test_placeholders_become_psycopgs_outside_literals_identifiers_and_comments():
    sql = (
        "SELECT '?', \"a?b\", ? FROM t WHERE pct LIKE '100%' AND n % 2 = ?"
        " AND s = 'it''s ?' -- why ? 5%\n AND /* ? */ x = ?"
    )
    assert qmark_to_format(sql) == (
        "SELECT '?', \"a?b\", %s FROM t WHERE pct LIKE '100%%' AND n %% 2 = %s"
        " AND s = 'it''s ?' -- why ? 5%%\n AND /* ? */ x = %s"
    )
    assert qmark_to_format('SELECT "x""?" FROM "t?"') == 'SELECT "x""?" FROM "t?"'
    assert qmark_to_format("SELECT 1") == "SELECT 1"
    for broken in ("SELECT 'open ?", 'SELECT "open', "SELECT 1 /* open"):
        with pytest.raises(StorageError, match="unterminated"):
            qmark_to_format(broken)


def test_literal_question_marks_and_percent_signs_reach_the_database_intact(storage):
    value = "50%? it's a '?' \"%s\""
    with storage.transaction():
        storage.execute('CREATE TABLE lit ("a?b" TEXT, pct TEXT, n INTEGER)')
        storage.execute(
            "INSERT INTO lit (\"a?b\", pct, n) VALUES (?, '100%', ? % 7) -- ? here %",
            (value, 23),
        )
    row = storage.fetch_one(
        "SELECT \"a?b\", pct, n, '?', 'it''s ?%' FROM lit"
        " WHERE \"a?b\" = ? AND pct LIKE '100%' /* a ? */ AND n = ?",
        (value, 2),
    )
    assert row == (value, "100%", 2, "?", "it's ?%")
    assert storage.fetch_one("SELECT COUNT(*) FROM lit WHERE pct = '100%'") == (1,)


def test_values_with_question_marks_and_percent_signs_round_trip_through_storage(storage):
    with storage.transaction():
        storage.audit("ops?", "set", "s1/b_1", "50% done?", "done")
        storage.audit("ops", "set", "s1/bx1/h1", {"why": "?"}, "done")
        storage.audit("ops", "set", "s1/b_1/h%", "x", "refused: 100%?")
    rows = storage.audit_rows(who="ops?")
    assert [(r["target"], r["detail"]) for r in rows] == [("s1/b_1", "50% done?")]
    # `_` and `%` of the target are no LIKE wildcards: s1/bx1 is not under s1/b_1
    about = storage.audit_about("s1/b_1", 10)
    assert [(r["target"], r["result"]) for r in about] == [
        ("s1/b_1/h%", "refused: 100%?"),
        ("s1/b_1", "done"),
    ]
    storage.insert_station("st?%", "estate-7", "Name 100%?")
    assert storage.registry_rows("stations", ("id", "name"), {"id": "st?%"}) == [
        ("st?%", "Name 100%?")
    ]
    storage.insert_user("q?%", "admin", "hash?%", 1.0)
    assert storage.user_row("q?%") == ("q?%", "admin", 1.0, 0, "hash?%")
    assert storage.user_count(role="admin", enabled_only=True) == 1
    storage.update_user("q?%", {"disabled": 1})
    assert storage.user_count(role="admin", enabled_only=True) == 0
    run = {
        "site": "estate-7",
        "unit": "b?1",
        "valve": "h%1",
        "old_target_c": 40.0,
        "new_target_c": 41.5,
        "reason": "below 100%?",
        "group_mean_c": 42.0,
        "inputs": {"note": "?%"},
        "desired_version": 3,
    }
    run_id = storage.record_run("st?%", 100.0, "manual", [run])
    assert storage.record_run("st?%", 200.0, "period", [{**run, "desired_version": None}]) == 2
    first = storage.decisions("st?%", since_s=0.0)[-1]
    assert first["run_id"] == run_id == 1 and first["inputs"] == {"note": "?%"}
    assert first["reason"] == "below 100%?" and first["unit"] == "b?1"
    assert storage.last_run("st?%") == (2, 200.0, "period", 0)


def test_names_reach_sql_text_only_when_they_are_known_columns(storage):
    with pytest.raises(StorageError, match="no registry table"):
        storage.registry_has("users; DROP TABLE units", "x")
    with pytest.raises(StorageError, match="no column"):
        storage.registry_rows("stations", ("id",), {"id = id OR 1": 1})
    with pytest.raises(StorageError, match="households: no column"):
        storage.update_household("h1", {"entrance_id": "e2"})
    with pytest.raises(StorageError, match="no user column"):
        storage.update_user("alice", {"name": "mallory"})
