"""The station run by the board itself, on its own I/O (section `station` with `io`,
boards/station-board.json, boards/README.md "Station board").

The command logic is edge.station's (`StationControl`: check, apply, in_force, the set-points
in force, modes, events, report); this module is the device:

- the station's probes are the board's sensing channels named by the `io` roles (t_supply,
  t_return, p_supply, p_return, t_outdoor), with their plausibility and debouncing
  (edge.sensing); flow, heat, the pump's real speed and power have no channel here (a heat
  meter or the drive's feedback would need a bus of their own) and are not reported;
- the pump's drive takes its speed on an analogue output (edge.hal.AnalogOut, `pump_speed`),
  written every poll with the speed in force, clamped to the station's speed limits;
- the supply temperature is held by the PI loop of the primary valve (`primary_valve`), an
  ordinary valve of the board whose controlled probe is the station's supply probe: the
  Balancer opens it while the supply is below its target, as it opens a valve whose return is
  too cold. Every poll writes the supply set-point in force into that valve's target
  (`set_target`); the valve's loop, deadband, rate limit, anti-windup and fail-safe opening
  (a bad supply probe) are the board's. A differential-pressure set-point cannot be held
  (no Δp loop on the pump) and is refused.

Mode `offline` when every station probe is bad (none sampled yet, or all failed; in safe
mode nothing is sampled): the pump output goes to the fallback speed, the host's command
stays stored and returns to force when the probes read again.
"""

from edge import hal
from edge.boarddef import io_roles
from edge.station import StationControl


class IOStation(StationControl):
    """spec: the validated `station` section; channels: {sensor name: edge.sensing.Channel};
    output: the pump's edge.hal.AnalogOut; set_target(t_c): puts the supply set-point into
    the primary valve's target (edge.app.App); clock, emit as for edge.station.Station."""

    online_detail = "the station's probes read"
    source = "own I/O"

    def __init__(self, spec, channels, output, clock, set_target, emit=None):
        StationControl.__init__(self, spec, clock, emit)
        io = spec["io"]
        self.valve_id = io["primary_valve"]
        self.output = output
        self.set_target = set_target
        self.target_c = None
        self._probes = []  # type: list
        for role, name in io_roles(spec):
            key = role + ("_kpa" if role[0] == "p" else "_c")
            self._probes.append((key, channels[name]))
            self.readings[key] = None
        self.readings["t_supply_setpoint_c"] = None

    def takes(self, point):
        return point == "pump_speed_cmd_pct"

    def commanded(self):
        out = self.output
        return {"pump_speed_cmd_pct": out.value} if out.fault == hal.OK else {}

    def poll(self):
        """Read the probes, then drive the pump output and the primary valve's target."""
        self.polls += 1
        alive = False
        for key, ch in self._probes:
            self.readings[key] = ch.value if ch.ok else None
            alive = alive or ch.ok
        speed, _, supply, cmd = self.setpoints()
        lim = self.limits
        if not alive or speed is None:
            speed = self.fallback["pump_speed_pct"]
        speed = min(lim["pump_speed_max_pct"], max(lim["pump_speed_min_pct"], speed))
        self.output.write(speed)
        if self.output.fault != hal.OK:
            self.last_error = "pump output: write failed"
        supply = round(supply, 1)  # a noisy outdoor probe does not move the target each poll
        self.readings["t_supply_setpoint_c"] = supply
        if supply != self.target_c:
            self.target_c = supply
            self.set_target(supply)
        if not alive:
            self.last_error = "no station probe reads"
            self._set_mode("offline")
        else:
            self._set_mode("host" if cmd is not None else "local")
