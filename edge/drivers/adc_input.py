"""An ADC input with rail detection, shared by the ADC drivers (NTC, potentiometer, 4-20 mA).

`ADCInput(pin, attenuate, rail_frac)` sets the ESP32's 11 dB attenuation (full 0-3.3 V range)
when asked (the RP2040's ADC has none); `low` / `high` are the raw counts within `rail_frac`
of 0 V and of the supply, where a divider input sits when a wire is broken or shorted.
"""

from machine import ADC, Pin


class ADCInput:
    def __init__(self, pin, attenuate=True, rail_frac=0.01):
        self.adc = ADC(Pin(pin), atten=ADC.ATTN_11DB) if attenuate else ADC(Pin(pin))
        self.low = int(65535 * rail_frac)
        self.high = 65535 - self.low

    def read_u16(self):
        return self.adc.read_u16()
