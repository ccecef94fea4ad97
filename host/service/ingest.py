"""Ingest: every delivered message is decoded, checked, and then stored or counted as refused.

`Ingest.process(deliveries)` handles one batch in one database transaction: telemetry (deduped
on (unit, seq), stored with the board's own `ts_s`), events, birth/death state, acks, the
alarms they cause, and the refusal counters. The caller acknowledges the deliveries to the
broker only after it returns, i.e. after the commit; if it raises, nothing of the batch is
stored and nothing is acknowledged.

Refusal reasons (per site, unit and reason, in the `refusals` table, the metrics and the log):
the protocol's codes (`size`, `encoding`, `json`, `version`, `missing`, `type`, `range`,
`value`, `nan`, `inconsistent`, `topic`, `kind`), plus `unknown-site`, `unknown-unit`,
`clock` (stamped more than `max_clock_ahead_s` in the future), `replayed` (a (unit, seq)
already stored: a QoS 1 redelivery or an outbox replay), `unknown-version` (an ack of a desired
version never issued) and `internal` (a bug: logged with its traceback).

Room readings (`rooms` of a stored, not replayed, `tele` record) are stored under the household
their sensor is linked to (a `room_sensor` device at (site, unit, point = sensor id)), with the
reading's own time and its plausibility flag (host/control/room_sensors.py, which also raises
the room sensor alarms). A reading from a sensor linked to no household is refused with reason
`unlinked-sensor` (one count per reading; the detail names site, unit and sensor) while the
rest of its record is stored.

`latest[(site, unit)]` is the newest record of a board that has valves: what the balancer
reads. A record without valves (a rooms-only record, a station unit's) replaces it only while
the board has sent none with valves; the newest reading of each sensor is in `latest_rooms`.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from host.control.alarms import Alarms
from host.control.desired import Desired
from host.control.room_sensors import RoomSensors
from host.service.boards import Boards
from host.service.mqtt_link import Delivery
from host.storage import RoomReading, Storage, TeleMessage, tele_rows
from shared import protocol as p

log = logging.getLogger(__name__)

_DB_ERRORS = (sqlite3.Error, psycopg.Error)
NO_UNIT = "-"  # unit label of refusals whose topic names no valid unit

Refuse = Callable[[str, str, str, str], None]  # (site, unit, reason, detail)
Tele = tuple[TeleMessage, str, str, dict[str, Any]]  # (message, site, unit, decoded)


@dataclass
class Metrics:
    """Counters since the service started (the `refusals` table keeps the totals)."""

    received: Counter[str] = field(default_factory=Counter)  # by kind
    processed: int = 0  # deliveries committed (a plain int, readable from any thread)
    stored_messages: Counter[str] = field(default_factory=Counter)  # by kind
    stored_records: int = 0
    room_readings: int = 0  # room readings stored
    refused: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    batches: int = 0
    commit_s_sum: float = 0.0
    commit_s_max: float = 0.0
    lag_s_max: float = 0.0  # arrival to commit, worst message in the last batch

    def refused_total(self) -> int:
        return sum(self.refused.values())


class Ingest:
    """Decodes, checks and stores batches of deliveries."""

    def __init__(
        self,
        storage: Storage,
        sites: Sequence[str],
        boards: Boards,
        alarms: Alarms,
        desired: Desired,
        accept_unknown_units: bool = False,
        max_clock_ahead_s: int = 86400,
        clock: Callable[[], float] = time.time,
        room_sensors: RoomSensors | None = None,
    ) -> None:
        self.storage = storage
        self.sites = frozenset(sites)
        self.boards = boards
        self.alarms = alarms
        self.desired = desired
        self.accept_unknown_units = accept_unknown_units
        self.max_clock_ahead_s = max_clock_ahead_s
        self.clock = clock
        self.metrics = Metrics()
        # The newest telemetry message of each board (by board time): what the balancer and
        # the API's "latest values" read. Not persisted: after a restart the boards refill it
        # within one collection period, and until then the balancer holds every target.
        self.latest: dict[tuple[str, str], dict[str, Any]] = {}
        # The newest reading of each room sensor of a board: {sensor: reading}; not persisted
        # either (storage has every reading: Storage.latest_room_readings).
        self.latest_rooms: dict[tuple[str, str], dict[str, RoomReading]] = {}
        self.room_sensors = room_sensors or RoomSensors(storage, alarms)

    def process(self, deliveries: Sequence[Delivery]) -> None:
        """Handle a batch in one transaction (raises, with nothing stored, on a DB error)."""
        now_s = self.clock()
        refused: dict[tuple[str, str, str], list[Any]] = {}
        stored: Counter[str] = Counter()
        tele: list[Tele] = []
        received = Counter(d.topic.rsplit("/", 1)[-1] for d in deliveries)

        def refuse(site: str, unit: str, reason: str, detail: str) -> None:
            entry = refused.setdefault((site, unit, reason), [0, ""])
            entry[0] += 1
            entry[1] = detail

        try:
            with self.storage.transaction():
                for d in deliveries:
                    try:
                        self._one(d, now_s, tele, refuse, stored)
                    except _DB_ERRORS:
                        raise
                    except Exception as exc:  # a bug must not stop the service or the count
                        log.exception("internal error on %s", d.topic)
                        refuse(NO_UNIT, NO_UNIT, "internal", f"{d.topic}: {exc!r}")
                records = self._store_tele(tele, now_s, refuse, stored)
                self.boards.flush()
                self.storage.count_refusals(
                    {k: (n, detail) for k, (n, detail) in refused.items()}, now_s
                )
        except BaseException:
            self.room_sensors.forget()  # judged readings that were not stored
            raise
        done_s = self.clock()
        m = self.metrics
        m.received.update(received)
        m.processed += len(deliveries)
        m.stored_messages.update(stored)
        m.stored_records += records
        for key, (n, detail) in refused.items():
            m.refused[key] += n
            log.warning("refused %d from %s/%s: %s (%s)", n, key[0], key[1], key[2], detail)
        m.batches += 1
        m.commit_s_sum += done_s - now_s
        m.commit_s_max = max(m.commit_s_max, done_s - now_s)
        if deliveries:
            m.lag_s_max = done_s - min(d.received_s for d in deliveries)

    def _one(
        self, d: Delivery, now_s: float, tele: list[Tele], refuse: Refuse, stored: Counter[str]
    ) -> None:
        try:
            site, unit, kind = p.parse_topic(d.topic)
        except p.ProtocolError as exc:
            refuse(NO_UNIT, NO_UNIT, exc.reason, f"{d.topic[:120]}: {exc.detail}")
            return
        if kind not in p.UPLINK:
            refuse(site, unit, "kind", f"{kind} is not an uplink kind")
            return
        if site not in self.sites:
            refuse(site, unit, "unknown-site", site)
            return
        if not d.payload and d.retain:
            return  # a retained message being cleared: nothing to store
        try:
            msg = p.decode(kind, d.payload)
        except p.ProtocolError as exc:
            refuse(site, unit, exc.reason, f"{kind}: {exc.detail}")
            return
        uid = self.storage.unit_id(site, unit)
        if uid is None:
            if not self.accept_unknown_units:
                refuse(site, unit, "unknown-unit", f"{kind} from an unregistered unit")
                return
            uid = self.storage.add_unit(site, unit)
        ts_s = msg.get("ts_s")
        if ts_s is not None and ts_s > now_s + self.max_clock_ahead_s and kind != p.STATE:
            refuse(site, unit, "clock", f"{kind} ts_s {ts_s} is in the future")
            return
        key = (site, unit)
        if kind == p.TELE:
            tele.append(
                (TeleMessage(uid, msg["seq"], ts_s, d.received_s, tele_rows(msg)), site, unit, msg)
            )
        elif kind == p.EVENT:
            if not self.storage.insert_event(uid, msg, d.received_s):
                refuse(site, unit, "replayed", f"event seq {msg['seq']}")
                return
            stored[kind] += 1
            self.boards.on_data(key, uid, d.received_s, ts_s, msg["seq"])
            self.alarms.board_event(site, unit, msg)
        elif kind == p.STATE:
            self.boards.on_state(key, uid, msg, d.received_s)
            stored[kind] += 1
        else:  # ACK
            bad = self.desired.on_ack(site, unit, uid, msg)
            self.boards.on_data(key, uid, d.received_s, ts_s)
            if bad:
                refuse(site, unit, bad, f"ack of {msg['of']} v{msg['version']}")
            else:
                stored[kind] += 1

    def _store_tele(
        self, tele: list[Tele], now_s: float, refuse: Refuse, stored: Counter[str]
    ) -> int:
        if not tele:
            return 0
        new = self.storage.insert_telemetry([t[0] for t in tele])
        fresh = []
        records = 0
        for (m, site, unit, msg), is_new in zip(tele, new, strict=True):
            if not is_new:
                refuse(site, unit, "replayed", f"tele seq {m.seq}")
                continue
            records += len(m.rows)
            fresh.append((m, site, unit, msg))
        stored[p.TELE] += len(fresh)
        fresh.sort(key=lambda t: (t[0].unit_id, t[0].ts_s, t[0].seq))
        links: dict[tuple[str, str], dict[str, str]] = {}
        for m, site, unit, msg in fresh:
            newest = self.latest.get((site, unit))
            if _replaces(msg, newest):
                self.latest[(site, unit)] = msg
            if msg.get("rooms"):
                self._store_rooms(m, site, unit, msg["rooms"], links, refuse)
            self.boards.on_data(
                (site, unit), m.unit_id, m.received_s, m.ts_s, m.seq, msg.get("health")
            )
            for row in m.rows:
                # row: point, t_return_c, ..., opening_cmd_pct (3), sensor_ok (7), valve_ok (8)
                if row[3] is None:
                    continue  # the entrance meters' own record: no valve, no probe
                self.alarms.observe(site, unit, row[0], m.ts_s, row[1], row[7], row[8])
        return records

    def _store_rooms(
        self,
        m: TeleMessage,
        site: str,
        unit: str,
        rooms: list[dict[str, Any]],
        links: dict[tuple[str, str], dict[str, str]],
        refuse: Refuse,
    ) -> None:
        """Judge and store the room readings of one new record."""
        key = (site, unit)
        if key not in links:
            links[key] = self.storage.room_sensor_links(site, unit)
        readings = []
        newest = self.latest_rooms.setdefault(key, {})
        for room in rooms:
            sensor = room["sensor"]
            household_id = links[key].get(sensor)
            if household_id is None:
                refuse(
                    site,
                    unit,
                    "unlinked-sensor",
                    f"{site}/{unit} sensor {sensor!r} is linked to no household",
                )
                continue
            ts_s = int(room.get("ts_s", m.ts_s))
            t_c, ok = room["t_room_c"], room.get("sensor_ok")
            reading = RoomReading(
                household_id,
                site,
                unit,
                sensor,
                ts_s,
                t_c,
                ok,
                room.get("battery_pct"),
                room.get("rssi_dbm"),
                self.room_sensors.judge(site, unit, sensor, ts_s, t_c, ok),
            )
            readings.append(reading)
            if sensor not in newest or ts_s >= newest[sensor].ts_s:
                newest[sensor] = reading
        self.metrics.room_readings += self.storage.insert_room_readings(readings, m.received_s)


def _replaces(msg: dict[str, Any], newest: dict[str, Any] | None) -> bool:
    """Whether a new record becomes its board's `latest`: the newest record with valves; one
    without valves only while the board has sent none with valves."""
    if newest is None:
        return True
    if msg["valves"]:
        return not newest["valves"] or msg["ts_s"] >= newest["ts_s"]
    return not newest["valves"] and msg["ts_s"] >= newest["ts_s"]
