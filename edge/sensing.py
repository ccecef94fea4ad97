"""Sensing: periodic sampling with a median filter and plausibility per channel.

A `Channel` wraps one sensor (temperature or pressure). Each `sample()` reads it once:

- the driver's own fault (open, short, DS18B20 power-on, device/CRC, magnet) comes first;
- then range (lo..hi), rate of change against the filtered value (max_rate_per_s * dt
  plus rate_margin) and a stuck value (the identical raw reading for stuck_ms), with the
  limits of the channel's kind in KINDS (temperature, pressure, room, outdoor);
- good samples go into a ring of `window` (5) and `value` is their median;
- debouncing: the channel turns bad after `bad_after` faulty samples in a row and good again
  after `good_after` good ones; going bad clears the filter so the new value is not mixed
  with the old. Before its first good samples a channel is bad with fault "stale", and a
  channel with no good sample for `stale_ms` turns bad the same way.

Control reads `ok` and `value` only: a bad sensor never feeds the PI loop. Every change of
`ok` is an event (`sensor_<fault>` / `sensor_ok`) naming the channel.
`Sensing` samples all channels, then starts the next conversion on each 1-Wire bus.
"""

from array import array

from edge import hal

KINDS = {
    # kind: (lo, hi, max_rate_per_s, rate_margin, stuck_ms)
    "temperature": (-20.0, 130.0, 0.2, 1.0, 6 * 3600 * 1000),
    "pressure": (0.0, 2500.0, 50.0, 50.0, 24 * 3600 * 1000),
    # Room air: the protocol's physical range (whether it is plausible for a heated flat is
    # the host's judgement); slow (an open window: a few K in minutes); a 0.1 K panel in a
    # steady flat may repeat its value for hours, so stuck only after a day.
    "room": (-40.0, 80.0, 0.05, 1.0, 24 * 3600 * 1000),
    # Outdoor air (entrance role t_outdoor): the protocol's range, a day's swing is slow.
    "outdoor": (-60.0, 60.0, 0.05, 1.0, 24 * 3600 * 1000),
}


class Channel:
    # Debounce and staleness, the same for every channel (class attributes cost no RAM per
    # channel; assign on an instance to change one).
    bad_after = 3
    good_after = 3
    stale_ms = 120000

    def __init__(self, name, sensor, kind="temperature", window=5, events=None):
        self.name = name
        self.sensor = sensor
        self._limits = KINDS[kind]  # (lo, hi, max_rate_per_s, rate_margin, stuck_ms)
        self.stuck_ms = self._limits[4]
        self._ring = array("d", [0.0] * window)
        self._sorted = array("d", [0.0] * window)
        self._n = 0
        self._k = 0
        self._bad = 0
        self._good = 0
        self._events = events
        self.ok = False
        self.fault = hal.F_STALE
        self.last_fault = hal.F_STALE
        self.value = 0.0
        self.raw = 0.0
        self._t_good = None  # type: int | None
        self._t_change = 0
        self.rejected = 0

    def sample(self, now_ms, clock):
        x = self.sensor.read()
        code = self.sensor.fault
        if code == hal.OK:
            code = self._plausibility(x, now_ms, clock)
        if code == hal.OK:
            self._accept(x, now_ms)
        else:
            self._reject(code, now_ms, clock)

    def _plausibility(self, x, now_ms, clock):
        lo, hi, rate, margin, _ = self._limits
        if not lo <= x <= hi or x != x:
            return hal.F_RANGE
        if x != self.raw:
            self.raw = x
            self._t_change = now_ms
        elif self._t_good is not None:
            if clock.ticks_diff(now_ms, self._t_change) >= self.stuck_ms:
                return hal.F_STUCK
        if self._n and self._t_good is not None:
            dt_s = clock.ticks_diff(now_ms, self._t_good) / 1000.0
            if abs(x - self.value) > rate * dt_s + margin:
                return hal.F_RATE
        return hal.OK

    def _accept(self, x, now_ms):
        ring = self._ring
        ring[self._k] = x
        self._k = (self._k + 1) % len(ring)
        if self._n < len(ring):
            self._n += 1
        self.value = self._median()
        self._t_good = now_ms
        self._bad = 0
        self._good += 1
        if not self.ok and self._good >= self.good_after:
            self.ok = True
            self.fault = hal.OK
            if self._events is not None:
                self._events.emit("sensor_ok", "info", None, self.value, self.name)

    def _reject(self, code, now_ms, clock):
        self.rejected += 1
        self.last_fault = code
        self._good = 0
        self._bad += 1
        if self.ok and self._bad >= self.bad_after:
            self._go_bad(code)
        elif not self.ok:
            self.fault = code
            self._n = 0
        elif self._t_good is not None and clock.ticks_diff(now_ms, self._t_good) > self.stale_ms:
            self._go_bad(hal.F_STALE)

    def _go_bad(self, code):
        self.ok = False
        self.fault = code
        self._n = 0
        if self._events is not None:
            self._events.emit(
                "sensor_" + hal.FAULT_NAMES[code], "alarm", None, self.raw, self.name
            )

    def _median(self):
        n = self._n
        s = self._sorted
        for i in range(n):
            x = self._ring[i]
            j = i
            while j > 0 and s[j - 1] > x:
                s[j] = s[j - 1]
                j -= 1
            s[j] = x
        if n & 1:
            return s[n // 2]
        return (s[n // 2 - 1] + s[n // 2]) / 2.0

    @property
    def fault_name(self):
        return hal.FAULT_NAMES[self.fault]


class Sensing:
    """All channels of a board: `sample()` reads each once, then starts 1-Wire conversions."""

    def __init__(self, hw, kinds, events=None):
        self._hw = hw
        self.channels = {}
        for name in hw.sensors:
            kind = kinds.get(name, "temperature")
            self.channels[name] = Channel(name, hw.sensors[name], kind, events=events)

    def sample(self):
        clock = self._hw.clock
        now = clock.ticks_ms()
        for ch in self.channels.values():
            ch.sample(now, clock)
        for bus in self._hw.converters:
            bus.convert()

    def get(self, name):
        ch = self.channels[name]
        return ch.value if ch.ok else None
