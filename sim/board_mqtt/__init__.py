"""umqtt.simple's `MQTTClient` API for virtual boards, so the real board link runs off-board.

- `umqtt/simple.py`: our own small MQTT 3.1.1 client with umqtt.simple's API, for the
  MicroPython unix port (put this folder on MICROPYPATH: `import umqtt.simple` finds it);
- `paho_umqtt.py`: the same API on CPython backed by paho-mqtt, used by the simulator's
  broker runs, `evenheat run` and the link tests.
"""
