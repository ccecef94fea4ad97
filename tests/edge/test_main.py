"""edge.main on CPython with fake `machine`, `micropython` and `onewire` modules: a broken
board definition leaves every pin untouched; a crash in the loop stops the motors and resets.

What stands in for what: the fakes below for the port's modules; `ManualClock` for the
board's clock. edge.main itself runs unchanged."""

import sys
import types
from pathlib import Path

import pytest

from edge.clock import ManualClock
from tests.edge.fakeport import FakeADC, FakeBus, FakeOneWire, FakeOneWireError, FakePin, FakePWM

ROOT = Path(__file__).resolve().parents[2]


class Reset(Exception):
    pass


class Stop(Exception):
    pass


@pytest.fixture
def port(monkeypatch):
    made = {"pins": [], "wdt": [], "pwm": []}

    class Pin(FakePin):
        def __init__(self, pin, mode=0, value=None):
            made["pins"].append(pin)
            super().__init__(pin, mode, value)

    class WDT:
        def __init__(self, timeout=5000):
            made["wdt"].append(timeout)

        def feed(self):
            pass

    def reset():
        raise Reset()

    machine = types.ModuleType("machine")
    machine.Pin = Pin

    class PWM(FakePWM):
        def __init__(self, pin, freq=0, duty_u16=0):
            super().__init__(pin, freq, duty_u16)
            made["pwm"].append(self)

    machine.PWM = PWM
    machine.ADC = FakeADC
    machine.I2C = FakeBus
    machine.SPI = FakeBus
    machine.WDT = WDT
    machine.reset = reset
    machine.reset_cause = lambda: 1
    micropython = types.ModuleType("micropython")
    micropython.alloc_emergency_exception_buf = lambda n: None
    micropython.const = lambda x: x
    onewire = types.ModuleType("onewire")
    onewire.OneWire = FakeOneWire
    onewire.OneWireError = FakeOneWireError
    for name, mod in (("machine", machine), ("micropython", micropython), ("onewire", onewire)):
        monkeypatch.setitem(sys.modules, name, mod)
    for name in list(sys.modules):
        if name.startswith("edge.drivers."):
            monkeypatch.delitem(sys.modules, name)
    FakeADC.raw = {33: 30000, 34: 20000, 35: 20000, 32: 30000, 39: 30000}
    return made


def test_broken_board_definition_touches_no_pin(port, tmp_path, monkeypatch, capsys):
    from edge import main as entry

    bad = (ROOT / "boards" / "esp32-devkit.json").read_text().replace('"in1": 25', '"in1": 36')
    (tmp_path / "board.json").write_text(bad)

    def idle(clock, reason):
        raise Stop(str(reason))

    monkeypatch.setattr(entry, "_idle_safe", idle)
    with pytest.raises(Stop) as stop:
        entry.main(str(tmp_path / "board.json"), str(tmp_path) + "/")
    assert "valves[0].actuator.in1" in str(stop.value) and "input-only" in str(stop.value)
    assert "valves[0].actuator.in1" in capsys.readouterr().out
    assert port["pins"] == [] and port["wdt"] == []  # nothing configured, no watchdog


def test_crash_in_the_loop_stops_the_motors_and_resets(port, tmp_path, monkeypatch):
    from edge import clock as clockmod
    from edge import main as entry

    (tmp_path / "board.json").write_text((ROOT / "boards" / "esp32-devkit.json").read_text())

    class CrashingClock(ManualClock):
        def sleep_ms(self, ms):
            super().sleep_ms(ms)
            if self.now_ms > 30000:
                raise RuntimeError("simulated firmware bug")

    monkeypatch.setattr(clockmod, "BoardClock", CrashingClock)
    with pytest.raises(Reset):
        entry.main(str(tmp_path / "board.json"), str(tmp_path) + "/")
    assert port["wdt"] == [8000]
    assert 25 in port["pins"] and 16 in port["pins"]
    # the motors were stopped before the reset: H-bridges braked, relays off
    assert all(p.duty == 65535 for p in port["pwm"])
    assert port["pwm"], "no H-bridge built"
    assert (tmp_path / "boot.json").exists()  # the next boot will count this crash
