"""DC valve motor on an H-bridge (DRV8871, L9110, TB6612 style): two PWM inputs.

Open: PWM on IN1, IN2 low; close: IN1 low, PWM on IN2; stop: both high (brake) or both low
(coast). `duty_pct` sets the running speed, `slow_duty_pct` the speed near the target.
"""

from machine import PWM, Pin

from edge import hal

_FULL = 65535


class HBridge(hal.Actuator):
    def __init__(self, in1, in2, freq_hz=1000, duty_pct=100, slow_duty_pct=50, brake=True):
        self._in1 = PWM(Pin(in1, Pin.OUT), freq=freq_hz, duty_u16=0)
        self._in2 = PWM(Pin(in2, Pin.OUT), freq=freq_hz, duty_u16=0)
        self._fast = _FULL * duty_pct // 100
        self._slow = _FULL * slow_duty_pct // 100
        self._brake = brake
        self.direction = hal.STOP

    def drive(self, direction, slow=False):
        duty = self._slow if slow else self._fast
        if direction == hal.OPEN:
            self._in2.duty_u16(0)
            self._in1.duty_u16(duty)
        elif direction == hal.CLOSE:
            self._in1.duty_u16(0)
            self._in2.duty_u16(duty)
        else:
            level = _FULL if self._brake else 0
            self._in1.duty_u16(level)
            self._in2.duty_u16(level)
        self.direction = direction
