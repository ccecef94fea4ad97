"""3-point (floating) actuator on two relays: one relay runs it open, the other closed.

The relays are interlocked: never both on, and a reversal waits `dead_ms` with both off so
the motor stops and the contacts do not weld. Speed is fixed by the actuator, so `slow` is
ignored.
"""

from machine import Pin

from edge import hal


class Relays3Pt(hal.Actuator):
    def __init__(self, open_pin, close_pin, clock, dead_ms=300, active_high=True):
        self._on = 1 if active_high else 0
        self._open = Pin(open_pin, Pin.OUT, value=1 - self._on)
        self._close = Pin(close_pin, Pin.OUT, value=1 - self._on)
        self._clock = clock
        self._dead_ms = dead_ms
        self._off_since = clock.ticks_ms()
        self.direction = hal.STOP

    def drive(self, direction, slow=False):
        off = 1 - self._on
        if direction == self.direction:
            return
        # Any change goes through "both off" first.
        if self.direction != hal.STOP:
            self._open.value(off)
            self._close.value(off)
            self.direction = hal.STOP
            self._off_since = self._clock.ticks_ms()
        if direction == hal.STOP:
            return
        if self._clock.ticks_diff(self._clock.ticks_ms(), self._off_since) < self._dead_ms:
            return  # the positioner asks again on its next step
        pin = self._open if direction == hal.OPEN else self._close
        pin.value(self._on)
        self.direction = direction
