"""The evenheat MQTT protocol: topics, message kinds and payload validation.

Imported by the board (MicroPython) and by the host (CPython), so it is written in the common
subset: no dataclasses, typing, enum or f-strings; json only. The contract it implements is
documented, field by field with units, in docs/protocol.md; the schema below is the source.

Usage::

    from shared import protocol as p
    topic = p.topic("estate-7", "b12-e2", p.TELE)
    payload = p.encode(p.TELE, {"ts_s": 1763800000, "seq": 41, "valves": [...]})
    site, unit, kind = p.parse_topic(topic)
    msg = p.decode(kind, payload)          # raises p.ProtocolError(reason, detail)

Sans-IO: nothing here opens a socket or reads a clock.
"""

import json

SCHEMA_VERSION = 1
ROOT = "evenheat/v1"
MAX_PAYLOAD_BYTES = 8192
MAX_VALVES = 33  # the entrance valve and up to 32 household valves
MAX_ROOMS = 32  # room sensors one unit reports (RS-485 panels, or a gateway's battery sensors)
MAX_ID_LEN = 32
MAX_TEXT_LEN = 200
MAX_SEQ = 2147483647
MAX_TS_S = 4102444800  # 2100-01-01 UTC: anything later is a broken clock, not a date

# Message kinds: the last topic level(s).
TELE = "tele"
STATE = "state"
EVENT = "event"
TARGETS = "desired/targets"
CONFIG = "desired/config"
STATION = "desired/station"
ACK = "ack"
KINDS = (TELE, STATE, EVENT, TARGETS, CONFIG, STATION, ACK)

# Delivery per kind: every kind is QoS 1; the birth/death state and desired state are retained
# so a late subscriber (a restarted host, a board back from an outage) gets the current value.
QOS = {TELE: 1, STATE: 1, EVENT: 1, TARGETS: 1, CONFIG: 1, STATION: 1, ACK: 1}
RETAIN = {
    TELE: False,
    STATE: True,
    EVENT: False,
    TARGETS: True,
    CONFIG: True,
    STATION: True,
    ACK: False,
}
UPLINK = (TELE, STATE, EVENT, ACK)  # board to host
DOWNLINK = (TARGETS, CONFIG, STATION)  # host to board


class ProtocolError(ValueError):
    """A message or topic that breaks the contract.

    `reason` is a short machine-readable code (see REASONS); `detail` says where and why.
    """

    def __init__(self, reason, detail=""):
        super().__init__(reason + (": " + detail if detail else ""))
        self.reason = reason
        self.detail = detail


REASONS = (
    "size",  # payload larger than MAX_PAYLOAD_BYTES
    "encoding",  # not UTF-8
    "json",  # not parseable JSON, or not a JSON object
    "version",  # schema version missing or not SCHEMA_VERSION
    "missing",  # a required field is absent
    "type",  # a field has the wrong JSON type
    "range",  # a number outside its range, a string too long, a list too long
    "value",  # not one of the allowed values, or a malformed identifier
    "nan",  # NaN or infinity
    "inconsistent",  # fields that contradict each other (e.g. min above max)
    "topic",  # a topic outside the tree
    "kind",  # an unknown message kind
)

# ---------------------------------------------------------------------------------------------
# Schema as data. A field spec is (name, type, required, a, b):
#   _NUM  a..b inclusive, finite int or float      _NUMN  the same, or null (a failed sensor)
#   _INT  a..b inclusive, integer                  _BOOL  true or false
#   _STR  1..b characters                          _ID    identifier, see _check_id
#   _ENUM value in the tuple a                     _OBJ   object following spec a
#   _LIST list of at most b objects following spec a
#   _MAP  object of at most b entries: identifier -> object following spec a
# Unknown fields are tolerated everywhere (forward compatibility).
_NUM, _NUMN, _INT, _BOOL, _STR, _ID, _ENUM, _OBJ, _LIST, _MAP = range(10)

_VALVE = (
    ("id", _ID, True, 0, 0),
    ("t_return_c", _NUMN, True, -20, 150),
    ("target_c", _NUMN, False, 0, 100),
    ("opening_cmd_pct", _NUM, True, 0, 100),
    ("opening_meas_pct", _NUMN, False, 0, 100),
    ("pi_integral_pct", _NUM, False, -200, 200),
    ("mode", _ENUM, False, ("auto", "hold", "frozen", "failsafe", "manual"), 0),
    ("sensor_ok", _BOOL, False, 0, 0),
    ("valve_ok", _BOOL, False, 0, 0),
)
_ENTRANCE = (
    ("t_supply_c", _NUMN, False, -20, 150),
    ("t_return_c", _NUMN, False, -20, 150),
    ("p_supply_kpa", _NUMN, False, 0, 2500),
    ("p_return_kpa", _NUMN, False, 0, 2500),
    ("flow_m3h", _NUMN, False, -50, 500),
    ("heat_kw", _NUMN, False, -1000, 20000),
    ("t_outdoor_c", _NUMN, False, -60, 60),
)
_ROOM = (
    ("sensor", _ID, True, 0, 0),
    ("t_room_c", _NUMN, True, -40, 80),
    ("ts_s", _INT, False, 0, MAX_TS_S),
    ("sensor_ok", _BOOL, False, 0, 0),
    ("battery_pct", _NUMN, False, 0, 100),
    ("rssi_dbm", _NUMN, False, -130, 0),
)
# A heat exchange station, reported by the unit that runs it (a station board, or a gateway
# to the station's PLC): `mode` says who is in charge of pump and supply set-point.
STATION_MODES = ("host", "local", "offline")
STATION_TELE = (
    ("t_supply_c", _NUMN, False, -20, 150),
    ("t_return_c", _NUMN, False, -20, 150),
    ("p_supply_kpa", _NUMN, False, 0, 2500),
    ("p_return_kpa", _NUMN, False, 0, 2500),
    ("flow_m3h", _NUMN, False, -50, 5000),
    ("heat_kw", _NUMN, False, -1000, 200000),
    ("pump_speed_pct", _NUMN, False, 0, 100),
    ("pump_power_kw", _NUMN, False, 0, 5000),
    ("t_outdoor_c", _NUMN, False, -60, 60),
    ("t_supply_setpoint_c", _NUMN, False, 0, 150),
    ("pump_speed_cmd_pct", _NUMN, False, 0, 100),
    ("dp_setpoint_cmd_kpa", _NUMN, False, 0, 2500),
    ("mode", _ENUM, True, STATION_MODES, 0),
    ("command_version", _INT, False, 0, MAX_SEQ),
)
_HEALTH = (
    ("heap_free_b", _INT, False, 0, 1 << 30),
    ("heap_min_b", _INT, False, 0, 1 << 30),
    ("uptime_s", _INT, False, 0, MAX_SEQ),
    ("rssi_dbm", _NUMN, False, -130, 0),
    ("outbox_depth", _INT, False, 0, MAX_SEQ),
    ("dropped_total", _INT, False, 0, MAX_SEQ),
    ("boot_count", _INT, False, 0, MAX_SEQ),
)
_TELE = (
    ("ts_s", _INT, True, 0, MAX_TS_S),
    ("seq", _INT, True, 0, MAX_SEQ),
    ("time_synced", _BOOL, False, 0, 0),
    ("valves", _LIST, True, _VALVE, MAX_VALVES),
    ("entrance", _OBJ, False, _ENTRANCE, 0),
    ("rooms", _LIST, False, _ROOM, MAX_ROOMS),
    ("station", _OBJ, False, STATION_TELE, 0),
    ("health", _OBJ, False, _HEALTH, 0),
)
_STATE = (
    ("status", _ENUM, True, ("online", "offline"), 0),
    ("ts_s", _INT, False, 0, MAX_TS_S),
    ("fw", _STR, False, 0, MAX_ID_LEN),
    ("board", _ID, False, 0, 0),
    ("boot_reason", _STR, False, 0, MAX_ID_LEN),
    ("safe_mode", _BOOL, False, 0, 0),
    ("targets_version", _INT, False, 0, MAX_SEQ),
    ("config_version", _INT, False, 0, MAX_SEQ),
    ("station_version", _INT, False, 0, MAX_SEQ),
)
_EVENT = (
    ("ts_s", _INT, True, 0, MAX_TS_S),
    ("seq", _INT, True, 0, MAX_SEQ),
    ("event", _ID, True, 0, 0),
    ("severity", _ENUM, True, ("info", "warning", "alarm"), 0),
    ("valve", _ID, False, 0, 0),
    ("value", _NUMN, False, -1e9, 1e9),
    ("detail", _STR, False, 0, MAX_TEXT_LEN),
)
_TARGET = (
    ("t_return_c", _NUM, True, 15, 95),
    ("opening_ff_pct", _NUMN, False, 0, 100),
    # operator's manual opening: the board holds it, its PI loop suspended (null: none)
    ("manual_opening_pct", _NUMN, False, 0, 100),
)
_TARGETS = (
    ("version", _INT, True, 1, MAX_SEQ),
    ("ts_s", _INT, True, 0, MAX_TS_S),
    ("valid_for_s", _INT, False, 60, 90 * 86400),
    ("targets", _MAP, True, _TARGET, MAX_VALVES),
)
_CONFIG = (
    ("version", _INT, True, 1, MAX_SEQ),
    ("ts_s", _INT, True, 0, MAX_TS_S),
    ("collection_period_s", _INT, False, 5, 3600),
    ("control_period_s", _INT, False, 30, 7200),
    ("precision_c", _NUM, False, 0.05, 5),
    ("kp_pct_per_c", _NUM, False, 0, 100),
    ("ti_s", _NUM, False, 30, 86400),
    ("opening_min_pct", _NUM, False, 0, 100),
    ("opening_max_pct", _NUM, False, 0, 100),
    ("failsafe_opening_pct", _NUM, False, 0, 100),
    ("rate_limit_pct", _NUM, False, 0.1, 100),
    ("alarm_t_low_c", _NUM, False, -20, 150),
    ("alarm_t_high_c", _NUM, False, -20, 150),
    ("alarm_t_very_high_c", _NUM, False, -20, 150),
)
# What the host asks of a station. A quantity left out (or null) is the station's own: its
# local heating curve for the supply, its own speed control for the pump.
_STATION_CMD = (
    ("version", _INT, True, 1, MAX_SEQ),
    ("ts_s", _INT, True, 0, MAX_TS_S),
    ("valid_for_s", _INT, False, 300, 86400),
    ("pump_speed_pct", _NUMN, False, 0, 100),
    ("dp_setpoint_kpa", _NUMN, False, 0, 2500),
    ("t_supply_c", _NUMN, False, 15, 95),
    ("curve_offset_k", _NUMN, False, -20, 20),
)
_ACK = (
    ("ts_s", _INT, True, 0, MAX_TS_S),
    ("of", _ENUM, True, ("targets", "config", "station"), 0),
    ("version", _INT, True, 0, MAX_SEQ),
    ("result", _ENUM, True, ("applied", "refused"), 0),
    ("reason", _STR, False, 0, MAX_TEXT_LEN),
)
SCHEMAS = {
    TELE: _TELE,
    STATE: _STATE,
    EVENT: _EVENT,
    TARGETS: _TARGETS,
    CONFIG: _CONFIG,
    STATION: _STATION_CMD,
    ACK: _ACK,
}


def _is_number(x):
    # Exact type checks: bool is an int subclass on CPython but not on MicroPython.
    return type(x) is int or type(x) is float


def _check_id(value, where):
    if type(value) is not str:
        raise ProtocolError("type", where + " must be a string")
    if not 0 < len(value) <= MAX_ID_LEN:
        raise ProtocolError("range", where + " must have 1 to 32 characters")
    for ch in value:
        if not (ch.isalpha() or ch.isdigit() or ch in "-_") or ord(ch) > 127:
            raise ProtocolError("value", where + " may use only A-Z a-z 0-9 - _")


def _check_number(value, lo, hi, where):
    if not _is_number(value):
        raise ProtocolError("type", where + " must be a number")
    if value - value != 0:
        raise ProtocolError("nan", where + " must be finite")
    if value < lo or value > hi:
        raise ProtocolError("range", "{} = {} outside {}..{}".format(where, value, lo, hi))


def _check_field(value, ftype, a, b, where):
    if ftype == _NUMN:
        if value is not None:
            _check_number(value, a, b, where)
    elif ftype == _NUM:
        _check_number(value, a, b, where)
    elif ftype == _INT:
        if type(value) is not int:
            raise ProtocolError("type", where + " must be an integer")
        if value < a or value > b:
            raise ProtocolError("range", "{} = {} outside {}..{}".format(where, value, a, b))
    elif ftype == _BOOL:
        if type(value) is not bool:
            raise ProtocolError("type", where + " must be true or false")
    elif ftype == _STR:
        if type(value) is not str:
            raise ProtocolError("type", where + " must be a string")
        if len(value) > b:
            raise ProtocolError("range", "{} longer than {} characters".format(where, b))
    elif ftype == _ID:
        _check_id(value, where)
    elif ftype == _ENUM:
        if value not in a:
            raise ProtocolError("value", "{} must be one of {}".format(where, ", ".join(a)))
    elif ftype == _OBJ:
        _check_object(value, a, where)
    elif ftype == _LIST:
        if type(value) is not list:
            raise ProtocolError("type", where + " must be a list")
        if len(value) > b:
            raise ProtocolError("range", "{} has more than {} entries".format(where, b))
        for i, item in enumerate(value):
            _check_object(item, a, "{}[{}]".format(where, i))
    elif ftype == _MAP:
        if type(value) is not dict:
            raise ProtocolError("type", where + " must be an object")
        if len(value) > b:
            raise ProtocolError("range", "{} has more than {} entries".format(where, b))
        for key in value:
            _check_id(key, where + " key")
            _check_object(value[key], a, where + "." + key)


def _check_object(obj, spec, where):
    if type(obj) is not dict:
        raise ProtocolError("type", (where or "payload") + " must be an object")
    prefix = where + "." if where else ""
    for name, ftype, required, a, b in spec:
        if name in obj:
            _check_field(obj[name], ftype, a, b, prefix + name)
        elif required:
            raise ProtocolError("missing", prefix + name)


def _check_ordered(msg, names):
    """Fields present among `names` must be strictly increasing in that order."""
    last = None
    for name in names:
        if name in msg:
            if last is not None and msg[name] <= msg[last]:
                raise ProtocolError("inconsistent", "{} must be above {}".format(name, last))
            last = name


def _check_consistency(kind, msg):
    if kind == TELE:
        seen = set()
        for valve in msg["valves"]:
            if valve["id"] in seen:
                raise ProtocolError("inconsistent", "valve id {} repeated".format(valve["id"]))
            seen.add(valve["id"])
        seen = set()
        for room in msg.get("rooms", ()):
            if room["sensor"] in seen:
                raise ProtocolError("inconsistent", "sensor {} repeated".format(room["sensor"]))
            seen.add(room["sensor"])
            if room.get("ts_s", 0) > msg["ts_s"]:
                raise ProtocolError("inconsistent", "a room reading newer than its record")
    elif kind == CONFIG:
        lo = msg.get("opening_min_pct", 0)
        hi = msg.get("opening_max_pct", 100)
        if lo > hi:
            raise ProtocolError("inconsistent", "opening_min_pct above opening_max_pct")
        if msg.get("collection_period_s", 0) > msg.get("control_period_s", 7200):
            raise ProtocolError("inconsistent", "collection_period_s above control_period_s")
        _check_ordered(msg, ("alarm_t_low_c", "alarm_t_high_c", "alarm_t_very_high_c"))
    elif kind == STATION:
        for a, b in (("pump_speed_pct", "dp_setpoint_kpa"), ("t_supply_c", "curve_offset_k")):
            if msg.get(a) is not None and msg.get(b) is not None:
                raise ProtocolError("inconsistent", "{} and {} exclude each other".format(a, b))
    elif kind == ACK:
        if msg["result"] == "refused" and not msg.get("reason"):
            raise ProtocolError("missing", "reason (required when result is refused)")


def validate(kind, msg):
    """Check a decoded message of `kind`; return it unchanged or raise ProtocolError."""
    spec = SCHEMAS.get(kind)
    if spec is None:
        raise ProtocolError("kind", "unknown message kind {!r}".format(kind))
    if type(msg) is not dict:
        raise ProtocolError("json", "payload must be a JSON object")
    if "v" not in msg:
        raise ProtocolError("version", "schema version field v is missing")
    if msg["v"] != SCHEMA_VERSION or type(msg["v"]) is not int:
        raise ProtocolError(
            "version", "schema version {!r} is not {}".format(msg["v"], SCHEMA_VERSION)
        )
    _check_object(msg, spec, "")
    _check_consistency(kind, msg)
    return msg


def encode(kind, msg):
    """Validate and serialise a message to compact UTF-8 JSON bytes (adds v when absent)."""
    if type(msg) is dict and "v" not in msg:
        msg = dict(msg)
        msg["v"] = SCHEMA_VERSION
    validate(kind, msg)
    data = json.dumps(msg, separators=(",", ":")).encode("utf-8")
    if len(data) > MAX_PAYLOAD_BYTES:
        raise ProtocolError("size", "{} bytes > {}".format(len(data), MAX_PAYLOAD_BYTES))
    return data


def decode(kind, payload):
    """Parse and validate payload bytes of `kind`; return the message dict or raise."""
    if type(kind) is not str or kind not in SCHEMAS:
        raise ProtocolError("kind", "unknown message kind {!r}".format(kind))
    if type(payload) is str:
        payload = payload.encode("utf-8")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ProtocolError("size", "{} bytes > {}".format(len(payload), MAX_PAYLOAD_BYTES))
    try:
        payload = bytes(payload).decode("utf-8")
    except (UnicodeError, ValueError):
        raise ProtocolError("encoding", "payload is not UTF-8") from None
    try:
        msg = json.loads(payload)
    except (ValueError, TypeError):
        raise ProtocolError("json", "payload is not valid JSON") from None
    return validate(kind, msg)


# --------------------------------------------------------------------------------- topics ----


def topic(site, unit, kind):
    """The topic of `kind` for one unit: evenheat/v1/<site>/<unit>/<kind>."""
    _check_id(site, "site")
    _check_id(unit, "unit")
    if kind not in SCHEMAS:
        raise ProtocolError("kind", "unknown message kind {!r}".format(kind))
    return "{}/{}/{}/{}".format(ROOT, site, unit, kind)


def parse_topic(name):
    """Split a topic into (site, unit, kind); raise ProtocolError("topic"/"kind") if foreign."""
    if type(name) is bytes:
        name = name.decode("utf-8")
    prefix = ROOT + "/"
    if not name.startswith(prefix):
        raise ProtocolError("topic", "not under " + ROOT)
    parts = name[len(prefix) :].split("/", 2)
    if len(parts) != 3:
        raise ProtocolError("topic", "expected <site>/<unit>/<kind>")
    site, unit, kind = parts
    try:
        _check_id(site, "site")
        _check_id(unit, "unit")
    except ProtocolError as exc:
        raise ProtocolError("topic", exc.detail) from None
    if kind not in SCHEMAS:
        raise ProtocolError("kind", "unknown message kind {!r}".format(kind))
    return site, unit, kind


def host_subscriptions(site="+"):
    """Topic filters the host subscribes to for one site (or every site with "+")."""
    return ["{}/{}/+/{}".format(ROOT, site, kind) for kind in UPLINK]


def board_subscriptions(site, unit):
    """Topic names a board subscribes to: its own desired state."""
    return [topic(site, unit, kind) for kind in DOWNLINK]


def last_will(site, unit):
    """(topic, payload) of the retained offline state the broker publishes if the board dies."""
    return topic(site, unit, STATE), encode(STATE, {"status": "offline"})
