"""Modbus RTU master for the RS-485 bus to household valves.

Frame: address, function code, data, CRC-16 (polynomial 0xA001 reflected, initial 0xFFFF,
low byte first). Functions used: 3 (read holding registers), 4 (read input registers),
6 (write single register), 16 (write multiple registers).

Timing (Modbus over serial line V1.02, 2.5.1.1), from the bus speed:
- a character is 11 bit times (start, 8 data, parity or a second stop bit, stop);
- before a request the bus must have been silent for 3.5 characters (1.75 ms above 19200
  baud): the master waits for that silence, and bytes arriving meanwhile are thrown away and
  counted (a babbling slave); a bus that never goes quiet raises `BusBabble`;
- the RS-485 transceiver's driver-enable pin goes high just before the request and low as
  soon as its last bit has left the UART (`flush()`, else the computed transmit time), so the
  slave's answer is not cut off (turnaround);
- a reply is complete when its expected length has arrived or the line has been silent for
  3.5 characters after a byte; no first byte within `timeout_ms` is a `Timeout`.

Every reply is checked: length, CRC (`CRCError`), slave address (`WrongAddress`: another
slave answered, or a corrupted address byte), function code (an exception reply raises
`SlaveException` with the Modbus exception code and is not retried). Transport faults are
retried `retries` times. Nothing here blocks for longer than
(1 + retries) * (silence wait + request time + timeout_ms).

The port is a machine.UART (or any object with `write`, `read`, `any` and optionally
`flush`); the direction pin a machine.Pin (or None for transceivers with automatic direction);
time comes from the injectable clock (edge.clock).
"""

_CRC_TABLE = None


def _table():
    global _CRC_TABLE
    if _CRC_TABLE is None:
        t = []
        for i in range(256):
            crc = i
            for _ in range(8):
                crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
            t.append(crc)
        _CRC_TABLE = tuple(t)
    return _CRC_TABLE


def crc16(data, n=-1):
    """Modbus CRC-16 of data[:n] (all of data when n < 0), as an int (low byte sent first)."""
    table = _table()
    crc = 0xFFFF
    if n < 0:
        n = len(data)
    for i in range(n):
        crc = (crc >> 8) ^ table[(crc ^ data[i]) & 0xFF]
    return crc


def frame(addr, pdu):
    """A complete RTU frame: address, PDU, CRC (low byte first)."""
    out = bytearray(len(pdu) + 3)
    out[0] = addr
    out[1 : 1 + len(pdu)] = pdu
    crc = crc16(out, len(pdu) + 1)
    out[-2] = crc & 0xFF
    out[-1] = crc >> 8
    return out


class ModbusError(Exception):
    """A transaction that did not produce a valid reply."""

    retry = True


class Timeout(ModbusError):
    pass


class CRCError(ModbusError):
    pass


class WrongAddress(ModbusError):
    pass


class BadReply(ModbusError):
    pass


class BusBabble(ModbusError):
    """The bus never fell silent for 3.5 characters: some device is talking continuously.

    Not retried: waiting again would only stall the caller longer."""

    retry = False


class SlaveException(ModbusError):
    """The slave answered with a Modbus exception (1 illegal function, 2 illegal address...)."""

    retry = False

    def __init__(self, code):
        super().__init__("exception code {}".format(code))
        self.code = code


class Master:
    """The Modbus calls a master makes, over any transport.

    A transport subclass sets `retries` and `stats` and implements `_once(addr, pdu,
    reply_len)`: one attempt, returning the reply as address byte + PDU (+ CRC on RTU) of
    `reply_len` bytes, or raising a ModbusError.
    """

    retries = 0
    stats = {}  # type: dict  # each transport sets its own in __init__

    # ------------------------------------------------------------------ public calls ----

    def read_registers(self, addr, fc, start, count):
        """Registers start..start+count-1 with function 3 (holding) or 4 (input)."""
        if fc not in (3, 4) or not 1 <= count <= 125:
            raise ValueError("read with function 3 or 4, 1..125 registers")
        pdu = bytes((fc, start >> 8, start & 0xFF, count >> 8, count & 0xFF))
        reply = self.transaction(addr, pdu, 5 + 2 * count)
        if reply[2] != 2 * count:
            raise BadReply("byte count {} for {} registers".format(reply[2], count))
        out = []
        for i in range(count):
            out.append((reply[3 + 2 * i] << 8) | reply[4 + 2 * i])
        return out

    def write_register(self, addr, reg, value):
        """Function 6: one holding register."""
        value &= 0xFFFF
        pdu = bytes((6, reg >> 8, reg & 0xFF, value >> 8, value & 0xFF))
        reply = self.transaction(addr, pdu, 8)
        if bytes(reply[1:6]) != pdu:
            raise BadReply("write echo differs")

    def write_registers(self, addr, reg, values):
        """Function 16: consecutive holding registers."""
        n = len(values)
        if not 1 <= n <= 123:
            raise ValueError("write 1..123 registers")
        pdu = bytearray(6 + 2 * n)
        pdu[0] = 16
        pdu[1] = reg >> 8
        pdu[2] = reg & 0xFF
        pdu[3] = 0
        pdu[4] = n
        pdu[5] = 2 * n
        for i in range(n):
            v = values[i] & 0xFFFF
            pdu[6 + 2 * i] = v >> 8
            pdu[7 + 2 * i] = v & 0xFF
        reply = self.transaction(addr, pdu, 8)
        if bytes(reply[1:6]) != bytes(pdu[0:5]):
            raise BadReply("write-multiple echo differs")

    def transaction(self, addr, pdu, reply_len):
        """Send pdu to addr and return the whole validated reply frame (retrying faults)."""
        attempt = 0
        while True:
            try:
                return self._once(addr, pdu, reply_len)
            except ModbusError as exc:
                if not exc.retry or attempt >= self.retries:
                    raise
                attempt += 1
                self.stats["retries"] += 1

    def _once(self, addr, pdu, reply_len):
        raise NotImplementedError


class RTUMaster(Master):
    """One RS-485 bus.

    port:       UART-like (write, read, any[, flush])
    clock:      edge.clock clock (ticks_ms, ticks_diff, sleep_ms)
    baud:       bus speed (for the 3.5-character silence and the transmit time)
    de_pin:     driver-enable pin (value(1) transmit, value(0) receive) or None
    timeout_ms: how long to wait for the first byte of a reply
    retries:    extra attempts after a transport fault
    babble_ms:  how long to wait for a silent bus before giving up
    """

    def __init__(
        self, port, clock, baud=9600, de_pin=None, timeout_ms=100, retries=1, babble_ms=50
    ):
        self.port = port
        self.clock = clock
        self.de_pin = de_pin
        self.baud = baud
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.babble_ms = babble_ms
        char_us = 11 * 1000000 // baud
        self.char_us = char_us
        # 3.5 characters, at least 1.75 ms above 19200 baud; rounded up to whole ms.
        t35_us = 1750 if baud > 19200 else (7 * char_us + 1) // 2
        self.t35_ms = (t35_us + 999) // 1000
        self._last_activity_ms = clock.ticks_ms() - self.t35_ms
        self._rx = bytearray(256)
        self.stats = {
            "requests": 0,
            "timeouts": 0,
            "crc_errors": 0,
            "wrong_address": 0,
            "bad_replies": 0,
            "exceptions": 0,
            "babble_bytes": 0,
            "retries": 0,
        }
        if de_pin is not None:
            de_pin.value(0)

    # ---------------------------------------------------------------------- the wire ----

    def _now(self):
        return self.clock.ticks_ms()

    def _since(self, t_ms):
        return self.clock.ticks_diff(self.clock.ticks_ms(), t_ms)

    def _wait_silence(self):
        """Wait until the bus has been quiet for 3.5 characters; discard what arrives."""
        port = self.port
        start = self._now()
        while True:
            n = port.any()
            if n:
                junk = port.read(n)
                self.stats["babble_bytes"] += len(junk) if junk else 0
                self._last_activity_ms = self._now()
                if self._since(start) > self.babble_ms:
                    raise BusBabble("bus busy for {} ms".format(self._since(start)))
            elif self._since(self._last_activity_ms) >= self.t35_ms:
                return
            self.clock.sleep_ms(1)

    def _send(self, data):
        de = self.de_pin
        if de is not None:
            de.value(1)
        self.port.write(data)
        flush = getattr(self.port, "flush", None)
        if flush is not None:
            flush()  # returns when the last stop bit has left (ESP32, RP2)
        else:
            self.clock.sleep_ms((len(data) * self.char_us + 999) // 1000)
        if de is not None:
            de.value(0)
        self._last_activity_ms = self._now()

    def _receive(self, reply_len):
        """Bytes of one reply: ends at reply_len bytes, an exception reply, or 3.5 chars idle."""
        port = self.port
        buf = self._rx
        got = 0
        t_sent = self._now()
        last_ms = t_sent
        while True:
            n = port.any()
            if n:
                chunk = port.read(min(n, len(buf) - got))
                if chunk:
                    buf[got : got + len(chunk)] = chunk
                    got += len(chunk)
                    last_ms = self._now()
                if got >= reply_len or got >= len(buf):
                    break
                if got >= 5 and buf[1] & 0x80:
                    break
            elif got == 0:
                if self._since(t_sent) >= self.timeout_ms:
                    raise Timeout("no reply")
            elif self._since(last_ms) >= self.t35_ms:
                break
            self.clock.sleep_ms(1)
        self._last_activity_ms = self._now()
        return memoryview(buf)[:got]

    def _once(self, addr, pdu, reply_len):
        self.stats["requests"] += 1
        self._wait_silence()
        self._send(frame(addr, pdu))
        try:
            reply = self._receive(reply_len)
        except Timeout:
            self.stats["timeouts"] += 1
            raise
        n = len(reply)
        if n < 5:
            self.stats["bad_replies"] += 1
            raise BadReply("{} bytes".format(n))
        crc = crc16(reply, n - 2)
        if reply[n - 2] != crc & 0xFF or reply[n - 1] != crc >> 8:
            self.stats["crc_errors"] += 1
            raise CRCError("reply CRC mismatch")
        if reply[0] != addr:
            self.stats["wrong_address"] += 1
            raise WrongAddress("reply from {} to a request for {}".format(reply[0], addr))
        if reply[1] == pdu[0] | 0x80:
            self.stats["exceptions"] += 1
            raise SlaveException(reply[2])
        if reply[1] != pdu[0] or n != reply_len:
            self.stats["bad_replies"] += 1
            raise BadReply("function {} length {}".format(reply[1], n))
        return bytes(reply)
