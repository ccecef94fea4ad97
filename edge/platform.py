"""Differences between the ports we run on, in one place (fed by the board definitions).

PORTS gives, per MicroPython port, the watchdog's longest timeout, which GPIO numbers exist,
which of them may drive an output and which have an ADC the firmware may use. "unix" is the
MicroPython unix port and CPython (tests, simulator): simulated hardware only, no pins.

Also: heap figures (`mem_free`, `mem_alloc`) and the reset cause, which exist only on
MicroPython and answer 0 / "unknown" elsewhere.
"""

import gc

# ESP32: GPIO 6-11 are wired to the SPI flash; 34-39 are input-only. Only ADC1 (32-39) works
# while Wi-Fi is on. The watchdog takes any timeout; 60 s is our own ceiling so a hung board
# is back within a minute.
_ESP32_PINS = tuple(p for p in range(40) if p not in (6, 7, 8, 9, 10, 11, 20, 24, 28, 29, 30, 31))
# RP2040 on the Pico W: GP23, 24, 25 and 29 belong to the wireless chip. ADC on GP26-28.
# The RP2040 watchdog counts at most 8388 ms (machine.WDT documentation).
_RP2_PINS = tuple(p for p in range(29) if p not in (23, 24, 25))

PORTS = {  # type: dict
    "esp32": {
        "wdt_max_ms": 60000,
        "pins": _ESP32_PINS,
        "input_only": (34, 35, 36, 37, 38, 39),
        "adc": (32, 33, 34, 35, 36, 37, 38, 39),
        "adc_atten": True,
    },
    "rp2": {
        "wdt_max_ms": 8388,
        "pins": _RP2_PINS,
        "input_only": (),
        "adc": (26, 27, 28),
        "adc_atten": False,
    },
    "unix": {
        "wdt_max_ms": 60000,
        "pins": (),
        "input_only": (),
        "adc": (),
        "adc_atten": False,
    },
}

RESET_CAUSES = {1: "power_on", 2: "hard", 3: "watchdog", 4: "deepsleep", 5: "soft"}
CRASH_CAUSES = ("watchdog", "hard", "soft", "unknown")


HAS_HEAP_INFO = hasattr(gc, "mem_free")


def mem_free():
    """Free heap in bytes (0 where the interpreter does not say)."""
    fn = getattr(gc, "mem_free", None)
    return fn() if fn else 0


def mem_alloc():
    """Heap in use in bytes (0 where the interpreter does not say)."""
    fn = getattr(gc, "mem_alloc", None)
    return fn() if fn else 0


def reset_cause():
    """Why the board last reset: power_on, hard, watchdog, deepsleep, soft or unknown."""
    try:
        import machine
    except ImportError:
        return "unknown"
    fn = getattr(machine, "reset_cause", None)  # the unix port's machine has none
    return RESET_CAUSES.get(fn(), "unknown") if fn else "unknown"
