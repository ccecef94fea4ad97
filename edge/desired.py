"""Desired state from the host: targets and configuration, versioned and acknowledged.

The host publishes each unit's desired targets and config retained (docs/protocol.md), so the
board receives the newest version on every (re)subscribe, including a change made while it
was offline. For each message:

1. decode and validate it against the protocol (shared.protocol); refuse it with the
   ProtocolError reason when it breaks the contract;
2. compare versions with the one in force: older is refused ("older than ..."); the same
   version is acknowledged again without re-applying it (the retained copy comes back after
   every reconnect, and the first ack may have been lost with the link);
3. hand it to the application, which checks it against the board (a target for a valve the
   board does not have, a config its loops cannot take), persists it atomically and puts it
   in force, or refuses it with a reason and changes nothing (edge.app `apply_config` /
   `apply_targets`: the one place desired state is stored on flash);
4. acknowledge: `applied`, or `refused` with the reason.

So an invalid message changes nothing, and after a reboot the board runs on the last
targets and config it accepted, with no host in sight.
"""

import json

from shared import protocol

_OF = {protocol.TARGETS: "targets", protocol.CONFIG: "config", protocol.STATION: "station"}


def _version_of(payload):
    """The version field of a payload we could not validate (0 when there is none)."""
    try:
        msg = json.loads(bytes(payload).decode("utf-8"))
        version = msg.get("version")
        if type(version) is int and 0 <= version <= protocol.MAX_SEQ:
            return version
    except Exception:  # noqa: BLE001 - anything unreadable has no version
        pass
    return 0


def _clip(text):
    limit = protocol.MAX_TEXT_LEN
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Desired:
    """Applies desired targets and config and acknowledges each message.

    clock:      for the ack timestamps (`time_s()`)
    version_of: version_of(kind) -> the version in force (0 for none)
    apply:      apply(kind, msg) -> (True, "") once msg is persisted and in force, or
                (False, reason) when the board refuses it (nothing changed)
    send_ack:   send_ack(payload bytes) -> bool (False when the link is down)
    """

    def __init__(self, clock, version_of, apply, send_ack):
        self.clock = clock
        self._version_of = version_of
        self._apply = apply
        self._send_ack = send_ack
        self.last_acks = []  # the last few ack dicts (diagnostics, tests)
        self.applied = 0
        self.refused = 0

    def handle(self, kind, payload):
        """Handle one desired-state message; returns the ack dict it sent (or tried to)."""
        if kind not in _OF:
            raise ValueError("not a desired-state kind: " + str(kind))
        try:
            msg = protocol.decode(kind, payload)
        except protocol.ProtocolError as exc:
            return self._ack(kind, _version_of(payload), "refused", str(exc))
        version = msg["version"]
        current = self._version_of(kind)
        if version < current:
            return self._ack(
                kind,
                version,
                "refused",
                "version {} is older than version {} in force".format(version, current),
            )
        if version == current:
            return self._ack(kind, version, "applied")
        try:
            ok, reason = self._apply(kind, msg)
        except OSError as exc:  # the flash write failed: nothing is in force
            ok, reason = False, "cannot persist: {}".format(exc)
        if not ok:
            return self._ack(kind, version, "refused", reason or "refused by the board")
        self.applied += 1
        return self._ack(kind, version, "applied")

    def _ack(self, kind, version, result, reason=None):
        ack = {"ts_s": self.clock.time_s(), "of": _OF[kind], "version": version, "result": result}
        if reason:
            ack["reason"] = _clip(reason)
        if result == "refused":
            self.refused += 1
        self.last_acks.append(ack)
        if len(self.last_acks) > 8:
            self.last_acks.pop(0)
        self._send_ack(protocol.encode(protocol.ACK, ack))
        return ack
