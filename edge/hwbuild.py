"""Build the real drivers of a validated board definition into an edge.hal.Hardware.

The only module that imports `machine` and the drivers, and only inside `build()`, so
importing it costs nothing and the host never needs `machine`. Simulated boards use
edge.simhw instead.
"""

from edge import hal, platform


def build(board, clock):
    """Drivers for every bus, sensor, analogue output and valve of `board`, by logical name."""
    from machine import I2C, SPI, Pin

    atten = platform.PORTS[board["port"]]["adc_atten"]
    buses = {}  # type: dict
    converters = []
    for name, spec in board["buses"].items():
        kind = spec["type"]
        if kind == "i2c":
            buses[name] = I2C(
                spec["id"], scl=Pin(spec["scl"]), sda=Pin(spec["sda"]), freq=spec["freq_hz"]
            )
        elif kind == "spi":
            buses[name] = SPI(
                spec["id"],
                baudrate=spec["baud"],
                polarity=0,
                phase=1,
                sck=Pin(spec["sck"]),
                mosi=Pin(spec["mosi"]),
                miso=Pin(spec["miso"]),
            )
        else:
            from edge.drivers.ds18b20 import DS18B20Bus

            buses[name] = DS18B20Bus(Pin(spec["pin"]))
            converters.append(buses[name])
    sensors = {}
    for name, spec in board["sensors"].items():
        sensors[name] = _sensor(spec, buses, atten)
    actuators = {}
    angles = {}
    for valve in board["valves"]:
        actuators[valve["id"]] = _actuator(valve["actuator"], clock)
        angles[valve["id"]] = _feedback(valve["feedback"], buses, atten)
    outputs = {}
    for name, spec in board.get("outputs", {}).items():
        outputs[name] = _output(spec)
    return hal.Hardware(clock, actuators, angles, sensors, converters, outputs=outputs)


def _output(spec):
    if spec["type"] == "pwm":
        from edge.drivers.pwm_out import PWMOut

        return PWMOut(
            spec["pin"],
            freq_hz=spec["freq_hz"],
            duty_span_pct=spec["duty_span_pct"],
            invert=spec["invert"],
            safe_pct=spec["safe_pct"],
        )
    raise ValueError("output type {!r} has no driver on a board".format(spec["type"]))


def _sensor(spec, buses, atten):
    kind = spec["type"]
    if kind == "ds18b20":
        from edge.drivers.ds18b20 import DS18B20

        return DS18B20(buses[spec["bus"]], spec["rom"])
    if kind == "max31865_pt1000":
        from machine import Pin

        from edge.drivers.max31865_pt1000 import MAX31865PT1000

        cs = Pin(spec["cs"], Pin.OUT, value=1)
        return MAX31865PT1000(buses[spec["bus"]], cs, r_ref_ohm=spec["r_ref_ohm"])
    if kind == "ntc_adc":
        from edge.drivers.ntc_adc import NTCADC

        return NTCADC(
            spec["pin"], r_series_ohm=spec["r_series_ohm"], beta=spec["beta"], attenuate=atten
        )
    if kind == "pressure_4_20ma":
        from edge.drivers.pressure_4_20ma import Pressure420mA

        return Pressure420mA(
            spec["pin"], range_kpa=spec["range_kpa"], shunt_ohm=spec["shunt_ohm"], attenuate=atten
        )
    raise ValueError("sensor type {!r} has no driver on a board".format(kind))


def _actuator(spec, clock):
    kind = spec["type"]
    if kind == "hbridge":
        from edge.drivers.hbridge import HBridge

        return HBridge(
            spec["in1"],
            spec["in2"],
            freq_hz=spec["freq_hz"],
            duty_pct=spec["duty_pct"],
            slow_duty_pct=spec["slow_duty_pct"],
        )
    if kind == "relays3pt":
        from edge.drivers.relays3pt import Relays3Pt

        return Relays3Pt(spec["open"], spec["close"], clock, dead_ms=spec["dead_ms"])
    raise ValueError("actuator type {!r} has no driver on a board".format(kind))


def _feedback(spec, buses, atten):
    kind = spec["type"]
    if kind == "as5600":
        from edge.drivers.as5600 import AS5600

        return AS5600(buses[spec["bus"]])
    if kind == "pot_adc":
        from edge.drivers.pot_adc import PotADC

        return PotADC(spec["pin"], span_deg=spec["span_deg"], attenuate=atten)
    raise ValueError("feedback type {!r} has no driver on a board".format(kind))
