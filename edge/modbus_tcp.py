"""Modbus TCP master: the link from a station gateway board to the station's PLC.

Frame (Modbus Messaging on TCP/IP V1.0b, 3.1.3): the MBAP header (transaction id, protocol id
0, length of what follows, unit id) then the PDU, no CRC (TCP checks the bytes). The calls are
edge.modbus.Master's (read_registers, write_register, write_registers), so a device profile
is read the same way over TCP as over RS-485; `addr` is the unit id (1..247, or 255 for a
PLC that ignores it).

Every reply is checked: transaction id (a stale reply to an earlier, timed-out request is
read past and counted), protocol id, length, unit id, function code (an exception reply
raises SlaveException, not retried). A broken or silent connection (`Timeout` after
`timeout_ms`, or the peer closing it) is closed; the next call connects again, so a PLC
restart costs one failed poll. `connect_timeout_ms` bounds the connect itself.

The socket module is MicroPython's (`socket`) or CPython's, whichever runs: both have
getaddrinfo, connect, settimeout, send and recv.
"""

import socket

from edge.modbus import (
    BadReply,
    Master,
    ModbusError,
    SlaveException,
    Timeout,
    WrongAddress,
)

_MAX_STALE_REPLIES = 4  # replies to timed-out requests skipped before giving up


class ConnectionLost(ModbusError):
    """The PLC refused or closed the connection."""


class TCPMaster(Master):
    """One TCP connection to a Modbus server (a PLC).

    host, port:  the PLC's address (port 502 is Modbus's)
    timeout_ms:  how long to wait for a reply (and for the connect)
    retries:     extra attempts after a transport fault (each on a fresh connection)
    """

    def __init__(self, host, port=502, timeout_ms=1000, retries=1):
        self.host = host
        self.port = port
        self.timeout_ms = timeout_ms
        self.retries = retries
        self._sock = None
        self._tid = 0
        self.stats = {
            "requests": 0,
            "timeouts": 0,
            "connects": 0,
            "connection_lost": 0,
            "stale_replies": 0,
            "wrong_address": 0,
            "bad_replies": 0,
            "exceptions": 0,
            "retries": 0,
        }

    def close(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None

    # ---------------------------------------------------------------------- the wire ----

    def _connect(self):
        where = socket.getaddrinfo(self.host, self.port)[0][-1]
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(self.timeout_ms / 1000)
        try:
            s.connect(where)
        except OSError as exc:
            s.close()
            self.stats["connection_lost"] += 1
            why = "connect to {}:{}: {}".format(self.host, self.port, exc)
            raise ConnectionLost(why) from None
        self.stats["connects"] += 1
        self._sock = s
        return s

    def _recv_exact(self, n):
        out = b""
        while len(out) < n:
            sock = self._sock
            if sock is None:
                raise ConnectionLost("not connected")
            try:
                chunk = sock.recv(n - len(out))
            except OSError as exc:  # a timeout is an OSError on MicroPython (ETIMEDOUT)
                self.close()
                self.stats["timeouts"] += 1
                raise Timeout("no reply within {} ms ({})".format(self.timeout_ms, exc)) from None
            if not chunk:
                self.close()
                self.stats["connection_lost"] += 1
                raise ConnectionLost("the PLC closed the connection")
            out += chunk
        return out

    def _once(self, addr, pdu, reply_len):
        self.stats["requests"] += 1
        sock = self._sock
        if sock is None:
            sock = self._connect()
        self._tid = (self._tid + 1) & 0xFFFF
        tid = self._tid
        n = len(pdu) + 1
        head = bytes((tid >> 8, tid & 0xFF, 0, 0, n >> 8, n & 0xFF, addr & 0xFF))
        try:
            sock.send(head + bytes(pdu))
        except OSError as exc:
            self.close()
            self.stats["connection_lost"] += 1
            raise ConnectionLost("send: {}".format(exc)) from None
        for _ in range(_MAX_STALE_REPLIES + 1):
            mbap = self._recv_exact(7)
            length = (mbap[4] << 8) | mbap[5]
            if mbap[2] != 0 or mbap[3] != 0 or not 2 <= length <= 254:
                self.close()
                self.stats["bad_replies"] += 1
                raise BadReply("not a Modbus TCP header")
            body = self._recv_exact(length - 1)
            if (mbap[0] << 8) | mbap[1] == tid:
                break
            self.stats["stale_replies"] += 1
        else:
            self.close()
            self.stats["bad_replies"] += 1
            raise BadReply("no reply with transaction id {}".format(tid))
        if mbap[6] != addr & 0xFF:
            self.stats["wrong_address"] += 1
            raise WrongAddress("reply from unit {} to a request for {}".format(mbap[6], addr))
        reply = bytes((mbap[6],)) + body
        if body[0] == pdu[0] | 0x80:
            self.stats["exceptions"] += 1
            raise SlaveException(body[1] if len(body) > 1 else 0)
        if body[0] != pdu[0] or len(reply) != reply_len - 2:  # reply_len counts an RTU CRC
            self.stats["bad_replies"] += 1
            raise BadReply("function {} length {}".format(body[0], len(reply)))
        return reply
