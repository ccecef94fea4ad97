"""Potentiometer angle feedback on an ADC input.

The wiper voltage maps linearly to `span_deg` over the ADC range. A wiper at the rails means
a broken wire (pulled to a rail by the divider): F_OPEN near 0, F_SHORT near full scale.
"""

from edge import hal
from edge.drivers.adc_input import ADCInput


class PotADC(hal.AngleSensor):
    def __init__(self, pin, span_deg=270.0, rail_frac=0.005, attenuate=True):
        self._adc = ADCInput(pin, attenuate, rail_frac)
        self._span = span_deg
        self.fault = hal.F_STALE
        self.value = 0.0

    def read(self):
        raw = self._adc.read_u16()
        if raw <= self._adc.low:
            self.fault = hal.F_OPEN
        elif raw >= self._adc.high:
            self.fault = hal.F_SHORT
        else:
            self.value = raw * self._span / 65535.0
            self.fault = hal.OK
        return self.value
