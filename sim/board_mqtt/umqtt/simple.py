"""A small MQTT 3.1.1 client with umqtt.simple's `MQTTClient` API, for the MicroPython unix port.

umqtt.simple is installed on boards from micropython-lib (`mpremote mip install
umqtt.simple`) and is not available here, so tests that run the board's link under the real
MicroPython unix port against a real Mosquitto put this folder on MICROPYPATH. It is our own
code, written from the MQTT 3.1.1 specification, and keeps the behaviour the link relies on:

- `connect()` opens the socket (with `timeout` when given), sends CONNECT with the last will
  and credentials, and raises `MQTTException(rc)` when the CONNACK refuses;
- `publish(qos=1)` and `subscribe()` block until their PUBACK / SUBACK, handing any message
  that arrives meanwhile to the callback;
- `check_msg()` reads without blocking and returns None when nothing is there, then leaves
  the socket blocking (as umqtt.simple does: the link wraps the socket to keep a timeout);
- a closed connection raises `OSError`.
QoS 2 is not supported (evenheat uses QoS 0 and 1 only).
"""

import socket
import struct


class MQTTException(Exception):
    pass


def _remaining_length(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _string(s):
    if type(s) is str:
        s = s.encode()
    return struct.pack("!H", len(s)) + s


class MQTTClient:
    def __init__(
        self,
        client_id,
        server,
        port=0,
        user=None,
        password=None,
        keepalive=0,
        ssl=None,
        ssl_params=None,
    ):
        self.client_id = client_id
        self.server = server
        self.port = port or (8883 if ssl else 1883)
        self.user = user
        self.pswd = password
        self.keepalive = keepalive
        self.ssl = ssl
        self.sock = None
        self.cb = None
        self.pid = 0
        self.lw_topic = None
        self.lw_msg = None
        self.lw_qos = 0
        self.lw_retain = False
        self._acks = []

    def set_callback(self, f):
        self.cb = f

    def set_last_will(self, topic, msg, retain=False, qos=0):
        self.lw_topic = topic
        self.lw_msg = msg
        self.lw_qos = qos
        self.lw_retain = retain

    # ------------------------------------------------------------------------- bytes ----

    def _read(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.read(n - len(out))
            if chunk is None:
                continue  # non-blocking socket mid-packet: the wrapper restores blocking
            if not chunk:
                raise OSError(-1)
            out += chunk
        return out

    def _read_length(self):
        n = 0
        shift = 0
        while True:
            byte = self._read(1)[0]
            n |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return n
            shift += 7

    def _send(self, first_byte, body):
        self.sock.write(bytes((first_byte,)) + _remaining_length(len(body)) + body)

    # ------------------------------------------------------------------------ session ----

    def connect(self, clean_session=True, timeout=None):
        self.sock = socket.socket()
        if timeout is not None:
            self.sock.settimeout(timeout)
        addr = socket.getaddrinfo(self.server, self.port)[0][-1]
        self.sock.connect(addr)
        if self.ssl:
            self.sock = self.ssl.wrap_socket(self.sock, server_hostname=self.server)
        flags = 0x02 if clean_session else 0
        payload = _string(self.client_id)
        if self.lw_topic:
            flags |= 0x04 | (self.lw_qos << 3) | (0x20 if self.lw_retain else 0)
            payload += _string(self.lw_topic) + _string(self.lw_msg)
        if self.user:
            flags |= 0x80
            payload += _string(self.user)
            if self.pswd is not None:
                flags |= 0x40
                payload += _string(self.pswd)
        header = _string("MQTT") + bytes((4, flags)) + struct.pack("!H", self.keepalive)
        self._send(0x10, header + payload)
        resp = self._read(4)
        if resp[0] != 0x20 or resp[1] != 2:
            raise MQTTException("no CONNACK")
        if resp[3] != 0:
            raise MQTTException(resp[3])
        return resp[2] & 1

    def disconnect(self):
        self.sock.write(b"\xe0\x00")
        self.sock.close()

    def ping(self):
        self.sock.write(b"\xc0\x00")

    def _next_pid(self):
        self.pid = self.pid % 65535 + 1
        return self.pid

    def publish(self, topic, msg, retain=False, qos=0):
        if qos not in (0, 1):
            raise MQTTException("QoS 2 is not supported")
        body = _string(topic)
        pid = 0
        if qos:
            pid = self._next_pid()
            body += struct.pack("!H", pid)
        self._send(0x30 | (qos << 1) | (1 if retain else 0), body + bytes(msg))
        if qos:
            self._wait_ack(0x40, pid)

    def subscribe(self, topic, qos=0):
        pid = self._next_pid()
        self._send(0x82, struct.pack("!H", pid) + _string(topic) + bytes((qos,)))
        granted = self._wait_ack(0x90, pid)
        if granted == 0x80:
            raise MQTTException(0x80)

    def _wait_ack(self, kind, pid):
        while True:
            for ack in self._acks:
                if ack[0] == kind and ack[1] == pid:
                    self._acks.remove(ack)
                    return ack[2]
            self.wait_msg()

    def wait_msg(self):
        first = self.sock.read(1)
        self.sock.setblocking(True)
        if first is None:
            return None
        if first == b"":
            raise OSError(-1)
        op = first[0]
        size = self._read_length()
        body = self._read(size) if size else b""
        kind = op & 0xF0
        if kind == 0x30:
            topic_len = (body[0] << 8) | body[1]
            topic = body[2 : 2 + topic_len]
            at = 2 + topic_len
            qos = (op >> 1) & 3
            pid = 0
            if qos:
                pid = (body[at] << 8) | body[at + 1]
                at += 2
            if self.cb is not None:
                self.cb(topic, body[at:])
            if qos == 1:
                self.sock.write(b"\x40\x02" + struct.pack("!H", pid))
        elif kind in (0x40, 0x90):  # PUBACK, SUBACK
            pid = (body[0] << 8) | body[1]
            self._acks.append((kind, pid, body[2] if kind == 0x90 else 0))
        return op

    def check_msg(self):
        self.sock.setblocking(False)
        return self.wait_msg()
