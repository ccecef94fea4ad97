"""Board state: online/offline, last seen, firmware, health, outbox depth, dropped records.

A board is online from its birth message (`state` online) and offline from its last will or
clean `state` offline, or when nothing was heard from it for `offline_timeout_s` (checked
every tick, so the detection delay is at most timeout + tick). Live data from a board marked
offline brings it back online ("data"); backfilled data (stamped older than the timeout) does
not, since it proves nothing about the board now.

Times: `last_seen_s` and `status_s` are host wall-clock seconds of arrival. The tracker runs
on the service's single ingest thread, in the same order as the messages and ticks, so a
message that arrived before a tick is always counted before the timeout is judged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from host.storage import Storage

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (site, unit)
# Called on every transition: (site, unit, online, reason, now_s).
Transition = Callable[[str, str, bool, str, float], None]


class Boards:
    """In-memory board table, persisted with each ingest batch."""

    def __init__(self, storage: Storage, offline_timeout_s: float, on_transition: Transition):
        self.storage = storage
        self.offline_timeout_s = offline_timeout_s
        self.on_transition = on_transition
        self.state: dict[Key, dict[str, Any]] = {}
        self._ids: dict[Key, int] = {}
        self._dirty: set[Key] = set()
        self.reload()

    def reload(self) -> None:
        """Re-read the table (at start, and after a rolled-back batch)."""
        self.state = self.storage.boards()
        self._dirty.clear()

    def _board(self, key: Key, unit_id: int) -> dict[str, Any]:
        self._ids[key] = unit_id
        if key not in self.state:
            self.state[key] = {"status": "unknown", "status_s": 0, "status_reason": "new"}
        self._dirty.add(key)
        return self.state[key]

    def _set_status(
        self, key: Key, board: dict[str, Any], online: bool, reason: str, now_s: float
    ) -> None:
        status = "online" if online else "offline"
        changed = board["status"] != status
        board.update(status=status, status_s=int(now_s), status_reason=reason)
        if changed:
            log.info("%s/%s %s (%s)", key[0], key[1], status, reason)
            self.on_transition(key[0], key[1], online, reason, now_s)

    def on_state(self, key: Key, unit_id: int, msg: dict[str, Any], now_s: float) -> None:
        """A birth (`online`) or death (`offline`, usually the last will) message."""
        board = self._board(key, unit_id)
        online = msg["status"] == "online"
        if online:
            board["last_seen_s"] = now_s
            for name in ("fw", "board", "boot_reason", "targets_version", "config_version"):
                if name in msg:
                    board[name] = msg[name]
            if "safe_mode" in msg:
                board["safe_mode"] = int(msg["safe_mode"])
        self._set_status(key, board, online, "birth" if online else "last-will", now_s)

    def on_data(
        self,
        key: Key,
        unit_id: int,
        now_s: float,
        ts_s: int | None = None,
        seq: int | None = None,
        health: dict[str, Any] | None = None,
    ) -> None:
        """Any message from the board: telemetry, event or ack."""
        board = self._board(key, unit_id)
        live = ts_s is None or now_s - ts_s <= self.offline_timeout_s
        if not live:
            board["last_seq"] = max(board.get("last_seq") or 0, seq or 0)
            return
        board["last_seen_s"] = max(board.get("last_seen_s") or 0.0, now_s)
        if seq is not None:
            board["last_seq"] = max(board.get("last_seq") or 0, seq)
        if health:
            board["health"] = json.dumps(health, sort_keys=True)
            for name in ("outbox_depth", "dropped_total"):
                if name in health:
                    board[name] = health[name]
        if board["status"] != "online":
            self._set_status(key, board, True, "data", now_s)

    def grace(self, now_s: float) -> None:
        """At start: silence while the host was not listening proves nothing, so the timeout
        of a board online when the host stopped counts from now (its retained last will
        still turns a board that died meanwhile offline at once)."""
        for board in self.state.values():
            if board["status"] == "online":
                board["last_seen_s"] = max(board.get("last_seen_s") or 0.0, now_s)

    def tick(self, now_s: float) -> None:
        """Mark boards silent for longer than the timeout offline."""
        for key, board in self.state.items():
            seen = board.get("last_seen_s") or 0.0
            if board["status"] == "online" and now_s - seen > self.offline_timeout_s:
                if key not in self._ids:
                    uid = self.storage.unit_id(*key)
                    if uid is None:
                        continue
                    self._ids[key] = uid
                self._dirty.add(key)
                self._set_status(key, board, False, "timeout", now_s)

    def flush(self) -> None:
        """Write changed boards (call inside the batch's transaction)."""
        for key in self._dirty:
            self.storage.save_board(self._ids[key], self.state[key])
        self._dirty.clear()

    def online(self, site: str, unit: str) -> bool:
        return self.state.get((site, unit), {}).get("status") == "online"
