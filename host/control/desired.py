"""Desired state: versioned targets and configuration per unit, published retained.

`set()` gives the new desired state the next version for that unit and kind, checks it with
`shared.protocol`, stores it as `pending` and audits the command (who, what, when), commits,
and only then publishes it retained at QoS 1 (so an ack can never race ahead of the record).
Because it is retained, a board that was offline receives the newest version as soon as it
subscribes again. Acks move a version to `applied` or `refused` (with the board's reason);
a newer version supersedes a pending older one. At start the service republishes every unit's
newest desired state, so a broker that lost its retained store is repaired.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from host.errors import RefusedError
from host.storage import Storage
from shared import protocol as p

log = logging.getLogger(__name__)

KINDS = {"targets": p.TARGETS, "config": p.CONFIG, "station": p.STATION}
Publish = Callable[[str, bytes, bool], None]  # (topic, payload, retain); raises on failure


class CommandError(RefusedError, ValueError):
    """A command refused before it reached any board; `reason` is a short code."""


class Desired:
    """Issues desired state and tracks acknowledgements."""

    def __init__(
        self, storage: Storage, publish: Publish, clock: Callable[[], float] = time.time
    ) -> None:
        self.storage = storage
        self.publish = publish
        self.clock = clock

    def set(self, site: str, unit: str, of: str, body: dict[str, Any], who: str) -> int:
        """Issue new desired `of` ("targets", "config" or "station") for a unit; return its
        version.

        `body` is the message without `version` and `ts_s` (a config is complete, not a
        delta). Raises CommandError (audited) if the unit is unknown or the body invalid.
        """
        target = f"{site}/{unit}"
        action = f"set_{of}"
        if of not in KINDS:
            raise CommandError("kind", f"{of!r} is not one of {', '.join(KINDS)}")
        refusal: CommandError | None = None
        with self.storage.transaction():
            try:
                uid = self.storage.unit_id(site, unit)
                if uid is None:
                    raise CommandError("unknown-unit", target)
                latest = self.storage.latest_desired(uid, of)
                version = (latest[0] if latest else 0) + 1
                msg = {k: v for k, v in body.items() if k not in ("version", "ts_s")}
                msg.update(version=version, ts_s=int(self.clock()))
                try:
                    payload = p.encode(KINDS[of], msg)
                except p.ProtocolError as exc:
                    raise CommandError(exc.reason, exc.detail) from None
            except CommandError as exc:
                refusal = exc  # audited in this transaction, raised after its commit
                self.storage.audit(who, action, target, body, f"refused: {exc}")
            else:
                self.storage.add_desired(uid, of, version, payload.decode(), self.clock(), who)
                self.storage.audit(who, action, target, {"version": version, **body}, "pending")
        if refusal is not None:
            raise refusal
        self._publish(site, unit, of, version, payload, who)
        return version

    def _publish(self, site: str, unit: str, of: str, version: int, payload: bytes, who: str):
        try:
            self.publish(p.topic(site, unit, KINDS[of]), payload, True)
            result = "published"
        except Exception as exc:  # the broker is away: paho keeps it queued, start republishes
            result = f"queued: {exc}"
            log.warning("desired %s v%d for %s/%s not confirmed: %s", of, version, site, unit, exc)
        with self.storage.transaction():
            self.storage.audit(
                who, f"publish_{of}", f"{site}/{unit}", {"version": version}, result
            )

    def on_ack(self, site: str, unit: str, unit_id: int, msg: dict[str, Any]) -> str | None:
        """Record a board's ack (call inside the ingest transaction). Returns a refusal
        reason when the ack names a version never issued, else None."""
        status = msg["result"]
        reason = msg.get("reason")
        known = self.storage.set_desired_status(
            unit_id, msg["of"], msg["version"], status, reason, self.clock()
        )
        result = status + (f": {reason}" if reason else "")
        if not known:
            result = f"unknown version ({result})"
        self.storage.audit(
            f"board:{site}/{unit}",
            f"ack_{msg['of']}",
            f"{site}/{unit}",
            {"version": msg["version"]},
            result,
        )
        return None if known else "unknown-version"

    def republish_all(self) -> int:
        """Publish every unit's newest desired states again (retained); return how many."""
        rows = self.storage.latest_desired_all()
        for site, unit, of, version, payload in rows:
            self._publish(site, unit, of, int(version), payload.encode(), "service:start")
        return len(rows)

    def status(self, site: str, unit: str) -> dict[str, dict[str, Any]]:
        """Newest version per kind with its status: {"targets": {...}, "config": {...}}."""
        out: dict[str, dict[str, Any]] = {}
        for of, version, status, reason in self.storage.desired_rows(site, unit):
            out[of] = {"version": int(version), "status": status, "reason": reason}
        return out

    def payload(self, site: str, unit: str, of: str) -> dict[str, Any] | None:
        uid = self.storage.unit_id(site, unit)
        latest = self.storage.latest_desired(uid, of) if uid is not None else None
        return json.loads(latest[1]) if latest else None
