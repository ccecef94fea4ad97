"""Analogue output from a PWM pin and an RC filter: the speed input of a pump drive (VFD).

Why PWM and not the ESP32's DAC: the DAC exists only on GPIO 25 and 26, which the Ethernet
boards (Olimex ESP32-POE: the LAN8720's RMII data lines) already use, it has 8 bits, and the
RP2040 has none. A PWM pin works on every output GPIO of both ports, with about 12 bits at
5 kHz on the ESP32.

The circuit (docs/station.md): the 3.3 V PWM through a two-stage RC low-pass (10 kOhm /
1 uF twice: corner 16 Hz, ripple well under 0.1 % at 5 kHz) into an op-amp stage with a gain
of 3.03 on a 15-24 V supply gives 0-10 V; a PWM-to-4-20 mA module on the same pin gives a
current loop. `duty_span_pct` [at 0 %, at 100 %] maps the speed percentage onto the duty
cycle, so an input that wants 2-10 V (or 4-20 mA from a 0-20 mA stage) is [20, 100].
`invert` is for an output stage that inverts (an open-collector transistor).

The pin starts at `safe_pct` (the station's fallback speed), before the program runs.
"""

from machine import PWM, Pin

from edge import hal

_FULL = 65535


class PWMOut(hal.AnalogOut):
    def __init__(self, pin, freq_hz=5000, duty_span_pct=(0, 100), invert=False, safe_pct=0.0):
        self._lo = float(duty_span_pct[0])
        self._span = float(duty_span_pct[1]) - self._lo
        self._invert = invert
        self.safe_pct = safe_pct
        self.value = min(100.0, max(0.0, safe_pct))
        self.fault = hal.OK
        self._pwm = PWM(Pin(pin, Pin.OUT), freq=freq_hz, duty_u16=self._duty(self.value))

    def _duty(self, pct):
        duty = int(_FULL * (self._lo + self._span * pct / 100.0) / 100.0 + 0.5)
        return _FULL - duty if self._invert else duty

    def write(self, pct):
        pct = min(100.0, max(0.0, pct))
        try:
            self._pwm.duty_u16(self._duty(pct))
        except (OSError, ValueError):
            self.fault = hal.F_DEVICE
            return
        self.value = pct
        self.fault = hal.OK
