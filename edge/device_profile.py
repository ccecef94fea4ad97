"""Device profiles: a Modbus device's register map as data (boards/profiles/*.json).

A profile says which register holds what, with which function code, data type, scaling, byte
order and word order (boards/profiles/README.md). Its `device` says what it describes and so
which points it must and may have:

- `valve` (the default): a household valve on RS-485; return temperature and measured
  opening read, the commanded opening written;
- `room`: a room panel on RS-485; room temperature (and battery charge) read, nothing written;
- `station`: a heat exchange station's PLC over Modbus TCP; supply and return temperatures,
  pressures, flow, heat, pump speed and power, outdoor temperature and the supply set-point
  in force read; the pump speed (or differential-pressure set-point) and supply set-point
  written, and where the PLC has them a remote/local switch and a heartbeat counter.

`Profile(doc)` validates a profile and raises ValueError naming the profile and the field at
fault; `decode` / `encode` convert between registers and engineering values. Shared by the
RS-485 bus (edge.household_valves) and the station link (edge.station).
"""

import struct

_TYPES = {
    "int16": (1, ">h"),
    "uint16": (1, ">H"),
    "int32": (2, ">i"),
    "uint32": (2, ">I"),
    "float32": (2, ">f"),
}
# device: (points it must read, points it may read, points it must write, points it may write)
DEVICES = {
    "valve": (("t_return_c", "opening_meas_pct"), (), ("opening_cmd_pct",), ()),
    "room": (("t_room_c",), ("battery_pct",), (), ()),
    "station": (
        ("t_supply_c", "t_return_c"),
        (
            "p_supply_kpa",
            "p_return_kpa",
            "flow_m3h",
            "heat_kw",
            "pump_speed_pct",
            "pump_power_kw",
            "t_outdoor_c",
            "t_supply_setpoint_c",
        ),
        ("t_supply_cmd_c",),
        ("pump_speed_cmd_pct", "dp_setpoint_cmd_kpa", "remote_cmd", "heartbeat_cmd"),
    ),
}
_MAX_BLOCK = 32  # registers read in one transaction at most


def _fail(name, field, why):
    raise ValueError("profile {}: {} {}".format(name, field, why))


class Profile:
    """A validated device profile (see boards/profiles/README.md)."""

    def __init__(self, doc):
        name = doc.get("profile") if type(doc) is dict else None
        if type(name) is not str or not name:
            raise ValueError("profile: missing its name (field profile)")
        self.name = name
        self.byte_order = doc.get("byte_order", "big")
        self.word_order = doc.get("word_order", "big")
        for field, value in (("byte_order", self.byte_order), ("word_order", self.word_order)):
            if value not in ("big", "little"):
                _fail(name, field, "must be big or little")
        self.register_base = doc.get("register_base", 0)
        if self.register_base not in (0, 1):
            _fail(name, "register_base", "must be 0 or 1")
        self.timeout_ms = doc.get("timeout_ms", 100)
        self.retries = doc.get("retries", 1)
        self.device = doc.get("device", "valve")
        if self.device not in DEVICES:
            _fail(name, "device", "must be one of " + ", ".join(sorted(DEVICES)))
        required, optional, writes, optional_writes = DEVICES[self.device]
        points = doc.get("points")
        if type(points) is not dict:
            _fail(name, "points", "must be an object")
        known = required + optional + writes + optional_writes
        for key in points:
            if key not in known:
                _fail(name, "points." + key, "is not a point of a {} profile".format(self.device))
        for key in required + writes:
            if key not in points:
                _fail(name, "points." + key, "is missing")
        self.read_points = tuple(k for k in required + optional if k in points)
        self.write_points = tuple(k for k in writes + optional_writes if k in points)
        self.points = {}
        for key in self.read_points + self.write_points:
            self.points[key] = self._point(name, key, points[key])
        for key in self.read_points:
            if self.points[key]["fc"] not in (3, 4):
                _fail(name, "points.{}.fc".format(key), "must be 3 or 4 (read)")
        for key in self.write_points:
            wfc = self.points[key]["fc"]
            if wfc not in (6, 16):
                _fail(name, "points.{}.fc".format(key), "must be 6 or 16 (write)")
            if wfc == 6 and self.points[key]["words"] != 1:
                _fail(name, "points." + key, "32-bit values need function 16")
        self.blocks = self._blocks()

    def _point(self, name, key, p):
        where = "points." + key
        if type(p) is not dict:
            _fail(name, where, "must be an object")
        kind = p.get("type", "uint16")
        if kind not in _TYPES:
            _fail(name, where + ".type", "must be one of " + ", ".join(sorted(_TYPES)))
        reg = p.get("register")
        if type(reg) is not int or not self.register_base <= reg <= 65535:
            _fail(name, where + ".register", "must be an integer register number")
        scale = p.get("scale", 1)
        offset = p.get("offset", 0)
        if type(scale) not in (int, float) or scale == 0 or type(offset) not in (int, float):
            _fail(name, where, "scale must be a non-zero number, offset a number")
        invalid = p.get("invalid")
        if invalid is not None and type(invalid) not in (int, float):
            _fail(name, where + ".invalid", "must be the raw number meaning 'no value'")
        return {
            "fc": p.get("fc", 3),
            "reg": reg - self.register_base,
            "words": _TYPES[kind][0],
            "fmt": _TYPES[kind][1],
            "scale": scale,
            "offset": offset,
            "invalid": invalid,
        }

    def _blocks(self):
        """Read transactions: (fc, first register, count, [point names]); contiguous reads of
        the same function are merged into one."""
        blocks = []  # type: list
        for key in self.read_points:
            p = self.points[key]
            for b in blocks:
                lo = min(b[1], p["reg"])
                hi = max(b[1] + b[2], p["reg"] + p["words"])
                if b[0] == p["fc"] and hi - lo <= _MAX_BLOCK:
                    b[1], b[2] = lo, hi - lo
                    b[3].append(key)
                    break
            else:
                blocks.append([p["fc"], p["reg"], p["words"], [key]])
        return blocks

    # --------------------------------------------------------------- value <-> words ----

    def _to_bytes(self, words):
        raw = bytearray(2 * len(words))
        order = list(range(len(words)))
        if self.word_order == "little":
            order.reverse()
        for j, i in enumerate(order):
            w = words[i]
            hi, lo = w >> 8, w & 0xFF
            if self.byte_order == "little":
                hi, lo = lo, hi
            raw[2 * j] = hi
            raw[2 * j + 1] = lo
        return raw

    def _from_bytes(self, raw):
        n = len(raw) // 2
        words = [0] * n
        for j in range(n):
            hi, lo = raw[2 * j], raw[2 * j + 1]
            if self.byte_order == "little":
                hi, lo = lo, hi
            words[j] = (hi << 8) | lo
        if self.word_order == "little":
            words.reverse()
        return words

    def decode(self, key, words):
        """Engineering value of point `key` from its registers; None for the invalid marker."""
        p = self.points[key]
        raw = struct.unpack(p["fmt"], self._to_bytes(words))[0]
        if p["invalid"] is not None and raw == p["invalid"]:
            return None
        if raw != raw:  # a NaN float32
            return None
        return raw * p["scale"] + p["offset"]

    def encode(self, key, value):
        """Registers that hold `value` for point `key`."""
        p = self.points[key]
        raw = (value - p["offset"]) / p["scale"]
        if p["fmt"] != ">f":
            raw = int(raw + 0.5) if raw >= 0 else -int(-raw + 0.5)
        return self._from_bytes(struct.pack(p["fmt"], raw))


def load_profiles(folder):
    """{name: Profile} from every *.json file in folder (boards/profiles on the board)."""
    import json
    import os

    out = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json"):
            with open(folder + "/" + name) as f:
                prof = Profile(json.load(f))
            out[prof.name] = prof
    return out
