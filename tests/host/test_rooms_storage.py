"""Room storage on both backends: readings and estimates, their latest values and histories,
a station's households, the outdoor temperature in telemetry, and migration 3 on a database
made before it."""

from __future__ import annotations

import pytest

from host.assets.registry import Registry
from host.storage import RoomReading, Storage, TeleMessage, open_storage, tele_rows
from host.storage.migrations import MIGRATIONS
from tests.host.helpers import tele

T = 1736467200  # 2025-01-10 00:00 UTC
SITE = "est"


@pytest.fixture
def rooms(storage: Storage) -> Storage:
    """st1 > b1 (5 floors) > e1 (u1: hh1 floor 5, hh2 floor 1, hh3 no floor), b2 (no floors)
    > e2 (u2: hh4 floor 3); a gateway unit gw at the site; st2 elsewhere."""
    reg = Registry(storage)
    reg.add_station("st1", SITE)
    reg.add_building("b1", "st1", floors=5)
    reg.add_building("b2", "st1")
    reg.add_entrance("e1", "b1", SITE, "u1")
    reg.add_entrance("e2", "b2", SITE, "u2")
    reg.add_household("hh3", "e1")
    reg.add_household("hh1", "e1", floor=5, household_type="top", heated_area_m2=80)
    reg.add_household("hh2", "e1", floor=1, point="h1")
    reg.add_household("hh4", "e2", floor=3)
    reg.add_station_unit("st1", "gw")
    reg.add_device("rs1", SITE, "u1", "rs1", "room_sensor", household_id="hh1")
    reg.add_device("rs4", SITE, "gw", "rs4", "room_sensor", household_id="hh4")
    reg.add_station("st2", "other")
    return storage


def _reading(hh: str, unit: str, sensor: str, ts: int, t: float | None, flag=None, **kw):
    return RoomReading(hh, SITE, unit, sensor, ts, t, flag=flag, **kw)


def test_the_schema_has_migration_3(storage):
    assert storage.schema_version() >= 3
    assert storage.fetch_one("SELECT COUNT(*) FROM room_estimates") == (0,)


def test_links_station_units_and_households(rooms):
    assert rooms.room_sensor_links(SITE, "u1") == {"rs1": "hh1"}
    assert rooms.room_sensor_links(SITE, "gw") == {"rs4": "hh4"}
    assert rooms.room_sensor_links(SITE, "u2") == {}
    assert rooms.station_units("st1") == [(SITE, "gw"), (SITE, "u1"), (SITE, "u2")]
    households = rooms.station_households("st1")
    assert [h["household_id"] for h in households] == ["hh2", "hh1", "hh3", "hh4"]
    hh1 = households[1]
    assert hh1 == {
        "household_id": "hh1",
        "entrance_id": "e1",
        "building_id": "b1",
        "site": SITE,
        "unit": "u1",
        "point": None,
        "floor": 5,
        "household_type": "top",
        "heated_area_m2": 80.0,
        "has_room_sensor": True,  # set by adding its room sensor
        "top_floor": 5,
    }
    assert households[3]["top_floor"] == 3  # b2 has no floors: its highest household's
    assert households[0]["has_room_sensor"] is False
    assert rooms.station_households("st2") == []


def test_readings_latest_and_history(rooms):
    readings = [
        _reading("hh1", "u1", "rs1", T + 60 * i, 20.0 + 0.1 * i, sensor_ok=True, battery_pct=90)
        for i in range(10)
    ]
    readings.append(_reading("hh1", "u1", "rs1", T + 600, 40.0, flag="range"))
    readings.append(_reading("hh4", "gw", "rs4", T + 100, 19.5, rssi_dbm=-70))
    assert rooms.insert_room_readings(readings, T + 700) == 12
    # the same reading relayed again is stored once
    assert rooms.insert_room_readings(readings[:2], T + 800) == 0
    latest = rooms.latest_room_readings("st1")
    assert set(latest) == {"hh1", "hh4"}
    assert latest["hh1"] == {
        "ts_s": T + 600,
        "t_room_c": 40.0,
        "flag": "range",
        "sensor": "rs1",
        "site": SITE,
        "unit": "u1",
        "battery_pct": None,
        "rssi_dbm": None,
    }
    assert latest["hh4"]["unit"] == "gw" and latest["hh4"]["rssi_dbm"] == -70.0
    good = rooms.latest_room_readings("st1", plausible_only=True)["hh1"]
    assert (good["ts_s"], good["t_room_c"], good["flag"]) == (T + 540, pytest.approx(20.9), None)
    assert rooms.latest_room_reading("hh1", plausible_only=True) == good
    assert rooms.latest_room_reading("hh2") is None
    assert rooms.latest_room_readings("st2") == {}

    raw = rooms.room_reading_history("hh1", T, T + 3600)
    assert len(raw) == 11 and raw[-1] == (T + 600, 40.0, "range")
    assert raw[0] == (T, 20.0, None)
    # bucketed: the flagged reading is kept out of its bucket's mean
    down = rooms.room_reading_history("hh1", T, T + 599, max_points=2)
    assert [b for b, _, _ in down] == [T, T + 300]
    assert down[0][1] == pytest.approx(20.2) and down[1][1] == pytest.approx(20.7)
    assert rooms.room_reading_history("hh1", T + 599, T + 700, max_points=1) == [
        (T + 600, 40.0, "range")  # not more than max_points: raw
    ]
    rooms.insert_room_readings([_reading("hh1", "u1", "rs1", T + 601, 41.0, flag="range")], T)
    only_flagged = rooms.room_reading_history("hh1", T + 600, T + 601, max_points=1)
    assert only_flagged == [(T + 600, 40.5, "range")]  # a bucket of flagged readings only
    assert rooms.room_sensor_readings(SITE, "u1", "rs1", T + 500, T + 600) == [
        (T + 540, pytest.approx(20.9), True, None),
        (T + 600, 40.0, None, "range"),
    ]
    between = rooms.room_readings_between(SITE, T, T + 100, units=("gw",))
    assert [(r["household_id"], r["sensor"]) for r in between] == [("hh4", "rs4")]


def test_estimates_latest_and_history(rooms):
    def row(hh, t, se, measured=False, method="heat-balance"):
        return {
            "household_id": hh,
            "t_room_c": t,
            "se_c": se,
            "measured": measured,
            "method": method,
        }

    assert rooms.save_room_estimates("st1", T, [row("hh1", 20.0, 0.3, True, "sensor")]) == 1
    rooms.save_room_estimates("st1", T + 900, [row("hh1", 21.0, 0.3, True), row("hh2", 17.0, 1.2)])
    rooms.save_room_estimates("st1", T + 900, [row("hh2", 17.5, 1.1)])  # a rerun replaces
    latest = rooms.latest_room_estimates("st1")
    assert latest == {
        "hh1": {
            "ts_s": T + 900,
            "t_room_c": 21.0,
            "se_c": 0.3,
            "measured": True,
            "method": "heat-balance",
        },
        "hh2": {
            "ts_s": T + 900,
            "t_room_c": 17.5,
            "se_c": 1.1,
            "measured": False,
            "method": "heat-balance",
        },
    }
    assert rooms.latest_room_estimate("hh2") == latest["hh2"]
    assert rooms.latest_room_estimate("hh3") is None
    assert rooms.room_estimate_history("hh1", T, T + 3600) == [
        (T, 20.0, 0.3, True),
        (T + 900, 21.0, 0.3, True),
    ]
    assert rooms.room_estimate_history("hh1", T, T + 1799, max_points=1) == [
        (T, pytest.approx(20.5), pytest.approx(0.3), True)
    ]
    exported = rooms.room_estimates_between(["st1"], T, T + 900)
    assert [(e["household_id"], e["ts_s"]) for e in exported] == [
        ("hh1", T),
        ("hh1", T + 900),
        ("hh2", T + 900),
    ]


def test_outdoor_temperature_is_stored_and_the_newest_of_a_station_found(rooms):
    uid1, uidgw = rooms.unit_id(SITE, "u1"), rooms.unit_id(SITE, "gw")
    msg1 = tele(1, T, entrance={"t_supply_c": 55.0, "t_outdoor_c": -5.5})
    msg2 = tele(2, T + 60)  # no outdoor probe in this one
    gw = {"v": 1, "ts_s": T + 30, "seq": 1, "valves": [], "entrance": {"t_outdoor_c": -6.0}}
    rooms.insert_telemetry(
        [
            TeleMessage(uid1, 1, T, T, tele_rows(msg1)),
            TeleMessage(uid1, 2, T + 60, T, tele_rows(msg2)),
            TeleMessage(uidgw, 1, T + 30, T, tele_rows(gw)),
        ]
    )
    assert rooms.query(SITE, "u1", "entrance", "t_outdoor_c", 0, 2**40) == [
        (T, -5.5),
        (T + 60, None),
    ]
    assert rooms.latest_value(SITE, "u1", "entrance", "t_outdoor_c") == (T, -5.5)
    assert rooms.latest_records(SITE, "u1")["entrance"]["t_outdoor_c"] is None
    assert rooms.station_outdoor_c("st1") == (T + 30, -6.0)
    assert rooms.station_outdoor_c("st1", end_s=T + 10) == (T, -5.5)
    assert rooms.station_outdoor_c("st2") is None


def test_migration_3_on_a_database_made_before_it(db_url):
    """A database at version 2 whose month partitions lack t_outdoor_c: opening it adds the
    column to them and the room tables, and keeps the records."""
    store = open_storage(db_url)
    uid = store.add_unit(SITE, "u1")
    store.insert_telemetry([TeleMessage(uid, 1, T, T, tele_rows(tele(1, T)))])
    with store.transaction():
        store.execute("DROP TABLE room_readings")
        store.execute("DROP TABLE room_estimates")
        store.execute("DELETE FROM schema_migrations WHERE version = 3")
        if store.dialect == "sqlite":
            store.execute("ALTER TABLE tele_202501 DROP COLUMN t_outdoor_c")
        else:
            store.execute("ALTER TABLE tele DROP COLUMN t_outdoor_c")
    store.close()
    store = open_storage(db_url)
    try:
        assert store.schema_version() == len(MIGRATIONS)
        assert store.query(SITE, "u1", "entrance", "t_outdoor_c", 0, 2**40) == [(T, None)]
        assert store.query(SITE, "u1", "entrance", "flow_m3h", 0, 2**40) == [(T, 3.2)]
        msg = tele(2, T + 60, entrance={"t_outdoor_c": 1.5})
        store.insert_telemetry([TeleMessage(uid, 2, T + 60, T, tele_rows(msg))])
        assert store.latest_value(SITE, "u1", "entrance", "t_outdoor_c") == (T + 60, 1.5)
        assert store.latest_room_reading("nobody") is None
    finally:
        store.close()
