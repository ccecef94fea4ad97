"""Versioned schema migrations, shared by SQLite and PostgreSQL.

Each migration is (version, name, statements). Statements use placeholders for the few types
the two databases spell differently: {id} (auto-increment primary key), {big} (64-bit
integer), {real} (double). A migration runs once, in one transaction, and is recorded in
`schema_migrations`; never edit an applied migration: add the next version instead.

Telemetry partitions (one pair of tables per calendar month) are not migrations: the storage
backend creates them on demand from its own template (see sqlite.py and postgres.py). A
migration that changes the telemetry columns lists its version in PARTITION_MIGRATIONS: after
its statements the backend alters the partitions that already exist (`_migrate_partitions`).
"""

from __future__ import annotations

from collections.abc import Sequence

Migration = tuple[int, str, Sequence[str]]
# Migrations after which the backend adds telemetry columns to its existing partitions.
PARTITION_MIGRATIONS = frozenset({3, 4})

MIGRATIONS: tuple[Migration, ...] = (
    (
        1,
        "initial: units, registry, boards, events, refusals, desired, audit, alarms",
        (
            """CREATE TABLE units (
                id {id}, site TEXT NOT NULL, unit TEXT NOT NULL, entrance_id TEXT,
                created_s {big} NOT NULL, UNIQUE (site, unit))""",
            """CREATE TABLE stations (id TEXT PRIMARY KEY, site TEXT NOT NULL, name TEXT)""",
            """CREATE TABLE buildings (
                id TEXT PRIMARY KEY, station_id TEXT NOT NULL REFERENCES stations (id),
                name TEXT, floors INTEGER)""",
            """CREATE TABLE entrances (
                id TEXT PRIMARY KEY, building_id TEXT NOT NULL REFERENCES buildings (id),
                site TEXT NOT NULL, unit TEXT NOT NULL, UNIQUE (site, unit))""",
            """CREATE TABLE households (
                id TEXT PRIMARY KEY, entrance_id TEXT NOT NULL REFERENCES entrances (id),
                floor INTEGER, position TEXT, household_type TEXT, heated_area_m2 {real},
                has_room_sensor INTEGER NOT NULL DEFAULT 0, point TEXT,
                UNIQUE (entrance_id, point))""",
            """CREATE TABLE devices (
                id TEXT PRIMARY KEY, site TEXT NOT NULL, unit TEXT NOT NULL, point TEXT NOT NULL,
                kind TEXT NOT NULL, entrance_id TEXT REFERENCES entrances (id),
                household_id TEXT REFERENCES households (id), UNIQUE (site, unit, point))""",
            """CREATE TABLE boards (
                unit_id {big} PRIMARY KEY REFERENCES units (id), status TEXT NOT NULL,
                status_s {big} NOT NULL, status_reason TEXT NOT NULL, last_seen_s {real},
                fw TEXT, board TEXT, boot_reason TEXT, safe_mode INTEGER,
                targets_version {big}, config_version {big}, outbox_depth {big},
                dropped_total {big}, health TEXT, last_seq {big})""",
            """CREATE TABLE events (
                unit_id {big} NOT NULL REFERENCES units (id), seq {big} NOT NULL,
                ts_s {big} NOT NULL, received_s {real} NOT NULL, event TEXT NOT NULL,
                severity TEXT NOT NULL, valve TEXT, value {real}, detail TEXT,
                PRIMARY KEY (unit_id, seq))""",
            """CREATE TABLE refusals (
                site TEXT NOT NULL, unit TEXT NOT NULL, reason TEXT NOT NULL,
                count {big} NOT NULL, last_s {real} NOT NULL, last_detail TEXT,
                PRIMARY KEY (site, unit, reason))""",
            """CREATE TABLE desired (
                unit_id {big} NOT NULL REFERENCES units (id), of TEXT NOT NULL,
                version {big} NOT NULL, payload TEXT NOT NULL, issued_s {real} NOT NULL,
                issued_by TEXT NOT NULL, status TEXT NOT NULL, status_s {real} NOT NULL,
                reason TEXT, PRIMARY KEY (unit_id, of, version))""",
            """CREATE TABLE audit (
                id {id}, ts_s {real} NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL,
                target TEXT NOT NULL, detail TEXT, result TEXT NOT NULL)""",
            """CREATE TABLE thresholds (
                site TEXT NOT NULL, unit TEXT NOT NULL, point TEXT NOT NULL,
                t_low_c {real}, t_high_c {real}, t_very_high_c {real}, hysteresis_c {real},
                min_duration_s {big}, PRIMARY KEY (site, unit, point))""",
            """CREATE TABLE alarms (
                id {id}, site TEXT NOT NULL, unit TEXT NOT NULL, point TEXT NOT NULL,
                kind TEXT NOT NULL, severity TEXT NOT NULL, raised_s {real} NOT NULL,
                raised_value {real}, message TEXT, acked_s {real}, acked_by TEXT,
                cleared_s {real}, cleared_value {real}, clear_reason TEXT)""",
            # At most one open alarm per (site, unit, point, kind): no duplicate raise, ever.
            """CREATE UNIQUE INDEX alarms_open ON alarms (site, unit, point, kind)
                WHERE cleared_s IS NULL""",
            """CREATE TABLE partitions (
                name TEXT PRIMARY KEY, start_s {big} NOT NULL, end_s {big} NOT NULL)""",
        ),
    ),
    (
        2,
        "API users, balancing settings per station, balancing decisions",
        (
            """CREATE TABLE users (
                name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
                created_s {real} NOT NULL, disabled INTEGER NOT NULL DEFAULT 0)""",
            """CREATE TABLE strategy_settings (
                station_id TEXT PRIMARY KEY REFERENCES stations (id), settings TEXT NOT NULL,
                updated_s {real} NOT NULL, updated_by TEXT NOT NULL)""",
            # One row per valve per balancing run: what was decided, why, and from what.
            """CREATE TABLE decisions (
                id {id}, run_id {big} NOT NULL, station_id TEXT NOT NULL, ts_s {real} NOT NULL,
                site TEXT NOT NULL, unit TEXT NOT NULL, valve TEXT NOT NULL,
                old_target_c {real}, new_target_c {real}, reason TEXT NOT NULL,
                group_mean_c {real}, inputs TEXT NOT NULL, trigger TEXT NOT NULL,
                desired_version {big})""",
            """CREATE INDEX decisions_station ON decisions (station_id, ts_s)""",
            # A valve an operator has taken over: the balancer leaves it alone until released.
            """CREATE TABLE overrides (
                site TEXT NOT NULL, unit TEXT NOT NULL, valve TEXT NOT NULL,
                target_c {real}, opening_pct {real}, set_s {real} NOT NULL,
                set_by TEXT NOT NULL, PRIMARY KEY (site, unit, valve))""",
        ),
    ),
    (
        3,
        "room readings and room estimates; the outdoor temperature in telemetry",
        (
            # One row per reading of a room sensor; a reading relayed twice (the same sensor
            # and time in two records) is stored once.
            """CREATE TABLE room_readings (
                site TEXT NOT NULL, unit TEXT NOT NULL, sensor TEXT NOT NULL,
                ts_s {big} NOT NULL, household_id TEXT NOT NULL, t_room_c {real},
                sensor_ok INTEGER, battery_pct {real}, rssi_dbm {real}, flag TEXT,
                received_s {real} NOT NULL, PRIMARY KEY (site, unit, sensor, ts_s))""",
            """CREATE INDEX room_readings_household ON room_readings (household_id, ts_s)""",
            # One row per household per estimator run (measured: the value is a sensor's).
            """CREATE TABLE room_estimates (
                household_id TEXT NOT NULL, ts_s {big} NOT NULL, station_id TEXT NOT NULL,
                t_room_c {real}, se_c {real}, measured INTEGER NOT NULL, method TEXT NOT NULL,
                PRIMARY KEY (household_id, ts_s))""",
            """CREATE INDEX room_estimates_station ON room_estimates (station_id, ts_s)""",
        ),
    ),
    (
        4,
        "the station in the loop: pump and supply telemetry, station control and decisions",
        (
            # What an operator set for a station's own strategies (JSON), and the state the
            # strategies carry from one period to the next (pump speed, offset, last change).
            """CREATE TABLE station_control (
                station_id TEXT PRIMARY KEY REFERENCES stations (id), settings TEXT NOT NULL,
                state TEXT, updated_s {real} NOT NULL, updated_by TEXT NOT NULL)""",
            # One row per station decision: what was asked of the station, why, from what.
            """CREATE TABLE station_decisions (
                id {id}, station_id TEXT NOT NULL, ts_s {real} NOT NULL, trigger TEXT NOT NULL,
                site TEXT, unit TEXT, pump_speed_pct {real}, t_supply_c {real},
                offset_c {real}, pump_reason TEXT NOT NULL, supply_reason TEXT NOT NULL,
                inputs TEXT NOT NULL, desired_version {big}, outcome TEXT NOT NULL)""",
            """CREATE INDEX station_decisions_station ON station_decisions (station_id, ts_s)""",
        ),
    ),
)
