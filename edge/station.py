"""The heat exchange station as a unit: the host's pump and supply commands, applied within
the station's limits, and the station's own curve when the host is silent.

Two ways in, one command logic (`StationControl`: check, apply, in_force, the set-points in
force, modes and events, the telemetry object), two devices:

- `Station`, a station gateway board (boards/station-gateway.json, section `station` with
  `modbus_tcp`, boards/README.md) talks to the PLC over Modbus TCP (edge.modbus_tcp) through
  a device profile of kind `station` (boards/profiles/station-plc.json): the readings it
  reports and the set-points it writes are data, so a PLC from another maker joins with a
  JSON file;
- `edge.station_io.IOStation`, an evenheat board at the station (boards/station-board.json,
  section `station` with `io`) reads the station's probes on its own sensor channels, drives
  the pump's speed input through an analogue output and holds the supply temperature with
  the PI loop of its primary valve.

What the host asks (`desired/station`, docs/protocol.md): a pump speed or a differential-
pressure set-point, and a supply temperature or an offset on the station's heating curve,
valid for `valid_for_s`. `check(msg)` refuses, with a reason and nothing changed, a command
outside the station's limits (`limits`) or one the device cannot take (no register in the
PLC's profile; no differential-pressure control on the board's own I/O). A quantity the
host leaves out is the station's own.

The command in force expires `valid_for_s` after it was issued (by the board's wall clock
when that clock is plausible, and in any case `valid_for_s` after the board received it or
booted with it), so a host that stops talking, or a broker that keeps an old retained
command, cannot hold the station for long. Without a command in force the station is
`local`: the device gets the fallback pump speed and the supply set-point of its own
heating curve at the measured outdoor temperature (`fallback`), and, where the profile has
one, sets the PLC's remote switch off so the PLC's own programme is in charge. Every poll
increments the PLC's heartbeat register where there is one, so the PLC can notice a dead
gateway itself.

Modes reported in telemetry: `host` (the host's command in force), `local` (fallback),
`offline` (the PLC has not answered `dead_after` polls in a row: nothing is known, nothing
can be written; on own I/O: every station probe is bad). Units: degC, kPa, percent, m3/h,
kW, seconds.
"""

from edge import modbus
from edge.device_profile import DEVICES
from shared import protocol

# the station's readings, in the profile's order (edge.device_profile: required, then optional)
_READINGS = DEVICES["station"][0] + DEVICES["station"][1]
_CLOCK_SLACK_S = 300  # a board clock this far behind the command's issue time is not set


def curve_c(curve, t_outdoor_c):
    """Supply set-point (degC) of a heating curve [[t_outdoor_c, t_supply_c], ...] (outdoor
    temperatures increasing), linear between points and flat beyond the ends."""
    if t_outdoor_c <= curve[0][0]:
        return curve[0][1]
    for i in range(1, len(curve)):
        x1, y1 = curve[i]
        if t_outdoor_c <= x1:
            x0, y0 = curve[i - 1]
            return y0 + (y1 - y0) * (t_outdoor_c - x0) / (x1 - x0)
    return curve[-1][1]


class StationControl:
    """The command logic of a station, whatever the device (subclasses: `Station`,
    edge.station_io.IOStation).

    A device sets `readings` (the STATION_TELE keys it has, None when unknown), `source`
    (what check() names: "profile station-plc"), `online_detail` (the station_online
    event's), `takes(point)` (whether it has the write point) and `commanded()` (the command
    points it holds now, for report()); its poll() ends with `_set_mode(mode)`.
    `valve_id` is the board valve whose target the station holds (None: none), `target_c`
    the set-point it last put there.
    """

    valve_id = None  # type: str | None
    target_c = None  # type: float | None  # the set-point last put into valve_id's target
    online_detail = "the station answers"
    source = "this station"

    def __init__(self, spec, clock, emit=None):
        self.spec = spec
        self.clock = clock
        self.emit = emit
        self.limits = spec["limits"]
        self.fallback = spec["fallback"]
        self.readings = {}  # type: dict
        self.command = None  # type: dict | None
        self.command_version = 0
        self._t_cmd_ms = clock.ticks_ms()
        self.polls = 0
        self.last_error = ""
        self.mode = "offline"
        self._last_mode = None

    def takes(self, point):
        raise NotImplementedError

    def commanded(self):
        raise NotImplementedError

    # ------------------------------------------------------------------ desired state ----

    def check(self, msg):
        """Why the station cannot take command `msg` (a decoded desired/station), or None."""
        lim = self.limits
        speed = msg.get("pump_speed_pct")
        if speed is not None:
            if not self.takes("pump_speed_cmd_pct"):
                return "this station takes no pump speed ({})".format(self.source)
            if not lim["pump_speed_min_pct"] <= speed <= lim["pump_speed_max_pct"]:
                return "pump_speed_pct {} outside the station's limits {}..{}".format(
                    speed, lim["pump_speed_min_pct"], lim["pump_speed_max_pct"]
                )
        dp = msg.get("dp_setpoint_kpa")
        if dp is not None:
            if not self.takes("dp_setpoint_cmd_kpa"):
                return "this station takes no differential-pressure set-point ({})".format(
                    self.source
                )
            if not lim["dp_min_kpa"] <= dp <= lim["dp_max_kpa"]:
                return "dp_setpoint_kpa {} outside the station's limits {}..{}".format(
                    dp, lim["dp_min_kpa"], lim["dp_max_kpa"]
                )
        t = msg.get("t_supply_c")
        if t is not None and not lim["t_supply_min_c"] <= t <= lim["t_supply_max_c"]:
            return "t_supply_c {} outside the station's limits {}..{}".format(
                t, lim["t_supply_min_c"], lim["t_supply_max_c"]
            )
        off = msg.get("curve_offset_k")
        if off is not None and abs(off) > lim["curve_offset_max_k"]:
            return "curve_offset_k {} beyond the station's limit of +-{}".format(
                off, lim["curve_offset_max_k"]
            )
        return None

    def apply(self, msg, version):
        """Put a checked command in force (the caller persists it)."""
        self.command = msg
        self.command_version = version
        self._t_cmd_ms = self.clock.ticks_ms()

    def in_force(self):
        """True while the host's command is valid (see the module docstring)."""
        cmd = self.command
        if cmd is None:
            return False
        valid_s = cmd.get("valid_for_s", self.spec["valid_for_s"])
        age_ms = self.clock.ticks_diff(self.clock.ticks_ms(), self._t_cmd_ms)
        if age_ms > valid_s * 1000:
            return False
        now_s = self.clock.time_s()
        if now_s >= cmd["ts_s"] - _CLOCK_SLACK_S and now_s > cmd["ts_s"] + valid_s:
            return False
        return True

    def setpoints(self):
        """(pump speed % or None, dp set-point kPa or None, supply degC, host command in force
        or None): what the station should hold now, from the command in force or the
        fallback (the curve at the measured outdoor temperature), supply within the limits."""
        lim = self.limits
        fb = self.fallback
        t_out = self.readings.get("t_outdoor_c")
        local_supply = curve_c(fb["curve"], t_out if t_out is not None else fb["t_outdoor_c"])
        cmd = self.command if self.in_force() else None
        speed = fb["pump_speed_pct"]
        dp = fb.get("dp_setpoint_kpa")
        supply = local_supply
        if cmd is not None:
            if cmd.get("pump_speed_pct") is not None:
                speed, dp = cmd["pump_speed_pct"], None
            elif cmd.get("dp_setpoint_kpa") is not None:
                speed, dp = None, cmd["dp_setpoint_kpa"]
            if cmd.get("t_supply_c") is not None:
                supply = cmd["t_supply_c"]
            elif cmd.get("curve_offset_k") is not None:
                supply = local_supply + cmd["curve_offset_k"]
        supply = min(lim["t_supply_max_c"], max(lim["t_supply_min_c"], supply))
        return speed, dp, supply, cmd

    # ---------------------------------------------------------------- modes, report ----

    def _set_mode(self, mode):
        """The mode after a poll, and its change as an event."""
        self.mode = mode
        last = self._last_mode
        if mode != last and self.emit is not None:
            if mode == "offline":
                self.emit("station_offline", "alarm", None, None, self.last_error or "no reply")
            elif last == "offline" or last is None:
                self.emit("station_online", "info", None, None, self.online_detail + ", " + mode)
            if mode == "local" and last == "host":
                self.emit(
                    "station_local",
                    "warning",
                    None,
                    self.command_version,
                    "host command expired: the station's own curve",
                )
            elif mode == "host" and last == "local":
                self.emit("station_host", "info", None, self.command_version, "host command")
        self._last_mode = mode

    def report(self):
        """The telemetry `station` object (shared.protocol)."""
        out = {"mode": self.mode, "command_version": self.command_version}
        readings = self.readings
        for key, _, _, lo, hi in protocol.STATION_TELE:
            if key in readings:
                x = readings[key]
                out[key] = x if x is not None and lo <= x <= hi else None  # never a bad record
        out.update(self.commanded())
        return out


class Station(StationControl):
    """One station PLC behind a Modbus master.

    spec:    the validated `station` section of the board definition (edge.boarddef)
    profile: edge.device_profile.Profile of device kind "station"
    master:  an edge.modbus.Master (TCPMaster to the PLC)
    clock:   edge.clock clock
    emit:    emit(event, severity, valve, value, detail), for `station_offline`,
             `station_online`, `station_local`, `station_host`
    """

    online_detail = "the PLC answers"

    def __init__(self, spec, profile, master, clock, emit=None):
        if profile.device != "station":
            raise ValueError(
                "profile {} describes a {}, not a station".format(profile.name, profile.device)
            )
        StationControl.__init__(self, spec, clock, emit)
        self.profile = profile
        self.source = "profile " + profile.name
        self.master = master
        self.unit_id = spec["modbus_tcp"]["unit"]
        self.dead_after = spec["dead_after"]
        self._reported = [k for k in _READINGS if k in profile.points]
        self._clear()
        self.failures = 0
        self.answered = False
        self.written = {}  # type: dict
        self.heartbeat = 0

    def _clear(self):
        for key in self._reported:
            self.readings[key] = None

    def takes(self, point):
        return point in self.profile.points

    def commanded(self):
        out = {}
        if self.mode != "offline":
            for key in ("pump_speed_cmd_pct", "dp_setpoint_cmd_kpa"):
                if key in self.written:
                    out[key] = self.written[key]
        return out

    # --------------------------------------------------------------------- the PLC ----

    def wanted(self):
        """{write point: engineering value} the PLC should hold now."""
        speed, dp, supply, cmd = self.setpoints()
        points = self.profile.points
        out = {"t_supply_cmd_c": supply}
        if "pump_speed_cmd_pct" in points and speed is not None:
            out["pump_speed_cmd_pct"] = speed
        if "dp_setpoint_cmd_kpa" in points and dp is not None:
            out["dp_setpoint_cmd_kpa"] = dp
        if "remote_cmd" in points:
            out["remote_cmd"] = 1 if cmd is not None else 0
        return out

    def poll(self):
        """One exchange with the PLC: read it, then write what changed (and the heartbeat)."""
        self.polls += 1
        master = self.master
        try:
            for fc, first, count, keys in self.profile.blocks:
                regs = master.read_registers(self.unit_id, fc, first, count)
                for key in keys:
                    p = self.profile.points[key]
                    at = p["reg"] - first
                    self.readings[key] = self.profile.decode(key, regs[at : at + p["words"]])
            wanted = self.wanted()  # from this poll's outdoor temperature
            if "heartbeat_cmd" in self.profile.points:
                self.heartbeat = (self.heartbeat + 1) & 0x7FFF
                wanted["heartbeat_cmd"] = self.heartbeat
            for key in self.profile.write_points:
                if key in wanted and wanted[key] != self.written.get(key):
                    self._write(key, wanted[key])
                    self.written[key] = wanted[key]
        except (modbus.ModbusError, OSError) as exc:
            self.failures += 1
            self.last_error = "{}: {}".format(type(exc).__name__, exc)
            if self.failures >= self.dead_after:
                self.written = {}  # the PLC may have restarted: write everything again
                self._clear()
        else:
            self.failures = 0
            self.answered = True
        if self.failures >= self.dead_after or not self.answered:
            self._set_mode("offline")
        else:
            self._set_mode("host" if self.in_force() else "local")

    def _write(self, key, value):
        p = self.profile.points[key]
        words = self.profile.encode(key, value)
        if p["fc"] == 6:
            self.master.write_register(self.unit_id, p["reg"], words[0])
        else:
            self.master.write_registers(self.unit_id, p["reg"], words)


def open_station(spec, clock, root=""):
    """The Station of a validated `station` section on a Modbus TCP link to its PLC; its
    profile from root + "boards/profiles"."""
    from edge.device_profile import load_profiles
    from edge.modbus_tcp import TCPMaster

    profiles = load_profiles(root + "boards/profiles")
    name = spec["profile"]
    if name not in profiles:
        raise ValueError("no profile {}".format(name))
    link = spec["modbus_tcp"]
    prof = profiles[name]
    master = TCPMaster(link["host"], link["port"], link["timeout_ms"], prof.retries)
    return Station(spec, prof, master, clock)
