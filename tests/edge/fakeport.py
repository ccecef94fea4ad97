"""Fake `machine` and `onewire` classes for running the real drivers on CPython.

They record what a driver writes to pins and buses and answer with the bytes a device would
send; tests/edge/test_drivers.py and tests/edge/test_main.py install them as modules."""


class FakePin:
    OUT = 1
    IN = 0

    def __init__(self, pin, mode=0, value=None):
        self.pin = pin
        self.level = value

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v


class FakePWM:
    def __init__(self, pin, freq=0, duty_u16=0):
        self.pin = pin
        self.freq = freq
        self.duty = duty_u16

    def duty_u16(self, v=None):
        if v is None:
            return self.duty
        self.duty = v


class FakeADC:
    ATTN_11DB = 3
    raw = {}

    def __init__(self, pin, atten=None):
        self.pin = pin.pin

    def read_u16(self):
        return FakeADC.raw[self.pin]


class FakeOneWireError(Exception):
    pass


class FakeOneWire:
    def __init__(self, pin):
        self.present = True
        self.shorted = False
        self.scratch = bytes(9)
        self.written = []

    def reset(self, required=False):
        if self.shorted:
            raise FakeOneWireError()
        return self.present

    def writebyte(self, b):
        self.written.append(b)

    def select_rom(self, rom):
        self.written.append(bytes(rom))

    def readinto(self, buf):
        buf[:] = self.scratch

    def crc8(self, data):
        crc = 0
        for byte in data:
            for _ in range(8):
                mix = (crc ^ byte) & 1
                crc >>= 1
                if mix:
                    crc ^= 0x8C
                byte >>= 1
        return crc


class FakeBus:
    """machine.I2C / machine.SPI: records how the board file configured it."""

    def __init__(self, bus_id, **kw):
        self.id = bus_id
        self.kw = kw
        self.written = []

    def write(self, buf):
        self.written.append(bytes(buf))
