"""The real drivers (edge/drivers/) against fake `machine` and `onewire` modules on CPython.

No hardware is attached: the fakes record what a driver writes to pins and buses and answer
with the bytes a device would send (register maps from the AS5600, DS18B20 and MAX31865
datasheets). What stands in for what: `FakeI2C`, `FakeSPI`, `FakeOneWire` and `FakeADC`
for the port's classes; the drivers themselves are the board code, unchanged."""

import sys
import types
from pathlib import Path

import pytest

from edge import hal
from edge.clock import ManualClock
from tests.edge.fakeport import (
    FakeADC,
    FakeBus,
    FakeOneWire,
    FakeOneWireError,
    FakePin,
    FakePWM,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fake_port(monkeypatch):
    machine = types.ModuleType("machine")
    machine.Pin = FakePin
    machine.PWM = FakePWM
    machine.ADC = FakeADC
    machine.I2C = FakeBus
    machine.SPI = FakeBus
    onewire = types.ModuleType("onewire")
    onewire.OneWire = FakeOneWire
    onewire.OneWireError = FakeOneWireError
    monkeypatch.setitem(sys.modules, "machine", machine)
    monkeypatch.setitem(sys.modules, "onewire", onewire)
    for name in list(sys.modules):
        if name.startswith("edge.drivers."):
            monkeypatch.delitem(sys.modules, name)


def test_hbridge_drives_one_leg_at_a_time_and_brakes():
    from edge.drivers.hbridge import HBridge

    hb = HBridge(25, 26, duty_pct=100, slow_duty_pct=50)
    hb.drive(hal.OPEN)
    assert (hb._in1.duty, hb._in2.duty) == (65535, 0)
    hb.drive(hal.CLOSE, slow=True)
    assert (hb._in1.duty, hb._in2.duty) == (0, 32767)
    hb.stop()
    assert (hb._in1.duty, hb._in2.duty) == (65535, 65535)


def test_relays_never_both_on_and_wait_before_reversing():
    from edge.drivers.relays3pt import Relays3Pt

    clock = ManualClock()
    r = Relays3Pt(16, 17, clock, dead_ms=300)
    r.drive(hal.OPEN)  # both were off since construction at t=0: wait the dead time
    assert r._open.level == 0
    clock.advance(300)
    r.drive(hal.OPEN)
    assert (r._open.level, r._close.level) == (1, 0)
    r.drive(hal.CLOSE)
    assert (r._open.level, r._close.level) == (0, 0)  # both off first
    clock.advance(299)
    r.drive(hal.CLOSE)
    assert r._close.level == 0
    clock.advance(1)
    r.drive(hal.CLOSE)
    assert (r._open.level, r._close.level) == (0, 1)


class FakeI2C:
    def __init__(self, status, raw):
        self.regs = {0x0B: bytes([status]), 0x0C: raw.to_bytes(2, "big")}
        self.fail = False

    def readfrom_mem_into(self, addr, reg, buf):
        assert addr == 0x36
        if self.fail:
            raise OSError(19)
        buf[:] = self.regs[reg][: len(buf)]


def test_as5600_angle_and_magnet_status():
    from edge.drivers.as5600 import AS5600

    i2c = FakeI2C(0x20, 1024)
    enc = AS5600(i2c)
    assert enc.read() == 90.0 and enc.fault == hal.OK
    i2c.regs[0x0B] = bytes([0x00])  # no magnet
    enc.read()
    assert enc.fault == hal.F_MAGNET
    i2c.regs[0x0B] = bytes([0x28])  # detected but too strong
    enc.read()
    assert enc.fault == hal.F_MAGNET
    i2c.fail = True
    enc.read()
    assert enc.fault == hal.F_DEVICE


def _scratch(ow, raw):
    body = bytes([raw & 0xFF, (raw >> 8) & 0xFF, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10])
    ow.scratch = body + bytes([ow.crc8(body)])


def test_ds18b20_values_and_faults():
    from edge.drivers.ds18b20 import DS18B20, DS18B20Bus

    bus = DS18B20Bus(FakePin(4))
    probe = DS18B20(bus, "28ff4a7f91160459")
    _scratch(bus.ow, 0x0280)  # 40.0 degC
    assert probe.read() == 40.0 and probe.fault == hal.OK
    assert bus.ow.written == [bytes.fromhex("28ff4a7f91160459"), 0xBE]  # match ROM, read
    _scratch(bus.ow, 0xFF5E)  # -10.125 degC
    assert probe.read() == -10.125
    _scratch(bus.ow, 0x0550)
    probe.read()
    assert probe.fault == hal.F_POWER_ON and probe.value == -10.125
    bus.ow.scratch = bytes(bus.ow.scratch[:8]) + b"\x00"  # CRC wrong
    probe.read()
    assert probe.fault == hal.F_DEVICE
    bus.ow.present = False
    probe.read()
    assert probe.fault == hal.F_OPEN
    bus.ow.shorted = True
    probe.read()
    assert probe.fault == hal.F_SHORT
    bus.convert()
    assert bus.fault == hal.F_SHORT
    bus.ow.shorted = False
    bus.ow.present = True
    bus.ow.written.clear()
    bus.convert()
    assert bus.ow.written == [0xCC, 0x44]


class FakeSPI:
    def __init__(self):
        self.regs = {0x01: b"\x00\x00", 0x07: b"\x00"}
        self.writes = []

    def write(self, buf):
        self.writes.append(bytes(buf))

    def write_readinto(self, out, into):
        reg = out[0]
        data = self.regs[reg]
        into[0] = 0
        into[1 : 1 + len(data)] = data


def test_max31865_pt1000_temperature_and_faults():
    from edge.drivers.max31865_pt1000 import MAX31865PT1000, rtd_to_c

    assert abs(rtd_to_c(1000.0)) < 1e-9
    assert abs(rtd_to_c(1385.055) - 100.0) < 0.01  # IEC 60751 table
    spi = FakeSPI()
    cs = FakePin(5, FakePin.OUT, 1)
    conv = MAX31865PT1000(spi, cs, r_ref_ohm=4300.0)
    assert spi.writes[0] == bytes([0x80, 0xC3])  # Vbias, auto, clear faults, 50 Hz
    code = int(1155.41 / 4300.0 * 32768)  # about 40 degC
    spi.regs[0x01] = (code << 1).to_bytes(2, "big")
    assert abs(conv.read() - 40.0) < 0.1 and conv.fault == hal.OK
    spi.regs[0x01] = b"\xff\xff"  # fault flag set
    spi.regs[0x07] = b"\x80"  # RTD high threshold: open probe
    conv.read()
    assert conv.fault == hal.F_OPEN
    spi.regs[0x07] = b"\x40"
    conv.read()
    assert conv.fault == hal.F_SHORT
    assert cs.level == 1


def test_ntc_and_pressure_on_adc():
    from edge.drivers.ntc_adc import NTCADC
    from edge.drivers.pot_adc import PotADC
    from edge.drivers.pressure_4_20ma import Pressure420mA

    FakeADC.raw = {33: 32768, 34: 0, 32: 32768}
    ntc = NTCADC(33)
    assert abs(ntc.read() - 25.0) < 0.01  # R_ntc = R_series at half scale
    FakeADC.raw[33] = 65535
    ntc.read()
    assert ntc.fault == hal.F_OPEN
    FakeADC.raw[33] = 0
    ntc.read()
    assert ntc.fault == hal.F_SHORT
    p = Pressure420mA(34, range_kpa=(0, 1000), shunt_ohm=150.0, vref_v=3.3)
    for ma, kpa in ((4.0, 0.0), (12.0, 500.0), (20.0, 1000.0)):
        FakeADC.raw[34] = round(ma * 150.0 / 1000.0 / 3.3 * 65535)
        assert abs(p.read() - kpa) < 1.0 and p.fault == hal.OK
    FakeADC.raw[34] = round(2.0 * 0.15 / 3.3 * 65535)
    p.read()
    assert p.fault == hal.F_OPEN
    pot = PotADC(32, span_deg=270.0)
    assert abs(pot.read() - 135.0) < 0.01
    FakeADC.raw[32] = 0
    pot.read()
    assert pot.fault == hal.F_OPEN


def test_pwm_output_maps_percent_onto_its_duty_span_and_starts_safe():
    from edge.drivers.pwm_out import PWMOut

    out = PWMOut(16, freq_hz=5000, safe_pct=85.0)
    assert out._pwm.freq == 5000 and out._pwm.duty == round(0.85 * 65535)  # safe from the start
    assert out.value == 85.0 and out.fault == hal.OK
    out.write(40.0)
    assert out._pwm.duty == round(0.40 * 65535) and out.value == 40.0
    out.write(130.0)
    assert out._pwm.duty == 65535 and out.value == 100.0
    two_to_ten = PWMOut(16, duty_span_pct=(20, 100), safe_pct=0.0)
    assert two_to_ten._pwm.duty == round(0.20 * 65535)  # 0 % is 2 V of 10
    two_to_ten.write(50.0)
    assert two_to_ten._pwm.duty == round(0.60 * 65535)
    inverted = PWMOut(16, invert=True, safe_pct=25.0)
    assert inverted._pwm.duty == 65535 - round(0.25 * 65535)

    def refuse(v=None):
        raise OSError("PWM")

    out._pwm.duty_u16 = refuse
    out.write(60.0)
    assert out.fault == hal.F_DEVICE and out.value == 100.0  # keeps what it held


def test_the_station_board_builds_its_pump_output_at_the_fallback_speed():
    from edge import boarddef, hwbuild
    from edge.drivers.pwm_out import PWMOut

    board = boarddef.load(str(ROOT / "boards" / "station-board.json"))
    hw = hwbuild.build(board, ManualClock())
    out = hw.outputs["pump_speed"]
    assert isinstance(out, PWMOut) and out._pwm.pin.pin == 16
    assert out.value == 85 and out._pwm.duty == round(0.85 * 65535)
    out.write(50.0)
    hw.safe_state()
    assert out.value == 85 and out._pwm.duty == round(0.85 * 65535)


@pytest.mark.parametrize("name", ["esp32-devkit", "olimex-esp32-poe", "pico-w", "station-board"])
def test_every_board_file_builds_its_drivers(name):
    from edge import boarddef, hwbuild
    from edge.drivers.as5600 import AS5600
    from edge.drivers.ds18b20 import DS18B20Bus

    board = boarddef.load(str(ROOT / "boards" / (name + ".json")))
    hw = hwbuild.build(board, ManualClock())
    assert sorted(hw.actuators) == sorted(v["id"] for v in board["valves"])
    assert sorted(hw.angles) == sorted(hw.actuators)
    assert sorted(hw.sensors) == sorted(board["sensors"])
    assert all(isinstance(c, DS18B20Bus) for c in hw.converters) and hw.converters
    for valve in board["valves"]:
        act = hw.actuators[valve["id"]]
        assert isinstance(act, hal.Actuator) and isinstance(hw.angles[valve["id"]], hal.Sensor)
        if valve["feedback"]["type"] == "as5600":
            enc = hw.angles[valve["id"]]
            assert isinstance(enc, AS5600)
            assert enc._i2c.kw["freq"] == 400000
    for sensor in hw.sensors.values():
        assert sensor.fault == hal.F_STALE  # nothing read yet
        if hasattr(sensor, "_spi"):
            assert sensor._spi.written[0] == bytes([0x80, 0xC3])  # MAX31865 configured
