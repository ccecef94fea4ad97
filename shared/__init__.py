"""Code shared by the board (MicroPython) and the host (CPython): protocol, units, constants."""
