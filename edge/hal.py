"""The hardware interface the board program uses, and the sensor fault codes.

Drivers (edge/drivers/) and the simulated hardware (edge/simhw.py) implement these classes;
the rest of the program sees only them, looked up by logical name in a `Hardware` object.

Sensor reads never raise for a sensor problem: `read()` returns a float and sets the object's
`fault` to one of the codes below (`OK` when the value is good). Units are in the method
names: degrees for angles, degC for temperatures, kPa for pressures.
"""

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):  # type: ignore[no-redef, misc]
        return x


# Sensor fault codes (also reported in telemetry and events by name, see FAULT_NAMES).
OK = const(0)
F_OPEN = const(1)  # open circuit: probe or wire missing, 4-20 mA loop broken
F_SHORT = const(2)  # short circuit, or above the transducer's range
F_POWER_ON = const(3)  # DS18B20 power-on value (85 degC): no conversion happened
F_DEVICE = const(4)  # bus or device error: CRC, no answer, converter fault register
F_RANGE = const(5)  # a reading outside the plausible range of the quantity
F_RATE = const(6)  # changed faster than the physics allows
F_STUCK = const(7)  # identical value for too long
F_MAGNET = const(8)  # angle sensor: magnet missing, too weak or too strong
F_STALE = const(9)  # no reading yet, or none for too long

FAULT_NAMES = (
    "ok",
    "open",
    "short",
    "power_on",
    "device",
    "range",
    "rate",
    "stuck",
    "magnet",
    "stale",
)

# Motor directions for Actuator.drive().
CLOSE = const(-1)
STOP = const(0)
OPEN = const(1)


class Actuator:
    """A valve motor: DC motor on an H-bridge or a 3-point actuator on two relays."""

    def drive(self, direction, slow=False):
        """Run towards OPEN (+1) or CLOSE (-1), or STOP (0); `slow` asks for reduced speed."""
        raise NotImplementedError

    def stop(self):
        self.drive(STOP)


class Sensor:
    """Anything that gives one number: `read()` returns it and sets `fault`."""

    fault = F_STALE

    def read(self):
        raise NotImplementedError


class AngleSensor(Sensor):
    """Valve shaft angle in degrees, 0 <= angle < 360 (AS5600) or within the pot's span."""


class TempProbe(Sensor):
    """Water temperature in degC."""


class PressureSensor(Sensor):
    """Gauge pressure in kPa."""


class AnalogOut:
    """An analogue output in percent of its span: 0-10 V or 4-20 mA to a pump drive's speed
    input (edge/drivers/pwm_out.py on a board, edge.simhw.SimAnalogOut in tests).

    `write(pct)` sets it (clamped to 0..100); `value` is what it holds now; `fault` is OK, or
    F_DEVICE when the last write failed (the output then keeps its previous value).
    `safe_pct` is what `safe()` writes: the value the output takes in the board's safe state
    (a station's pump output: the station's fallback speed, edge.boarddef)."""

    value = 0.0
    fault = OK
    safe_pct = 0.0

    def write(self, pct):
        raise NotImplementedError

    def safe(self):
        self.write(self.safe_pct)


class Converter:
    """A bus that starts conversions for all its sensors at once (a 1-Wire bus of DS18B20s).

    `convert()` starts the next conversion; the sensors' `read()` return the previous one.
    """

    def convert(self):
        raise NotImplementedError


class Watchdog:
    """A hardware watchdog: once started, the board resets unless `feed()` comes in time."""

    def feed(self):
        raise NotImplementedError


class Hardware:
    """Everything the program touches, by logical name.

    actuators, angles: valve id -> Actuator / AngleSensor
    sensors:           channel name -> Sensor (temperatures and pressures)
    outputs:           output name -> AnalogOut (a station's pump speed), {} on most boards
    converters:        list of Converter (1-Wire buses)
    clock:             an edge.clock clock
    watchdog:          a Watchdog, or None until the supervisor starts one
    fs_root:           folder for configuration and state files ("" for the current one)
    """

    def __init__(
        self,
        clock,
        actuators,
        angles,
        sensors,
        converters=(),
        watchdog=None,
        fs_root="",
        outputs=None,
    ):
        self.clock = clock
        self.actuators = actuators
        self.angles = angles
        self.sensors = sensors
        self.converters = list(converters)
        self.watchdog = watchdog
        self.fs_root = fs_root
        self.outputs = outputs if outputs is not None else {}

    def safe_state(self):
        """Stop every motor and put every analogue output at its safe value: what the board
        does when anything is wrong."""
        for act in self.actuators.values():
            act.stop()
        for out in self.outputs.values():
            out.safe()
