"""Load and validate a board definition (boards/<board>.json); see boards/README.md.

`load(path)` and `validate(obj)` return the definition with defaults filled in, or raise
`BoardError` whose `field` names the offending entry ("valves[0].actuator.in1") and whose
message says why. Nothing here touches hardware: the caller keeps the board in its safe
state (no actuator pin configured, motors unpowered) when a definition is refused.
"""

import json

from edge import platform

ACTUATORS = ("hbridge", "relays3pt", "sim")
FEEDBACKS = ("as5600", "pot_adc", "sim")
SENSORS = ("ds18b20", "max31865_pt1000", "ntc_adc", "pressure_4_20ma", "sim")
BUSES = ("i2c", "spi", "onewire")
OUTPUTS = ("pwm", "sim")  # analogue outputs: PWM and an RC filter (edge/drivers/pwm_out.py)
ENTRANCE_ROLES = ("t_supply", "t_return", "p_supply", "p_return", "t_outdoor")
MAX_VALVES = 33  # all valves of a board, local and RS-485 (shared.protocol.MAX_VALVES)
MAX_ROOMS = 32  # all room sensors of a board, local and RS-485 (shared.protocol.MAX_ROOMS)
TEMPERATURE_SENSORS = ("ds18b20", "max31865_pt1000", "ntc_adc", "sim")
PRESSURE_SENSORS = ("pressure_4_20ma", "sim")
BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
PARITIES = ("N", "E", "O")


class BoardError(ValueError):
    """A broken board definition: `field` is where, the message says what."""

    def __init__(self, field, reason):
        super().__init__("board definition: {}: {}".format(field, reason))
        self.field = field
        self.reason = reason


def load(path):
    """Read and validate a board definition file."""
    problem = None
    try:
        with open(path) as f:
            obj = json.load(f)
    except OSError as exc:
        problem = "cannot read {}: {}".format(path, exc)
    except ValueError as exc:
        problem = "{} is not valid JSON: {}".format(path, exc)
    if problem is not None:  # raised here: MicroPython has no exception chaining
        raise BoardError("file", problem)
    return validate(obj)


def _get(obj, key, field, kind, default=None, required=True):
    if key not in obj or (obj[key] is None and not required):
        if required:
            raise BoardError(field + key, "missing")
        return default
    value = obj[key]
    if kind == "int":
        ok = type(value) is int
    elif kind == "num":
        ok = type(value) is int or type(value) is float
    elif kind == "str":
        ok = type(value) is str and 0 < len(value) <= 32
    elif kind == "id":  # a protocol identifier: 1 to 32 of A-Z a-z 0-9 - _
        ok = type(value) is str and 0 < len(value) <= 32
        if ok:
            for ch in value:
                if not (ch.isalpha() or ch.isdigit() or ch in "-_") or ord(ch) > 127:
                    ok = False
        if not ok:
            raise BoardError(field + key, "must be an identifier: 1 to 32 of A-Z a-z 0-9 - _")
    elif kind == "obj":
        ok = type(value) is dict
    elif kind == "list":
        ok = type(value) is list
    else:
        ok = type(value) is bool
    if not ok:
        raise BoardError(field + key, "must be of type " + kind)
    return value


def _num(obj, key, field, lo, hi, default=None, required=True):
    value = _get(obj, key, field, "num", default, required)
    if value is not None and not lo <= value <= hi:
        raise BoardError(field + key, "{} outside {}..{}".format(value, lo, hi))
    return value


class _Pins:
    """Checks pin numbers against the port and that no pin is used twice."""

    def __init__(self, port):
        self.port = port
        self.spec = platform.PORTS[port]
        self.used = {}

    def take(self, obj, key, field, output=False, adc=False):
        pin = _get(obj, key, field, "int")
        where = field + key
        if self.port == "unix":
            return pin
        if pin not in self.spec["pins"]:
            raise BoardError(
                where, "GPIO {} does not exist or is reserved on {}".format(pin, self.port)
            )
        if output and pin in self.spec["input_only"]:
            raise BoardError(where, "GPIO {} is input-only on {}".format(pin, self.port))
        if adc and pin not in self.spec["adc"]:
            raise BoardError(where, "GPIO {} has no usable ADC on {}".format(pin, self.port))
        if pin in self.used:
            raise BoardError(where, "GPIO {} is already used by {}".format(pin, self.used[pin]))
        self.used[pin] = where
        return pin


def validate(obj):
    """Check a decoded board definition; return it with defaults filled in."""
    if type(obj) is not dict:
        raise BoardError("file", "must be a JSON object")
    if _get(obj, "format", "", "int") != 1:
        raise BoardError("format", "only format 1 is known")
    _get(obj, "board", "", "str")
    port = _get(obj, "port", "", "str")
    if port not in platform.PORTS:
        raise BoardError("port", "unknown port {!r}".format(port))
    wdt_max = platform.PORTS[port]["wdt_max_ms"]
    _num(obj, "watchdog_ms", "", 1000, wdt_max)
    obj["sample_period_ms"] = _num(obj, "sample_period_ms", "", 1000, 60000, 5000, False)
    obj["failsafe_opening_pct"] = _num(obj, "failsafe_opening_pct", "", 0, 100)
    pins = _Pins(port)
    reserved = _get(obj, "reserved_pins", "", "obj", {}, False)
    for purpose in reserved:
        for pin in reserved[purpose]:
            pins.used[pin] = "reserved_pins." + purpose
    obj["reserved_pins"] = reserved
    buses = _get(obj, "buses", "", "obj", {}, False)
    obj["buses"] = buses
    for name in buses:
        _check_bus(buses[name], "buses." + name + ".", pins)
    sensors = _get(obj, "sensors", "", "obj", {}, False)
    obj["sensors"] = sensors
    for name in sensors:
        _check_sensor(sensors[name], "sensors." + name + ".", pins, buses)
    outputs = _get(obj, "outputs", "", "obj", {}, False)
    obj["outputs"] = outputs
    for name in outputs:
        _check_output(outputs[name], "outputs." + name + ".", pins)
    valves = _get(obj, "valves", "", "list")
    if len(valves) > MAX_VALVES:
        raise BoardError("valves", "must list at most {} valves".format(MAX_VALVES))
    seen = []
    encoders = {}  # type: dict
    for i, valve in enumerate(valves):
        field = "valves[{}].".format(i)
        if type(valve) is not dict:
            raise BoardError(field[:-1], "must be an object")
        vid = _get(valve, "id", field, "str")
        if vid in seen:
            raise BoardError(field + "id", "duplicate valve id {!r}".format(vid))
        seen.append(vid)
        _check_valve(valve, field, pins, buses, sensors, encoders)
    rs485 = _get(obj, "rs485", "", "obj", None, False)
    if rs485 is not None:
        _check_rs485(rs485, pins)
        obj["rs485"] = rs485
    else:
        obj.pop("rs485", None)
    remote = rs485["valves"] if rs485 is not None else []
    station = _get(obj, "station", "", "obj", None, False)
    if station is not None:
        _check_station(station, sensors, outputs, valves)
        obj["station"] = station
    else:
        obj.pop("station", None)
    least = 0 if station is not None else 1  # a station gateway may drive no valve
    if not least <= len(valves) + len(remote) <= MAX_VALVES:
        raise BoardError(
            "valves",
            "must list {} to {} valves (with rs485.valves)".format(least, MAX_VALVES),
        )
    for i, valve in enumerate(remote):
        if valve["id"] in seen:
            raise BoardError(
                "rs485.valves[{}].id".format(i), "duplicate valve id {!r}".format(valve["id"])
            )
        seen.append(valve["id"])
    entrance = _get(obj, "entrance", "", "obj", {}, False)
    obj["entrance"] = entrance
    for role in entrance:
        if role not in ENTRANCE_ROLES:
            raise BoardError("entrance." + role, "unknown role")
        if entrance[role] not in sensors:
            raise BoardError("entrance." + role, "no sensor named {!r}".format(entrance[role]))
    _check_rooms(obj, sensors, rs485)
    targets = _get(obj, "targets", "", "obj", {}, False)
    obj["targets"] = targets
    for vid in targets:
        if vid not in seen:
            raise BoardError("targets." + vid, "no valve with this id")
        _num(targets[vid], "t_return_c", "targets." + vid + ".", 15, 95)
    return obj


def _check_rooms(obj, sensors, rs485):
    """Room sensors: probes wired to the board (`rooms`) and panels on the bus (`rs485.rooms`,
    checked with the bus); ids unique among all of them, at most MAX_ROOMS."""
    rooms = _get(obj, "rooms", "", "list", [], False)
    obj["rooms"] = rooms
    used = {}  # type: dict
    for i, valve in enumerate(obj["valves"]):
        used[valve["return_probe"]] = "valves[{}].return_probe".format(i)
    for role in obj["entrance"]:
        used[obj["entrance"][role]] = "entrance." + role
    for role, name in io_roles(obj.get("station")):
        used[name] = "station.io." + role
    seen = []
    for i, room in enumerate(rooms):
        field = "rooms[{}].".format(i)
        if type(room) is not dict:
            raise BoardError(field[:-1], "must be an object")
        rid = _get(room, "id", field, "id")
        if rid in seen:
            raise BoardError(field + "id", "duplicate room id {!r}".format(rid))
        seen.append(rid)
        name = _get(room, "sensor", field, "str")
        if name not in sensors:
            raise BoardError(field + "sensor", "no sensor named {!r}".format(name))
        if sensors[name]["type"] not in TEMPERATURE_SENSORS:
            raise BoardError(field + "sensor", "{!r} is not a temperature sensor".format(name))
        if name in used:
            raise BoardError(
                field + "sensor", "{!r} is already used by {}".format(name, used[name])
            )
        used[name] = field + "sensor"
    panels = rs485["rooms"] if rs485 is not None else []
    for i, room in enumerate(panels):
        if room["id"] in seen:
            raise BoardError(
                "rs485.rooms[{}].id".format(i), "duplicate room id {!r}".format(room["id"])
            )
        seen.append(room["id"])
    if len(seen) > MAX_ROOMS:
        raise BoardError(
            "rooms", "must list at most {} rooms (with rs485.rooms)".format(MAX_ROOMS)
        )


def _check_rs485(spec, pins):
    """The RS-485 bus to household valves and room panels (Modbus RTU) and the devices on it."""
    field = "rs485."
    _get(spec, "uart", field, "int")
    pins.take(spec, "tx", field, output=True)
    pins.take(spec, "rx", field)
    if spec.get("de") is not None:
        pins.take(spec, "de", field, output=True)
    else:
        spec["de"] = None
    baud = _get(spec, "baud", field, "int", 9600, False)
    if baud not in BAUDS:
        raise BoardError(field + "baud", "{} is not one of {}".format(baud, BAUDS))
    spec["baud"] = baud
    parity = _get(spec, "parity", field, "str", "E", False)
    if parity not in PARITIES:
        raise BoardError(field + "parity", "must be N, E or O")
    spec["parity"] = parity
    stop = _get(spec, "stop_bits", field, "int", 1, False)
    if stop not in (1, 2):
        raise BoardError(field + "stop_bits", "must be 1 or 2")
    spec["stop_bits"] = stop
    spec["period_ms"] = _num(spec, "period_ms", field, 500, 60000, 5000, False)
    spec["budget_ms"] = _num(spec, "budget_ms", field, 50, 2000, 200, False)
    spec["dead_after"] = _num(spec, "dead_after", field, 1, 20, 3, False)
    spec["probe_ms"] = _num(spec, "probe_ms", field, 1000, 3600000, 60000, False)
    spec["stale_ms"] = _num(spec, "stale_ms", field, 1000, 3600000, 60000, False)
    if spec["stale_ms"] < 2 * spec["period_ms"]:
        raise BoardError(field + "stale_ms", "must be at least twice period_ms")
    valves = _get(spec, "valves", field, "list", [], False)
    spec["valves"] = valves
    addrs = {}  # type: dict
    for i, valve in enumerate(valves):
        vfield = "rs485.valves[{}].".format(i)
        _check_slave(valve, vfield, "str", "generic", addrs)
        valve["failsafe_opening_pct"] = _num(
            valve, "failsafe_opening_pct", vfield, 0, 100, None, False
        )
    rooms = _get(spec, "rooms", field, "list", [], False)
    spec["rooms"] = rooms
    seen = []
    for i, room in enumerate(rooms):
        rfield = "rs485.rooms[{}].".format(i)
        _check_slave(room, rfield, "id", "room-panel", addrs)
        if room["id"] in seen:
            raise BoardError(rfield + "id", "duplicate room id {!r}".format(room["id"]))
        seen.append(room["id"])


def _check_station(spec, sensors, outputs, valves):
    """The station: its PLC behind Modbus TCP (`modbus_tcp`, `profile`) or the board's own
    sensors, pump output and primary valve (`io`), the limits of what may be asked of it and
    its fallback when the host is silent (boards/README.md, edge.station)."""
    field = "station."
    ways = "modbus_tcp (the station's PLC) or io (the board's own probes, pump output and "
    ways += "primary valve)"
    if "modbus_tcp" in spec and "io" in spec:
        raise BoardError("station.io", "a station takes either " + ways + ", not both")
    if "modbus_tcp" not in spec and "io" not in spec:
        raise BoardError("station.modbus_tcp", "missing: a station takes " + ways)
    if "io" in spec:
        _check_station_io(spec, sensors, outputs, valves)
    else:
        link = _get(spec, "modbus_tcp", field, "obj")
        lf = field + "modbus_tcp."
        link["host"] = _get(link, "host", lf, "str")
        link["port"] = _num(link, "port", lf, 1, 65535, 502, False)
        link["unit"] = _num(link, "unit", lf, 0, 255, 1, False)
        link["timeout_ms"] = _num(link, "timeout_ms", lf, 50, 10000, 1000, False)
        spec["profile"] = _get(spec, "profile", field, "str", "station-plc", False)
    spec["period_ms"] = _num(spec, "period_ms", field, 1000, 600000, 10000, False)
    spec["dead_after"] = _num(spec, "dead_after", field, 1, 20, 3, False)
    spec["valid_for_s"] = _num(spec, "valid_for_s", field, 300, 86400, 7200, False)
    lim = _get(spec, "limits", field, "obj")
    f = field + "limits."
    lim["pump_speed_min_pct"] = _num(lim, "pump_speed_min_pct", f, 0, 100)
    lim["pump_speed_max_pct"] = _num(lim, "pump_speed_max_pct", f, 0, 100)
    lim["t_supply_min_c"] = _num(lim, "t_supply_min_c", f, 15, 95)
    lim["t_supply_max_c"] = _num(lim, "t_supply_max_c", f, 15, 95)
    lim["dp_min_kpa"] = _num(lim, "dp_min_kpa", f, 0, 2500, 0, False)
    lim["dp_max_kpa"] = _num(lim, "dp_max_kpa", f, 0, 2500, 2500, False)
    lim["curve_offset_max_k"] = _num(lim, "curve_offset_max_k", f, 0, 20, 10, False)
    for lo, hi in (
        ("pump_speed_min_pct", "pump_speed_max_pct"),
        ("t_supply_min_c", "t_supply_max_c"),
        ("dp_min_kpa", "dp_max_kpa"),
    ):
        if lim[lo] > lim[hi]:
            raise BoardError(f + lo, "above " + hi)
    fb = _get(spec, "fallback", field, "obj")
    f = field + "fallback."
    speed = _num(fb, "pump_speed_pct", f, 0, 100)
    if not lim["pump_speed_min_pct"] <= speed <= lim["pump_speed_max_pct"]:
        raise BoardError(f + "pump_speed_pct", "outside limits.pump_speed_min..max_pct")
    fb["t_outdoor_c"] = _num(fb, "t_outdoor_c", f, -40, 20, -5, False)
    curve = _get(fb, "curve", f, "list")
    if len(curve) < 2:
        raise BoardError(f + "curve", "needs at least two [t_outdoor_c, t_supply_c] points")
    last = None
    for i, point in enumerate(curve):
        where = "{}curve[{}]".format(f, i)
        ok = type(point) is list and len(point) == 2
        for x in point if ok else ():
            ok = ok and (type(x) is int or type(x) is float)
        if not ok:
            raise BoardError(where, "must be [t_outdoor_c, t_supply_c]")
        if not lim["t_supply_min_c"] <= point[1] <= lim["t_supply_max_c"]:
            raise BoardError(where, "supply outside limits.t_supply_min..max_c")
        if last is not None and (point[0] <= last[0] or point[1] > last[1]):
            raise BoardError(where, "outdoor must rise and supply must not rise along the curve")
        last = point
    if "io" in spec:  # the pump output's safe value (edge.hal.AnalogOut.safe_pct)
        outputs[spec["io"]["pump_speed"]]["safe_pct"] = speed


def io_roles(station):
    """[(role, sensor name)] of a station run on the board's own I/O (`station.io`), in
    ENTRANCE_ROLES order; [] for a station gateway or none."""
    io = station.get("io") if station is not None else None
    if io is None:
        return []
    return [(role, io[role]) for role in ENTRANCE_ROLES if io.get(role) is not None]


def _check_station_io(spec, sensors, outputs, valves):
    """`station.io`: the station's probes (entrance roles; t_supply and t_return required),
    the analogue output to the pump drive and the primary valve, an ordinary valve of the
    board whose loop holds the supply probe at the station's set-point."""
    io = _get(spec, "io", "station.", "obj")
    f = "station.io."
    for key in io:
        if key not in ENTRANCE_ROLES and key not in ("pump_speed", "primary_valve"):
            raise BoardError(f + key, "unknown entry (roles, pump_speed, primary_valve)")
    for role in ENTRANCE_ROLES:
        name = _get(io, role, f, "str", None, role in ("t_supply", "t_return"))
        if name is None:
            continue
        if name not in sensors:
            raise BoardError(f + role, "no sensor named {!r}".format(name))
        kinds = PRESSURE_SENSORS if role[0] == "p" else TEMPERATURE_SENSORS
        if sensors[name]["type"] not in kinds:
            what = "pressure" if role[0] == "p" else "temperature"
            raise BoardError(f + role, "{!r} is not a {} sensor".format(name, what))
    name = _get(io, "pump_speed", f, "str")
    if name not in outputs:
        raise BoardError(f + "pump_speed", "no output named {!r}".format(name))
    vid = _get(io, "primary_valve", f, "str")
    found = [v for v in valves if v["id"] == vid]
    if not found:
        raise BoardError(f + "primary_valve", "no valve {!r} in valves".format(vid))
    if found[0]["return_probe"] != io["t_supply"]:
        raise BoardError(
            f + "primary_valve",
            "valve {!r} must control the station's supply probe {!r} (its return_probe is "
            "{!r})".format(vid, io["t_supply"], found[0]["return_probe"]),
        )


def _check_output(out, field, pins):
    """An analogue output (percent of its span): PWM and an RC filter, or simulated."""
    if type(out) is not dict:
        raise BoardError(field[:-1], "must be an object")
    kind = _get(out, "type", field, "str")
    if kind not in OUTPUTS:
        raise BoardError(field + "type", "unknown output type {!r}".format(kind))
    out["safe_pct"] = 0.0  # a station's pump output: its fallback speed (_check_station)
    if kind != "pwm":
        return
    pins.take(out, "pin", field, output=True)
    out["freq_hz"] = _num(out, "freq_hz", field, 100, 40000, 5000, False)
    span = _get(out, "duty_span_pct", field, "list", [0, 100], False)
    ok = len(span) == 2 and all(type(x) in (int, float) for x in span)
    if not ok or not 0 <= span[0] < span[1] <= 100:
        raise BoardError(
            field + "duty_span_pct", "must be [low, high] with 0 <= low < high <= 100"
        )
    out["duty_span_pct"] = span
    out["invert"] = _get(out, "invert", field, "bool", False, False)


def _check_slave(dev, field, id_kind, profile, addrs):
    """One device on the bus: id, an address unique on the bus, a profile name."""
    if type(dev) is not dict:
        raise BoardError(field[:-1], "must be an object")
    _get(dev, "id", field, id_kind)
    addr = _get(dev, "addr", field, "int")
    if not 1 <= addr <= 247:
        raise BoardError(field + "addr", "Modbus address {} outside 1..247".format(addr))
    if addr in addrs:
        raise BoardError(
            field + "addr", "address {} is already used by {}".format(addr, addrs[addr])
        )
    addrs[addr] = "{} ({})".format(field[:-1], dev["id"])
    dev["profile"] = _get(dev, "profile", field, "str", profile, False)


def _check_bus(bus, field, pins):
    kind = _get(bus, "type", field, "str")
    if kind not in BUSES:
        raise BoardError(field + "type", "unknown bus type {!r}".format(kind))
    if kind == "i2c":
        _get(bus, "id", field, "int")
        pins.take(bus, "scl", field, output=True)
        pins.take(bus, "sda", field, output=True)
        bus["freq_hz"] = _num(bus, "freq_hz", field, 10000, 1000000, 400000, False)
    elif kind == "spi":
        _get(bus, "id", field, "int")
        pins.take(bus, "sck", field, output=True)
        pins.take(bus, "mosi", field, output=True)
        pins.take(bus, "miso", field)
        bus["baud"] = _num(bus, "baud", field, 100000, 5000000, 1000000, False)
    else:
        pins.take(bus, "pin", field, output=True)


def _bus_ref(obj, field, buses, kind):
    name = _get(obj, "bus", field, "str")
    if name not in buses:
        raise BoardError(field + "bus", "no bus named {!r}".format(name))
    if buses[name]["type"] != kind:
        raise BoardError(field + "bus", "{!r} is not a {} bus".format(name, kind))
    return name


def _check_sensor(sensor, field, pins, buses):
    if type(sensor) is not dict:
        raise BoardError(field[:-1], "must be an object")
    kind = _get(sensor, "type", field, "str")
    if kind not in SENSORS:
        raise BoardError(field + "type", "unknown sensor type {!r}".format(kind))
    if kind == "ds18b20":
        _bus_ref(sensor, field, buses, "onewire")
        rom = _get(sensor, "rom", field, "str")
        if len(rom) != 16 or any(c not in "0123456789abcdefABCDEF" for c in rom):
            raise BoardError(field + "rom", "must be 16 hex digits")
        if rom[:2] != "28":
            raise BoardError(field + "rom", "family code {} is not a DS18B20 (28)".format(rom[:2]))
    elif kind == "max31865_pt1000":
        _bus_ref(sensor, field, buses, "spi")
        pins.take(sensor, "cs", field, output=True)
        sensor["r_ref_ohm"] = _num(sensor, "r_ref_ohm", field, 1000, 10000, 4300.0, False)
    elif kind == "ntc_adc":
        pins.take(sensor, "pin", field, adc=True)
        sensor["r_series_ohm"] = _num(sensor, "r_series_ohm", field, 100, 1e6, 10000.0, False)
        sensor["beta"] = _num(sensor, "beta", field, 1000, 10000, 3950.0, False)
    elif kind == "pressure_4_20ma":
        pins.take(sensor, "pin", field, adc=True)
        rng = _get(sensor, "range_kpa", field, "list")
        if len(rng) != 2 or not all(type(x) in (int, float) for x in rng) or rng[0] >= rng[1]:
            raise BoardError(field + "range_kpa", "must be [low, high] with low < high")
        sensor["shunt_ohm"] = _num(sensor, "shunt_ohm", field, 50, 500, 150.0, False)


def _typed(valve, key, field, kinds):
    """(sub-object, its field prefix, its type) of valve[key], the type one of kinds."""
    sub = _get(valve, key, field, "obj")
    subfield = field + key + "."
    kind = _get(sub, "type", subfield, "str")
    if kind not in kinds:
        raise BoardError(subfield + "type", "unknown {} type {!r}".format(key, kind))
    return sub, subfield, kind


def _check_valve(valve, field, pins, buses, sensors, encoders):
    act, afield, kind = _typed(valve, "actuator", field, ACTUATORS)
    if kind == "hbridge":
        pins.take(act, "in1", afield, output=True)
        pins.take(act, "in2", afield, output=True)
        act["duty_pct"] = _num(act, "duty_pct", afield, 10, 100, 100, False)
        act["slow_duty_pct"] = _num(act, "slow_duty_pct", afield, 10, 100, 50, False)
        act["freq_hz"] = _num(act, "freq_hz", afield, 100, 40000, 1000, False)
    elif kind == "relays3pt":
        pins.take(act, "open", afield, output=True)
        pins.take(act, "close", afield, output=True)
        act["dead_ms"] = _num(act, "dead_ms", afield, 50, 5000, 300, False)
    fb, ffield, kind = _typed(valve, "feedback", field, FEEDBACKS)
    if kind == "as5600":
        name = _bus_ref(fb, ffield, buses, "i2c")
        # the AS5600 has one fixed address: one encoder per I2C bus
        if name in encoders:
            raise BoardError(
                ffield + "bus", "{!r} already has an AS5600 ({})".format(name, encoders[name])
            )
        encoders[name] = field[:-1]
    elif kind == "pot_adc":
        pins.take(fb, "pin", ffield, adc=True)
        fb["span_deg"] = _num(fb, "span_deg", ffield, 30, 360, 270.0, False)
    probe = _get(valve, "return_probe", field, "str")
    if probe not in sensors:
        raise BoardError(field + "return_probe", "no sensor named {!r}".format(probe))
    valve["stroke_s"] = _num(valve, "stroke_s", field, 2, 600)
    closed = _num(valve, "angle_closed_deg", field, 0, 360)
    opened = _num(valve, "angle_open_deg", field, 0, 360)
    if closed == opened:
        raise BoardError(field + "angle_open_deg", "equals angle_closed_deg")
    valve["backlash_pct"] = _num(valve, "backlash_pct", field, 0, 10, 0.0, False)
    valve["failsafe_opening_pct"] = _num(valve, "failsafe_opening_pct", field, 0, 100, None, False)
