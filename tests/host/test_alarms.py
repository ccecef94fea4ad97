"""Alarms: raise -> acknowledge -> clear, hysteresis, minimum duration, no duplicates, no
stale alarm after recovery. The engine writes to real storage (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from host.control.alarms import AlarmError, Alarms
from host.service.config import AlarmConfig

SITE, UNIT = "estate-7", "b1"
CFG = AlarmConfig(
    household_t_low_c=20.0,
    household_t_high_c=50.0,
    household_t_very_high_c=60.0,
    entrance_t_low_c=25.0,
    entrance_t_high_c=55.0,
    entrance_t_very_high_c=65.0,
    hysteresis_c=1.0,
    min_duration_s=600,
)


@pytest.fixture
def engine(storage):
    storage.add_unit(SITE, UNIT)
    return Alarms(storage, CFG, clock=lambda: 5000.0)


def feed(engine: Alarms, point: str, samples, sensor_ok=None, valve_ok=None) -> None:
    with engine.storage.transaction():
        for ts, t in samples:
            engine.observe(SITE, UNIT, point, ts, t, sensor_ok, valve_ok)


def kinds(engine: Alarms, open_only: bool = True) -> list[tuple[str, str]]:
    return [(a["point"], a["kind"]) for a in engine.storage.alarms(open_only)]


def test_high_needs_the_minimum_duration_then_raises_once_and_clears_with_hysteresis(engine):
    # 51 degC for 540 s: not yet; a dip to 49.5 resets the timer; then 600 s above: raise.
    feed(engine, "h1", [(0, 51.0), (300, 51.5), (540, 51.0), (600, 49.5)])
    assert kinds(engine) == []
    feed(engine, "h1", [(900, 52.0), (1200, 52.0), (1500, 52.0)])
    assert kinds(engine) == [("h1", "t_high")]
    [alarm] = engine.storage.alarms()
    assert alarm["raised_s"] == 1500 and alarm["raised_value"] == 52.0
    # Still high, and inside the hysteresis band (49.0 < t <= 50): no duplicate, no clear.
    feed(engine, "h1", [(1800, 53.0), (2100, 49.5), (2400, 50.5)])
    assert len(engine.storage.alarms()) == 1 and kinds(engine) == [("h1", "t_high")]
    feed(engine, "h1", [(2700, 48.9)])
    assert kinds(engine) == []
    [alarm] = engine.storage.alarms()
    assert alarm["cleared_s"] == 2700 and alarm["cleared_value"] == 48.9
    # A new excursion is a new alarm.
    feed(engine, "h1", [(3000, 51.0), (3600, 51.0)])
    assert [a["id"] for a in engine.storage.alarms(True)] != [alarm["id"]]
    assert len(engine.storage.alarms()) == 2


def test_very_high_and_low_use_the_entrance_thresholds_for_the_entrance(engine):
    feed(engine, "entrance", [(0, 66.0), (600, 66.0)])
    assert sorted(kinds(engine)) == [("entrance", "t_high"), ("entrance", "t_very_high")]
    feed(engine, "entrance", [(700, 63.9)])  # below 65 - 1: very high clears, high stays
    assert kinds(engine) == [("entrance", "t_high")]
    feed(engine, "h2", [(0, 24.0), (600, 24.0)])  # 24 is low for the entrance, not for h2
    feed(engine, "h2", [(700, 19.0), (1300, 19.5)])
    assert ("h2", "t_low") in kinds(engine)
    feed(engine, "h2", [(1400, 20.5)])  # within 20 + 1: held
    assert ("h2", "t_low") in kinds(engine)
    feed(engine, "h2", [(1500, 21.5)])
    assert ("h2", "t_low") not in kinds(engine)


def test_acknowledge_then_clear_and_clear_then_acknowledge(engine):
    feed(engine, "h1", [(0, 61.0), (600, 61.0)])
    [high, very] = engine.storage.alarms(True)
    acked = engine.acknowledge(very["id"], "alice")
    assert acked["acked_by"] == "alice" and acked["acked_s"] == 5000.0
    assert acked["cleared_s"] is None  # acknowledging does not clear
    with pytest.raises(AlarmError, match="already acknowledged"):
        engine.acknowledge(very["id"], "bob")
    with pytest.raises(AlarmError, match="no alarm"):
        engine.acknowledge(12345, "bob")
    feed(engine, "h1", [(900, 45.0)])
    assert kinds(engine) == []
    # A cleared, unacknowledged alarm can still be acknowledged.
    assert engine.acknowledge(high["id"], "bob")["cleared_s"] == 900
    audit = [(who, action) for _, who, action, *_ in engine.storage.audit_log()]
    assert ("alice", "acknowledge_alarm") in audit and ("bob", "acknowledge_alarm") in audit


def test_sensor_fault_holds_temperature_alarms_and_recovery_leaves_nothing_stale(engine):
    feed(engine, "h1", [(0, 51.0), (600, 51.0)])
    feed(engine, "h1", [(700, None)], sensor_ok=False)
    assert kinds(engine) == [("h1", "t_high")]  # null readings for less than min_duration_s
    feed(engine, "h1", [(1000, None), (1300, None)], sensor_ok=False)
    assert sorted(kinds(engine)) == [("h1", "sensor_fault"), ("h1", "t_high")]
    feed(engine, "h1", [(1400, 40.0)], sensor_ok=True)
    assert kinds(engine) == []
    # a board just booted: its probe null for a few minutes, then good: no alarm
    feed(engine, "h2", [(1400, None), (1580, None)], sensor_ok=False)
    feed(engine, "h2", [(1640, 40.0)], sensor_ok=True)
    assert ("h2", "sensor_fault") not in kinds(engine, open_only=False)
    feed(engine, "h1", [(1500, 40.0)], valve_ok=False)
    assert kinds(engine) == [("h1", "valve_stuck")]
    feed(engine, "h1", [(1600, 40.0)], valve_ok=True)
    assert kinds(engine) == []


def test_late_backfill_is_not_evaluated_and_cannot_reraise(engine):
    feed(engine, "h1", [(1000, 51.0), (1600, 51.0), (1700, 45.0)])
    assert len(engine.storage.alarms()) == 1 and kinds(engine) == []
    feed(engine, "h1", [(1100, 70.0), (1650, 70.0)])  # older than 1700: stored, not judged
    assert len(engine.storage.alarms()) == 1 and kinds(engine) == []


def test_offline_and_board_events(engine):
    with engine.storage.transaction():
        engine.board_transition(SITE, UNIT, False, "timeout", 100.0)
        engine.board_transition(SITE, UNIT, False, "last-will", 110.0)  # no duplicate
        ev = {"ts_s": 120, "seq": 5, "severity": "alarm"}
        engine.board_event(SITE, UNIT, {**ev, "event": "sensor_fault", "valve": "h3"})
        engine.board_event(SITE, UNIT, {**ev, "event": "outbox_overflow"})
        engine.board_event(SITE, UNIT, {**ev, "event": "boot", "severity": "info"})
    assert sorted(kinds(engine)) == [
        ("-", "event:outbox_overflow"),
        ("-", "offline"),
        ("h3", "sensor_fault"),
    ]
    with engine.storage.transaction():
        engine.board_transition(SITE, UNIT, True, "birth", 130.0)
        engine.board_event(SITE, UNIT, {**ev, "event": "sensor_ok", "valve": "h3"})
    assert kinds(engine) == [("-", "event:outbox_overflow")]
    [event_alarm] = engine.storage.alarms(True)
    engine.acknowledge(event_alarm["id"], "ops")  # an event alarm clears when acknowledged
    assert kinds(engine) == []


def test_thresholds_per_household_and_per_entrance_refuse_inconsistent_limits(engine):
    engine.set_thresholds(SITE, UNIT, "h1", {"t_high_c": 45.0, "min_duration_s": 0}, "ops")
    engine.set_thresholds(SITE, UNIT, "*", {"t_low_c": 15.0}, "ops")
    assert engine.thresholds_for(SITE, UNIT, "h1").t_high_c == 45.0
    assert engine.thresholds_for(SITE, UNIT, "h2").t_low_c == 15.0
    assert engine.thresholds_for(SITE, UNIT, "entrance").t_low_c == 25.0
    feed(engine, "h1", [(0, 46.0)])
    assert kinds(engine) == [("h1", "t_high")]
    with pytest.raises(AlarmError):
        engine.set_thresholds(SITE, UNIT, "h2", {"t_high_c": 70.0}, "ops")  # above very high
    assert engine.thresholds_for(SITE, UNIT, "h2").t_high_c == 50.0
    # The overrides survive a restart of the engine; open alarms too.
    again = Alarms(engine.storage, CFG)
    assert again.thresholds_for(SITE, UNIT, "h1").t_high_c == 45.0
    assert list(again.open) == [(SITE, UNIT, "h1", "t_high")]
    audit = [r for _, _, a, _, _, r in engine.storage.audit_log() if a == "set_thresholds"]
    assert sum(r.startswith("refused") for r in audit) == 1


def test_the_database_itself_refuses_a_second_open_alarm(engine, storage):
    key = (SITE, UNIT, "h1", "t_high")
    with storage.transaction():
        storage.raise_alarm(key, "warning", 1.0, 51.0, "x")
    with pytest.raises(Exception), storage.transaction():  # noqa: B017 - driver-specific
        storage.raise_alarm(key, "warning", 2.0, 52.0, "y")
    assert len(storage.alarms(open_only=True)) == 1
