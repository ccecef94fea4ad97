"""Household valves and room panels on the RS-485 bus, each described by a device profile
(boards/profiles/).

A profile is data (edge.device_profile, boards/profiles/README.md). On this bus its `device`
is a household valve (`valve`, the default: return temperature and measured opening read, the
commanded opening written) or a room panel (`room`: room temperature read, optionally its
battery charge; nothing written). Any device whose registers a profile describes joins the
bus by adding a JSON file; no code changes.

`HouseholdValves.poll(budget_ms)` runs a slice of the bus work and returns within about the
budget (plus at most one transaction): per device in turn (the valves, then the room
panels), it writes a valve's commanded opening when it changed and reads the device's points.
Each device keeps its own health: after `dead_after` failed polls in a row it is isolated
(reported, skipped) and probed again only every `probe_ms`, once and without retries, so a
dead or babbling slave costs the others and the control loop almost nothing. Isolation and
recovery are the events `modbus_dead` / `modbus_ok`: for a valve with the valve's id, for a
room panel with "room <id>: ..." in the detail. Units: degC, percent, ms.

A room panel that falls silent is frozen: its last reading is held (with its age) until it is
older than `stale_ms`; after that it has no reading (`room_fresh()` is False, `RemoteRoomProbe`
reports fault "stale" and the app reports `t_room_c: null, sensor_ok: false`).

The valves are members of the board's PI loops (edge.app) like the valves the board drives
itself. Two adapters give the app what it uses of a local valve:
- `RemotePositioner`: the `edge.positioner.Positioner` interface (command, command_pct,
  position_pct, ok, busy, step, diag / diag_name, stroke_test / test_report); a command is
  written on the valve's next turn on the bus, the measured opening is the valve's own;
- `RemoteProbe`: the valve's return-temperature reading as an `edge.hal` sensor (read() and
  `fault`), wrapped by the app in an `edge.sensing.Channel` for the same plausibility,
  median filter and debouncing as a local probe. No fresh reading -> fault "stale".
A valve whose data are older than `stale_ms`, or whose slave failed its last poll or is
isolated, is not ok: the app freezes its loop (integral and output held, mode "frozen") and
reports it; a dead slave cannot be commanded, so it is never sent to the fail-safe opening.

`open_bus(spec, clock, root, emit)` builds the bus of a board definition's `rs485` section
(boards/README.md) on the board's UART; a device naming a missing profile, or one made for
the other kind of device, is refused with `BusError` naming the field.
"""

from edge import hal, modbus
from edge.device_profile import load_profiles

_WRITE_POINT = "opening_cmd_pct"


class BusError(ValueError):
    """A device on the bus that cannot be set up: `field` names it in the board definition
    ("rs485.rooms[0].profile"), the message says why."""

    def __init__(self, field, reason):
        super().__init__("{}: {}".format(field, reason))
        self.field = field
        self.reason = reason


class _Device:
    """One slave on the bus: its profile, address and health (shared by valves and rooms)."""

    kind = "device"
    label = "device"

    def __init__(self, did, addr, profile):
        if not 1 <= addr <= 247:
            raise ValueError("{} {}: Modbus address must be 1..247".format(self.label, did))
        if profile.device != self.kind:
            raise ValueError(
                "{} {}: profile {} describes a {}, not a {}".format(
                    self.label, did, profile.name, profile.device, self.kind
                )
            )
        self.id = did
        self.addr = addr
        self.profile = profile
        self.failures = 0  # consecutive failed polls
        self.t_ok_ms = 0  # when the device last answered a whole poll
        self.answered = False  # it answered at least once
        self.isolated = False
        self.next_probe_ms = 0
        self.last_error = ""
        self.polls = 0
        self.errors = 0

    def ok(self):
        return not self.isolated and self.failures == 0 and self.polls > 0

    def silent(self):
        """Called when the device is isolated: readings it must not keep."""


class Valve(_Device):
    """One household valve on the bus: its last readings, the commanded opening, its health."""

    kind = "valve"
    label = "household valve"

    def __init__(self, vid, addr, profile):
        _Device.__init__(self, vid, addr, profile)
        self.t_return_c = None
        self.opening_meas_pct = None
        self.command_pct = None  # wanted opening
        self.written_pct = None  # opening last written successfully

    def silent(self):
        self.t_return_c = None
        self.opening_meas_pct = None
        self.written_pct = None  # write it again once the valve answers


class Room(_Device):
    """One room panel on the bus: its last room temperature (and battery charge), held while
    it is silent until the data are older than the bus's stale limit."""

    kind = "room"
    label = "room panel"

    def __init__(self, rid, addr, profile):
        _Device.__init__(self, rid, addr, profile)
        self.t_room_c = None
        self.battery_pct = None


class HouseholdValves:
    """Polls the household valves and room panels of one bus.

    master:     edge.modbus.RTUMaster
    clock:      edge.clock clock
    valves:     list of Valve
    emit:       emit(event, severity, valve, value, detail) for isolation and recovery
    dead_after: failed polls in a row before a device is isolated
    probe_ms:   how often an isolated device is tried again
    stale_ms:   readings older than this are not used (a valve is not ok, a room has none)
    rooms:      list of Room (room panels), polled after the valves in the same turn

    Valve ids (`by_id`) and room ids (`rooms_by_id`) are separate names: a flat's valve and
    its room panel may both be called "f6-east".
    """

    def __init__(
        self,
        master,
        clock,
        valves,
        emit=None,
        dead_after=3,
        probe_ms=60000,
        stale_ms=60000,
        rooms=None,
    ):
        self.master = master
        self.clock = clock
        self.valves = valves
        self.rooms = rooms or []
        self.devices = valves + self.rooms
        self.emit = emit
        self.dead_after = dead_after
        self.probe_ms = probe_ms
        self.stale_ms = stale_ms
        self._next = 0
        self.by_id = {}  # type: dict
        for v in valves:
            if v.id in self.by_id:
                raise ValueError("household valve id {} repeated".format(v.id))
            self.by_id[v.id] = v
        self.rooms_by_id = {}  # type: dict
        addrs = {}  # type: dict
        for r in self.rooms:
            if r.id in self.rooms_by_id:
                raise ValueError("room panel id {} repeated".format(r.id))
            self.rooms_by_id[r.id] = r
        for d in self.devices:
            if d.addr in addrs:
                raise ValueError(
                    "{} {}: address {} is already used by {}".format(
                        d.label, d.id, d.addr, addrs[d.addr]
                    )
                )
            addrs[d.addr] = d.id

    def command(self, vid, pct):
        """Set the opening a valve should have (written on its next turn)."""
        self.by_id[vid].command_pct = min(100.0, max(0.0, float(pct)))

    def fresh(self, v):
        """True when valve v answered its last poll and that was at most stale_ms ago."""
        if not v.ok():
            return False
        return self.clock.ticks_diff(self.clock.ticks_ms(), v.t_ok_ms) <= self.stale_ms

    def age_ms(self, d):
        """Milliseconds since device d last answered a whole poll (None: never)."""
        if not d.answered:
            return None
        return self.clock.ticks_diff(self.clock.ticks_ms(), d.t_ok_ms)

    def room_fresh(self, r):
        """True when room panel r has a reading at most stale_ms old (held while it is
        silent, until then)."""
        age = self.age_ms(r)
        return age is not None and age <= self.stale_ms

    def poll(self, budget_ms=200):
        """Poll devices in turn until each was visited once or the budget is spent.
        Returns how many devices were visited."""
        clock = self.clock
        start = clock.ticks_ms()
        visited = 0
        devices = self.devices
        n = len(devices)
        while visited < n and clock.ticks_diff(clock.ticks_ms(), start) < budget_ms:
            v = devices[self._next]
            self._next = (self._next + 1) % n
            visited += 1
            if v.isolated and clock.ticks_diff(clock.ticks_ms(), v.next_probe_ms) < 0:
                continue
            self._poll_one(v)
        return visited

    def _poll_one(self, v):
        master = self.master
        saved_retries = master.retries
        saved_timeout = master.timeout_ms
        master.timeout_ms = v.profile.timeout_ms
        master.retries = 0 if v.isolated else v.profile.retries
        v.polls += 1
        try:
            self._exchange(v)
        except modbus.ModbusError as exc:
            self._failed(v, exc)
        else:
            self._succeeded(v)
        finally:
            master.retries = saved_retries
            master.timeout_ms = saved_timeout

    def _exchange(self, v):
        prof = v.profile
        wanted = v.command_pct if v.kind == "valve" else None
        if wanted is not None and wanted != v.written_pct:
            p = prof.points[_WRITE_POINT]
            words = prof.encode(_WRITE_POINT, v.command_pct)
            if p["fc"] == 6:
                self.master.write_register(v.addr, p["reg"], words[0])
            else:
                self.master.write_registers(v.addr, p["reg"], words)
            v.written_pct = v.command_pct
        for fc, first, count, keys in prof.blocks:
            regs = self.master.read_registers(v.addr, fc, first, count)
            for key in keys:
                p = prof.points[key]
                at = p["reg"] - first
                setattr(v, key, prof.decode(key, regs[at : at + p["words"]]))

    def _failed(self, v, exc):
        v.errors += 1
        v.failures += 1
        v.last_error = "{}: {}".format(type(exc).__name__, exc)
        now = self.clock.ticks_ms()
        if v.failures >= self.dead_after:
            v.silent()
            v.next_probe_ms = self.clock.ticks_add(now, self.probe_ms)
            if not v.isolated:
                v.isolated = True
                self._event("modbus_dead", "alarm", v, v.last_error)

    def _succeeded(self, v):
        if v.isolated:
            self._event("modbus_ok", "info", v, "answers again")
        v.isolated = False
        v.failures = 0
        v.answered = True
        v.t_ok_ms = self.clock.ticks_ms()

    def _event(self, name, severity, d, detail):
        if self.emit is None:
            return
        if d.kind == "valve":
            self.emit(name, severity, d.id, d.addr, detail)
        else:  # the event's `valve` field names valves only
            self.emit(name, severity, None, d.addr, "room {}: {}".format(d.id, detail))

    def report(self):
        """Per valve: readings and health, for telemetry and diagnostics."""
        out = []
        for v in self.valves:
            out.append(
                {
                    "id": v.id,
                    "addr": v.addr,
                    "t_return_c": v.t_return_c,
                    "opening_meas_pct": v.opening_meas_pct,
                    "opening_cmd_pct": v.command_pct,
                    "ok": v.ok(),
                    "isolated": v.isolated,
                    "errors": v.errors,
                    "last_error": v.last_error,
                }
            )
        return out

    def report_rooms(self):
        """Per room panel: reading, its age and health, for diagnostics."""
        out = []
        for r in self.rooms:
            out.append(
                {
                    "id": r.id,
                    "addr": r.addr,
                    "t_room_c": r.t_room_c if self.room_fresh(r) else None,
                    "battery_pct": r.battery_pct if self.room_fresh(r) else None,
                    "age_ms": self.age_ms(r),
                    "ok": r.ok(),
                    "isolated": r.isolated,
                    "errors": r.errors,
                    "last_error": r.last_error,
                }
            )
        return out


DIAG_NAMES = ("ok", "stale", "no_reply")
_DIAG_OK = 0
_DIAG_STALE = 1
_DIAG_NO_REPLY = 2


class RemotePositioner:
    """A household valve on RS-485 seen through edge.positioner.Positioner's interface.

    The valve positions itself: `command()` hands the opening to the poller (written on the
    valve's next turn), `position_pct` is the opening the valve reports. `ok()` is False while
    its data are stale or its slave does not answer (diag "stale" / "no_reply"); the app then
    freezes its loop. Diagnostic changes go to `events.emit()` as a local valve's do.
    """

    remote = True
    test_report = None  # type: dict | None
    _alarmed = False

    def __init__(self, poller, vid, events=None):
        self._poller = poller
        self.valve = poller.by_id[vid]
        self.id = vid
        self._events = events
        self.command_pct = -1.0  # no command yet
        self.diag = _DIAG_STALE
        self.state_name = "remote"

    def command(self, opening_pct):
        opening_pct = min(100.0, max(0.0, opening_pct))
        self.command_pct = opening_pct
        self._poller.command(self.id, opening_pct)

    @property
    def position_pct(self):
        x = self.valve.opening_meas_pct
        if x is None or x != x or not self._poller.fresh(self.valve):
            return -1.0
        return min(100.0, max(0.0, x))

    def ok(self):
        return self._update_diag() == _DIAG_OK

    def busy(self):
        return False

    def step(self):
        self._update_diag()

    def _update_diag(self):
        v = self.valve
        if self._poller.fresh(v) and v.opening_meas_pct is not None:
            diag = _DIAG_OK
        elif v.isolated or v.failures > 0:
            diag = _DIAG_NO_REPLY
        else:
            diag = _DIAG_STALE
        if diag != self.diag:
            old = self.diag
            self.diag = diag
            events = self._events
            if events is not None and v.polls > 0:
                if diag != _DIAG_OK:
                    events.emit(
                        "valve_" + DIAG_NAMES[diag], "alarm", self.id, v.addr, v.last_error or None
                    )
                    self._alarmed = True
                elif self._alarmed:  # not the first answer after boot
                    events.emit(
                        "valve_" + DIAG_NAMES[old] + "_cleared",
                        "info",
                        self.id,
                        v.opening_meas_pct,
                    )
        return diag

    @property
    def diag_name(self):
        return DIAG_NAMES[self._update_diag()]

    def stroke_test(self):
        """A valve on the bus strokes itself: the check is that it answers with an opening."""
        v = self.valve
        ok = self.ok()
        self.test_report = {
            "valve": self.id,
            "ok": ok,
            "addr": v.addr,
            "opening_meas_pct": v.opening_meas_pct,
            "reason": "RS-485 address {} answers".format(v.addr)
            if ok
            else "RS-485 address {}: {}".format(v.addr, v.last_error or "no reading yet"),
        }


class RemoteProbe:
    """The return temperature a household valve reports, as an edge.hal sensor: read() gives
    the last reading and sets `fault` (F_STALE while the valve's data are stale or it does not
    answer, F_DEVICE for the profile's 'no reading' marker)."""

    def __init__(self, poller, vid):
        self._poller = poller
        self.valve = poller.by_id[vid]
        self.fault = hal.F_STALE
        self.value = 0.0

    def read(self):
        v = self.valve
        if not self._poller.fresh(v):
            self.fault = hal.F_STALE
        elif v.t_return_c is None:
            self.fault = hal.F_DEVICE
        else:
            self.fault = hal.OK
            self.value = float(v.t_return_c)
        return self.value


class RemoteRoomProbe:
    """The room temperature a room panel reports, as an edge.hal sensor for an
    edge.sensing.Channel: read() gives the last reading, held while the panel is silent, and
    sets `fault` (F_STALE once its data are older than stale_ms or before its first answer,
    F_DEVICE for the profile's 'no reading' marker)."""

    def __init__(self, poller, rid):
        self._poller = poller
        self.room = poller.rooms_by_id[rid]
        self.fault = hal.F_STALE
        self.value = 0.0

    def read(self):
        r = self.room
        if not self._poller.room_fresh(r):
            self.fault = hal.F_STALE
        elif r.t_room_c is None:
            self.fault = hal.F_DEVICE
        else:
            self.fault = hal.OK
            self.value = float(r.t_room_c)
        return self.value


_PARITY = {"N": None, "E": 0, "O": 1}


def open_bus(spec, clock, root="", emit=None):
    """HouseholdValves on the board's UART for a validated `rs485` section of a board
    definition (edge.boarddef); profiles from root + "boards/profiles"."""
    from machine import UART, Pin

    baud = spec["baud"]
    uart = UART(
        spec["uart"],
        baudrate=baud,
        bits=8,
        parity=_PARITY[spec["parity"]],
        stop=spec["stop_bits"],
        tx=spec["tx"],
        rx=spec["rx"],
        timeout=0,
    )
    de = Pin(spec["de"], Pin.OUT, value=0) if spec.get("de") is not None else None
    master = modbus.RTUMaster(uart, clock, baud=baud, de_pin=de)
    profiles = load_profiles(root + "boards/profiles")
    return build(
        master,
        clock,
        spec["valves"],
        profiles,
        emit=emit,
        dead_after=spec["dead_after"],
        probe_ms=spec["probe_ms"],
        stale_ms=spec["stale_ms"],
        rooms=spec.get("rooms", []),
    )


def build(master, clock, devices, profiles, emit=None, rooms=None, **kw):
    """HouseholdValves from a unit's device lists: valves [{"id", "addr", "profile"}, ...]
    (profile default "generic") and room panels `rooms` in the same shape (profile default
    "room-panel"). A missing profile, or one of the wrong kind, raises BusError naming the
    field ("rs485.rooms[0].profile")."""
    valves = [_device(Valve, d, i, "valves", "generic", profiles) for i, d in enumerate(devices)]
    panels = [
        _device(Room, d, i, "rooms", "room-panel", profiles) for i, d in enumerate(rooms or ())
    ]
    return HouseholdValves(master, clock, valves, emit, rooms=panels, **kw)


def _device(cls, d, i, section, default, profiles):
    field = "rs485.{}[{}]".format(section, i)
    name = d.get("profile", default)
    if name not in profiles:
        raise BusError(
            field + ".profile", "{} {}: no profile {}".format(cls.label, d.get("id"), name)
        )
    problem = None
    try:
        dev = cls(d["id"], d["addr"], profiles[name])
    except ValueError as exc:
        problem = str(exc)
    if problem is not None:  # raised here: MicroPython has no exception chaining
        raise BusError(field, problem)
    return dev
