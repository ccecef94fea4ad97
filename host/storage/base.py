"""The host's storage: one object that owns the connection, with the tables by concern.

`Storage` is what `open_storage(url)` returns (a backend subclass: sqlite.py, postgres.py).
It is the connection (host/storage/connection.py: transactions, migrations, the generic
`fetch_one`/`fetch_all` for tests and ad-hoc reads) composed with one mixin per concern, each
in its own module with the SQL of its tables:

- units.py: the boards data are stored under, and the entrance each serves
- telemetry.py: the records, partitioned by month (the partitions are the backend's)
- events.py: board events, refused messages
- boards.py: each board's newest state
- desired.py: the targets and config issued, with their status
- audit.py: who did what
- alarms.py: alarms and their thresholds
- registry.py: stations, buildings, entrances, households, devices
- users.py: API users
- balancing.py: strategy settings, overrides, decisions
- rooms.py: room sensor readings (judged) and room temperature estimates
- stations.py: the station strategies' settings, state and decisions

No SQL lives outside host/storage/: the rest of the host calls these methods by name
(tests/host/test_storage_layout.py checks it).
"""

from __future__ import annotations

from host.storage.alarms import AlarmTables
from host.storage.audit import AuditTables
from host.storage.balancing import BalancingTables
from host.storage.boards import BoardTables
from host.storage.connection import Connection, StorageError
from host.storage.desired import DesiredTables
from host.storage.events import EventTables
from host.storage.registry import RegistryTables
from host.storage.rooms import RoomReading, RoomTables
from host.storage.stations import StationTables
from host.storage.telemetry import (
    ENTRANCE_POINT,
    QUERY_FIELDS,
    STATION_POINT,
    TELE_COLUMNS,
    TeleMessage,
    TelemetryTables,
    month_bounds,
    tele_rows,
)
from host.storage.units import UnitTables
from host.storage.users import UserTables

__all__ = [
    "ENTRANCE_POINT",
    "STATION_POINT",
    "QUERY_FIELDS",
    "TELE_COLUMNS",
    "Connection",
    "RoomReading",
    "Storage",
    "StorageError",
    "TeleMessage",
    "month_bounds",
    "tele_rows",
]


class Storage(
    RoomTables,
    TelemetryTables,
    UnitTables,
    EventTables,
    BoardTables,
    DesiredTables,
    AuditTables,
    AlarmTables,
    RegistryTables,
    UserTables,
    BalancingTables,
    StationTables,
):
    """The host's database: one connection, every concern's tables. Backends subclass it."""
