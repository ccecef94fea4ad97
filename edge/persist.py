"""Configuration and state on flash, written atomically.

`save(path, data)` writes `path + ".tmp"`, closes it, then renames it over `path`: rename
is atomic on LittleFS and FAT, so a power cut leaves either the old or the new file, never a
half-written one. Each file holds {"crc": CRC-32 of the data's JSON text, "data": ...}, so a file
damaged any other way (flash wear, a bit flip) is caught too.

`load(path, defaults, events)` returns the stored data, or a copy of `defaults` when the
file is missing; a corrupt file is renamed to `path + ".bad"` for diagnosis, an event
`state_corrupt` is emitted and the defaults are used. A stale `.tmp` from an interrupted
write is ignored and removed.
"""

import json
import os

try:
    from binascii import crc32
except ImportError:  # a port built without binascii.crc32
    crc32 = None  # type: ignore[assignment]


def _checksum(text):
    if crc32 is None:
        total = 0
        for ch in text:
            total = (total * 31 + ord(ch)) & 0xFFFFFFFF
        return total
    return crc32(text.encode()) & 0xFFFFFFFF


# The checksum covers the data's JSON text exactly as written: {"crc": 0123456789, "data": ...}
_HEAD = '{{"crc": {:010d}, "data": '


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def save(path, data):
    """Write data as JSON to path atomically (temporary file, then rename)."""
    body = json.dumps(data)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(_HEAD.format(_checksum(body)))
        f.write(body)
        f.write("}")
    os.rename(tmp, path)


def load(path, defaults, events=None):
    """The data stored at path; defaults (copied) when missing or corrupt."""
    if _exists(path + ".tmp"):
        try:
            os.remove(path + ".tmp")
        except OSError:
            pass
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return _copy(defaults)
    reason = None
    data = None
    n = len(_HEAD.format(0))
    body = text[n:-1]
    if len(text) <= n or text[:8] != '{"crc": ' or text[-1:] != "}":
        reason = "truncated or not a state file"
    else:
        try:
            if int(text[8:18]) != _checksum(body):
                reason = "checksum mismatch"
            else:
                data = json.loads(body)
        except ValueError as exc:
            reason = "unreadable: {}".format(exc)
    if reason is None and type(data) is not type(defaults):
        reason = "wrong type"
    if reason is None:
        return data
    try:
        os.rename(path, path + ".bad")
    except OSError:
        pass
    if events is not None:
        events.emit("state_corrupt", "warning", None, None, "{}: {}".format(path, reason))
    return _copy(defaults)


def _copy(obj):
    return json.loads(json.dumps(obj))


def remove(path):
    try:
        os.remove(path)
    except OSError:
        pass
