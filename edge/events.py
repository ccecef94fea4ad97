"""Events: a bounded ring of what happened, in the protocol's event shape.

`emit(event, severity, valve, value, detail)` records one event with a sequence number and
the wall-clock time; when the ring is full the oldest is dropped and `dropped` counts it.
`drain()` hands the queued events over (the MQTT link of part 2 publishes them; until then
they stay in the ring). Names are protocol identifiers: `valve_stall`, `sensor_open`, ...
"""


class EventLog:
    def __init__(self, clock, capacity=32):
        self._clock = clock
        self._ring = [None] * capacity  # type: list
        self._head = 0
        self._count = 0
        self.seq = 0
        self.dropped = 0
        self.total = 0

    def emit(self, event, severity="info", valve=None, value=None, detail=None):
        rec = {"ts_s": self._clock.time_s(), "seq": self.seq, "event": event, "severity": severity}
        if valve is not None:
            rec["valve"] = valve
        if value is not None and value == value:
            rec["value"] = value
        if detail:
            rec["detail"] = str(detail)[:200]
        self.seq += 1
        self.total += 1
        cap = len(self._ring)
        if self._count == cap:
            self._head = (self._head + 1) % cap
            self._count -= 1
            self.dropped += 1
        self._ring[(self._head + self._count) % cap] = rec
        self._count += 1
        return rec

    def __len__(self):
        return self._count

    def peek(self):
        """The queued events, oldest first, without removing them."""
        cap = len(self._ring)
        return [self._ring[(self._head + i) % cap] for i in range(self._count)]

    def drain(self, limit=0):
        """Remove and return up to `limit` (all when 0) queued events, oldest first."""
        out = self.peek()
        if limit and len(out) > limit:
            out = out[:limit]
        cap = len(self._ring)
        for _ in out:
            self._ring[self._head] = None
            self._head = (self._head + 1) % cap
            self._count -= 1
        return out

    def names(self):
        return [r["event"] for r in self.peek()]
