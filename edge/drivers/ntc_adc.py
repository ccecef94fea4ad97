"""NTC thermistor on an ADC input, in a divider with a series resistor to the ADC supply.

Beta equation: 1/T = 1/T0 + ln(R/R0)/beta. A missing NTC pulls the input to the supply
(F_OPEN); a shorted one pulls it to ground (F_SHORT).
"""

import math

from edge import hal
from edge.drivers.adc_input import ADCInput


class NTCADC(hal.TempProbe):
    def __init__(
        self,
        pin,
        r_series_ohm=10000.0,
        r0_ohm=10000.0,
        t0_c=25.0,
        beta=3950.0,
        attenuate=True,
        rail_frac=0.01,
    ):
        self._adc = ADCInput(pin, attenuate, rail_frac)
        self._rs = r_series_ohm
        self._r0 = r0_ohm
        self._inv_t0 = 1.0 / (t0_c + 273.15)
        self._beta = beta
        self.fault = hal.F_STALE
        self.value = 0.0

    def read(self):
        raw = self._adc.read_u16()
        if raw >= self._adc.high:
            self.fault = hal.F_OPEN
            return self.value
        if raw <= self._adc.low:
            self.fault = hal.F_SHORT
            return self.value
        self.value = ntc_c(raw / 65535.0, self._rs, self._r0, self._inv_t0, self._beta)
        self.fault = hal.OK
        return self.value


def ntc_c(ratio, r_series_ohm, r0_ohm, inv_t0_k, beta):
    """degC from the divider ratio V_adc / V_supply (NTC on the ground side)."""
    r_ohm = r_series_ohm * ratio / (1.0 - ratio)
    return 1.0 / (inv_t0_k + math.log(r_ohm / r0_ohm) / beta) - 273.15
