"""pymodbus slaves on a pseudo-terminal, with a faulty wire, for testing the board's RTU master.

pymodbus is the independent Modbus implementation: its RTU framer decodes each request the
board sends (checking the board's CRC and framing), its PDU classes execute the request on a
pymodbus simulator datastore (`SimCore` with one `SimDevice` per slave address), and its
framer encodes the reply with pymodbus's own CRC. pymodbus's serial server needs pyserial,
which this environment does not install, so this module moves the bytes between the pty and
pymodbus itself; that is the only part not from pymodbus.

Between pymodbus and the wire, per slave address, a fault can be injected: `dead` (no
reply), `crc` (last byte flipped), `wrong_addr` (the reply carries another address, with a
valid CRC), and for the whole bus `babble` (random bytes without pause).

The board's side is `PtyPort`, a UART-like object (any, read, write, flush) on the pty.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import random
import select
import struct
import termios
import threading
import time
import tty

from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simcore import SimCore


class RealClock:
    """edge.clock's interface on CPython's monotonic clock (the bus runs in real time)."""

    def ticks_ms(self):
        return time.monotonic_ns() // 1_000_000

    def ticks_diff(self, a, b):
        return a - b

    def ticks_add(self, t, ms):
        return t + ms

    def sleep_ms(self, ms):
        time.sleep(ms / 1000)

    def time_s(self):
        return int(time.time())


class PtyPort:
    """The board's UART on one end of a pseudo-terminal."""

    def __init__(self, fd: int):
        self.fd = fd
        os.set_blocking(fd, False)

    def any(self) -> int:
        buf = fcntl.ioctl(self.fd, termios.FIONREAD, b"\0\0\0\0")
        return struct.unpack("i", buf)[0]

    def read(self, n: int):
        try:
            return os.read(self.fd, n)
        except BlockingIOError:
            return None

    def write(self, data) -> int:
        view = memoryview(bytes(data))
        while view:
            try:
                n = os.write(self.fd, view)
            except BlockingIOError:
                time.sleep(0.0005)
                continue
            view = view[n:]
        return len(data)


def device(addr: int, holding: dict[int, int], inputs: dict[int, int]) -> SimDevice:
    """A pymodbus simulated slave with the given holding and input registers (others 0)."""

    def block(regs):
        top = max(regs, default=0) + 1
        values = [regs.get(i, 0) for i in range(top)]
        return [SimData(0, values=values, datatype=DataType.REGISTERS)]

    bits = [SimData(0, values=[False], datatype=DataType.BITS)]
    return SimDevice(id=addr, simdata=(bits, bits, block(holding), block(inputs)))


class PymodbusBus:
    """pymodbus slaves answering on a pty; `port` is the board's end."""

    def __init__(self, devices: list[SimDevice], baud: int = 9600, latency_ms: float = 2.0):
        self.core = SimCore(devices)
        self.ids = {d.id for d in devices}
        self.framer = FramerRTU(DecodePDU(True))
        self.faults: dict[object, str] = {}
        self.requests: list[bytes] = []
        self.replies: list[bytes] = []
        self.gap_s = max(0.00175, 3.5 * 11 / baud)
        self.latency_s = latency_ms / 1000
        self.master_fd, self.slave_fd = os.openpty()
        tty.setraw(self.slave_fd)
        self.port = PtyPort(self.slave_fd)
        self.loop = asyncio.new_event_loop()
        self._lock = threading.Lock()  # the datastore's loop is used from two threads
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self.loop.close()
        os.close(self.master_fd)
        os.close(self.slave_fd)

    def registers(self, addr: int, fc: int, start: int, count: int) -> list[int]:
        """Read pymodbus's datastore directly (what the board wrote)."""
        with self._lock:
            return self.loop.run_until_complete(self.core.async_getValues(addr, fc, start, count))

    def set_registers(self, addr: int, fc: int, start: int, values: list[int]) -> None:
        """Write pymodbus's datastore directly (a slave's own readings changing); fc 3 for
        holding, 4 for input registers."""
        with self._lock:
            self.loop.run_until_complete(self.core.async_setValues(addr, fc, start, values))

    def _run(self):
        buf = bytearray()
        last = time.monotonic()
        while not self._stop.is_set():
            if self.faults.get("bus") == "babble":
                os.write(self.master_fd, bytes(random.randrange(256) for _ in range(4)))
            ready, _, _ = select.select([self.master_fd], [], [], 0.0005)
            now = time.monotonic()
            if ready:
                buf += os.read(self.master_fd, 512)
                last = now
            elif buf and now - last >= self.gap_s:
                self._handle(bytes(buf))
                buf.clear()

    def _handle(self, data: bytes):
        self.requests.append(data)
        used, pdu = self.framer.handleFrame(data, 0, 0)
        if pdu is None or pdu.dev_id not in self.ids:
            return  # bad CRC, garbage, or nobody at that address: silence, as on a real bus
        fault = self.faults.get(pdu.dev_id)
        if fault == "dead":
            return
        with self._lock:
            response = self.loop.run_until_complete(pdu.datastore_update(self.core, pdu.dev_id))
        response.dev_id = pdu.dev_id
        response.transaction_id = pdu.transaction_id
        reply = bytearray(self.framer.buildFrame(response))
        if fault == "crc":
            reply[-1] ^= 0xFF
        elif fault == "wrong_addr":
            reply = bytearray(self.framer.encode(bytes(reply[1:-2]), pdu.dev_id % 247 + 1, 0))
        time.sleep(self.latency_s)
        self.replies.append(bytes(reply))
        os.write(self.master_fd, reply)
