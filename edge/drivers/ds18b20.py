"""DS18B20 temperature probes on a 1-Wire bus.

`DS18B20Bus.convert()` starts a conversion on every probe at once (skip ROM + 0x44); 750 ms
later each `DS18B20.read()` reads its scratchpad (match ROM + 0xBE) and checks the CRC.
The sensing task reads, then starts the next conversion, so each read returns the previous
period's value and nothing waits.

Faults: no presence pulse (probe unplugged) -> F_OPEN; the bus held low -> F_SHORT; a CRC
error or an all-ones scratchpad -> F_DEVICE; the power-on value 85.0 degC (the probe reset
or never converted) -> F_POWER_ON.
"""

try:
    from micropython import const
except ImportError:

    def const(x):  # type: ignore[no-redef, misc]
        return x


import onewire

from edge import hal

_CONVERT = const(0x44)
_READ_SCRATCH = const(0xBE)
_SKIP_ROM = const(0xCC)
_POWER_ON_RAW = const(0x0550)


class DS18B20Bus(hal.Converter):
    def __init__(self, pin):
        self.ow = onewire.OneWire(pin)
        self.fault = hal.OK

    def convert(self):
        try:
            if not self.ow.reset():
                self.fault = hal.F_OPEN
                return
            self.ow.writebyte(_SKIP_ROM)
            self.ow.writebyte(_CONVERT)
            self.fault = hal.OK
        except onewire.OneWireError:
            self.fault = hal.F_SHORT


class DS18B20(hal.TempProbe):
    def __init__(self, bus, rom_hex):
        self._bus = bus
        self._rom = bytes(int(rom_hex[i : i + 2], 16) for i in range(0, 16, 2))
        self._buf = bytearray(9)
        self.fault = hal.F_STALE
        self.value = 0.0

    def read(self):
        ow = self._bus.ow
        try:
            if not ow.reset():
                self.fault = hal.F_OPEN
                return self.value
            ow.select_rom(self._rom)
            ow.writebyte(_READ_SCRATCH)
            ow.readinto(self._buf)
        except onewire.OneWireError:
            self.fault = hal.F_SHORT
            return self.value
        buf = self._buf
        if buf[0] == 0xFF and buf[1] == 0xFF or ow.crc8(buf) != 0:
            self.fault = hal.F_DEVICE
            return self.value
        raw = buf[0] | (buf[1] << 8)
        if raw == _POWER_ON_RAW:
            self.fault = hal.F_POWER_ON
            return self.value
        if raw & 0x8000:
            raw -= 0x10000
        self.value = raw / 16.0
        self.fault = hal.OK
        return self.value
