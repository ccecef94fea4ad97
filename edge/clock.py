"""The injectable clock: every module takes time from a clock object, never from `time`.

`BoardClock` wraps MicroPython's `time.ticks_ms` family (wrapping millisecond ticks);
`ManualClock` is advanced by hand, for tests and the simulated plant. Both offer
`ticks_ms()`, `ticks_diff(a, b)` (a - b, wrap-safe), `ticks_add(t, ms)`, `sleep_ms(ms)` and
`time_s()` (wall-clock seconds since the Unix epoch, as good as the board's RTC).
"""

import time


class BoardClock:
    """The board's own clock (MicroPython only)."""

    def ticks_ms(self):
        return time.ticks_ms()

    def ticks_diff(self, a, b):
        return time.ticks_diff(a, b)

    def ticks_add(self, t, ms):
        return time.ticks_add(t, ms)

    def sleep_ms(self, ms):
        time.sleep_ms(ms)

    def time_s(self):
        return int(time.time())


class ManualClock:
    """A clock that moves only when told: `advance(ms)`. Starts at `start_ms`."""

    def __init__(self, start_ms=0, epoch_s=1795000000):
        self.now_ms = start_ms
        self.epoch_s = epoch_s

    def ticks_ms(self):
        return self.now_ms

    def ticks_diff(self, a, b):
        return a - b

    def ticks_add(self, t, ms):
        return t + ms

    def sleep_ms(self, ms):
        self.now_ms += ms

    def advance(self, ms):
        self.now_ms += ms

    def time_s(self):
        return self.epoch_s + self.now_ms // 1000
