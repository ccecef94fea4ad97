"""PT1000 probe through a MAX31865 RTD-to-digital converter on SPI.

The converter runs in automatic conversion mode; `read()` reads the 15-bit resistance ratio
and converts it with the Callendar-Van Dusen equation (IEC 60751). The fault status register
tells an open probe (RTD high / REFIN / RTDIN- thresholds) from a shorted one (RTD low).
"""

try:
    from micropython import const
except ImportError:

    def const(x):  # type: ignore[no-redef, misc]
        return x


import math

from edge import hal

_REG_CONFIG = const(0x00)
_REG_RTD = const(0x01)
_REG_FAULT = const(0x07)
_WRITE = const(0x80)
_CFG_VBIAS_AUTO = const(0xC0)
_CFG_3WIRE = const(0x10)
_CFG_CLEAR_FAULT = const(0x02)
_CFG_50HZ = const(0x01)
_A = 3.9083e-3
_B = -5.775e-7
_FAULT_OPEN_BITS = const(0x80 | 0x20 | 0x10 | 0x08)
_FAULT_SHORT_BITS = const(0x40)


class MAX31865PT1000(hal.TempProbe):
    def __init__(
        self, spi, cs, r_ref_ohm=4300.0, r0_ohm=1000.0, three_wire=False, mains_50hz=True
    ):
        self._spi = spi
        self._cs = cs
        self._cs.value(1)
        self._r_ref = r_ref_ohm
        self._r0 = r0_ohm
        self._cfg = _CFG_VBIAS_AUTO | (_CFG_3WIRE if three_wire else 0)
        self._cfg |= _CFG_50HZ if mains_50hz else 0
        self._out = bytearray(3)
        self._in = bytearray(3)
        self.fault = hal.F_STALE
        self.value = 0.0
        self._write(_REG_CONFIG, self._cfg | _CFG_CLEAR_FAULT)

    def _write(self, reg, value):
        self._out[0] = _WRITE | reg
        self._out[1] = value
        self._cs.value(0)
        self._spi.write(memoryview(self._out)[:2])
        self._cs.value(1)

    def _read(self, reg, n):
        self._out[0] = reg
        self._out[1] = 0
        self._out[2] = 0
        self._cs.value(0)
        self._spi.write_readinto(memoryview(self._out)[: n + 1], memoryview(self._in)[: n + 1])
        self._cs.value(1)

    def read(self):
        self._read(_REG_RTD, 2)
        raw = (self._in[1] << 8) | self._in[2]
        if raw & 1:
            self._read(_REG_FAULT, 1)
            status = self._in[1]
            self._write(_REG_CONFIG, self._cfg | _CFG_CLEAR_FAULT)
            if status & _FAULT_SHORT_BITS:
                self.fault = hal.F_SHORT
            elif status & _FAULT_OPEN_BITS:
                self.fault = hal.F_OPEN
            else:
                self.fault = hal.F_DEVICE
            return self.value
        ratio = (raw >> 1) / 32768.0
        if ratio <= 0.0:
            self.fault = hal.F_SHORT
            return self.value
        self.value = rtd_to_c(ratio * self._r_ref, self._r0)
        self.fault = hal.OK
        return self.value


def rtd_to_c(r_ohm, r0_ohm=1000.0):
    """Platinum RTD resistance to degC (Callendar-Van Dusen, exact above 0 degC).

    Below 0 degC the quadratic is still used: the error is under 0.05 K down to -20 degC,
    the lowest temperature a heating probe reports.
    """
    disc = _A * _A - 4.0 * _B * (1.0 - r_ohm / r0_ohm)
    if disc < 0.0:
        return 850.0
    return (-_A + math.sqrt(disc)) / (2.0 * _B)
