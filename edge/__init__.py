"""evenheat board program: the MicroPython code at each building entrance.

It positions the entrance valve and household valves from angle feedback, samples return-water
and supply probes and entrance pressures with filtering and plausibility, and runs one PI loop
per valve on return temperature (vectorised with ulab) so the board balances on its own; with
a unit configuration it joins the host over MQTT and never loses a record.

Modules, one concern each (nothing runs at import; `edge.main.main()` builds everything):
  hal        the hardware interface the program uses, and fault codes
  clock      the injectable clock (`ticks_ms`, `ticks_diff`, `sleep_ms`)
  drivers/   real drivers behind hal: H-bridge, 3-point relays, AS5600, potentiometer,
             DS18B20, PT1000 via MAX31865, NTC, 4-20 mA pressure (ADC inputs share
             drivers/adc_input.py)
  simhw      simulated hardware driven by a small plant (tests, later the simulator)
  boarddef   load and validate a board definition (boards/*.json)
  hwbuild    build drivers from a board definition (the only module that imports machine)
  platform   per-port differences: watchdog limits, pins, heap figures, reset cause
  positioner valve positioning, end-stop calibration, stall/stuck detection, stroke self-test
  sensing    median filter and plausibility per channel
  balancing  the vectorised PI loops
  config     configuration and targets: defaults, validation, apply
  persist    atomic JSON files on flash
  events     the event ring (what the MQTT link of part 2 publishes as events)
  scheduler  cooperative periodic tasks with progress tracking
  supervisor watchdog feeding and heap reporting
  safemode   boot counter of crashes
  app        ties it together
  connected  the app joined to the host: link, outbox, desired state, record sequence
  link       the MQTT session: reconnect with back-off and jitter, last will, resubscribe
  outbox     bounded offline outbox on flash, replayed in order on reconnect
  desired    desired targets and config: apply if newer and valid, acknowledge
  timesync   NTP at boot and periodically, drift check
  modbus     RS-485 Modbus RTU master
  household_valves  household valves on RS-485, by device profile (boards/profiles/)
  main       entry point on a board: builds everything, joins the host when configured
"""

VERSION = (0, 1, 0)
