"""4-20 mA pressure transducer read through a shunt resistor on an ADC input.

4 mA is the bottom of the range, 20 mA the top. Below 3.6 mA the loop is broken (F_OPEN,
NAMUR NE43); above 21 mA the transducer reports a fault or the loop is shorted (F_SHORT).
"""

from edge import hal
from edge.drivers.adc_input import ADCInput


class Pressure420mA(hal.PressureSensor):
    def __init__(self, pin, range_kpa=(0.0, 1000.0), shunt_ohm=150.0, vref_v=3.3, attenuate=True):
        self._adc = ADCInput(pin, attenuate)
        self._lo = float(range_kpa[0])
        self._span = float(range_kpa[1]) - self._lo
        self._ma_per_count = vref_v / 65535.0 / shunt_ohm * 1000.0
        self.fault = hal.F_STALE
        self.value = 0.0

    def read(self):
        current_ma = self._adc.read_u16() * self._ma_per_count
        self.value = loop_to_kpa(current_ma, self._lo, self._span)
        self.fault = loop_fault(current_ma)
        return self.value


def loop_fault(current_ma):
    if current_ma < 3.6:
        return hal.F_OPEN
    if current_ma > 21.0:
        return hal.F_SHORT
    return hal.OK


def loop_to_kpa(current_ma, lo_kpa, span_kpa):
    return lo_kpa + (current_ma - 4.0) * span_kpa / 16.0
