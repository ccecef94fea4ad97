"""AS5600 magnetic angle encoder on I2C (address 0x36), 12 bits per turn.

`read()` gives the raw angle in degrees. The STATUS register says whether the magnet is
there and at a usable distance; without it the angle is noise, so `fault` becomes F_MAGNET.
An I2C error (sensor unplugged, bus stuck) gives F_DEVICE.
"""

try:
    from micropython import const
except ImportError:

    def const(x):  # type: ignore[no-redef, misc]
        return x


from edge import hal

_ADDR = const(0x36)
_REG_STATUS = const(0x0B)
_REG_RAW_ANGLE = const(0x0C)
_MD = const(0x20)  # magnet detected
_ML = const(0x10)  # magnet too weak
_MH = const(0x08)  # magnet too strong


class AS5600(hal.AngleSensor):
    def __init__(self, i2c, address=_ADDR):
        self._i2c = i2c
        self._addr = address
        self._status = bytearray(1)
        self._raw = bytearray(2)
        self.fault = hal.F_STALE
        self.value = 0.0

    def read(self):
        try:
            self._i2c.readfrom_mem_into(self._addr, _REG_STATUS, self._status)
            status = self._status[0]
            if not status & _MD or status & (_ML | _MH):
                self.fault = hal.F_MAGNET
                return self.value
            self._i2c.readfrom_mem_into(self._addr, _REG_RAW_ANGLE, self._raw)
        except OSError:
            self.fault = hal.F_DEVICE
            return self.value
        raw = ((self._raw[0] & 0x0F) << 8) | self._raw[1]
        self.value = raw * 360.0 / 4096.0
        self.fault = hal.OK
        return self.value
