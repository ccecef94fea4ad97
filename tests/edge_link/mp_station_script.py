"""Run under MicroPython by test_station_modbus_tcp.py: the station gateway (edge.station over
edge.modbus_tcp) against the pymodbus PLC at argv[1]:argv[2]; argv[3] is a port nobody
listens on (the PLC unplugged). Prints `RESULT <json>` with what the gateway saw."""

import json
import sys

from edge import boarddef, station
from edge.clock import BoardClock

host, port, dead_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open("boards/station-gateway.json") as f:
    spec = json.load(f)
spec["port"] = "unix"
spec["station"]["modbus_tcp"]["host"] = host
spec["station"]["modbus_tcp"]["port"] = port
spec["station"]["modbus_tcp"]["timeout_ms"] = 500
board = boarddef.validate(spec)
clock = BoardClock()
events = []
st = station.open_station(board["station"], clock, "")
st.emit = lambda name, sev, valve, value, detail: events.append(name)
out = {}
st.poll()
out["local"] = st.report()
cmd = {"version": 2, "ts_s": clock.time_s(), "valid_for_s": 600}
cmd.update(pump_speed_pct=62.0, t_supply_c=52.5)
out["check_bad"] = st.check({"version": 3, "ts_s": 0, "pump_speed_pct": 12.0})
st.apply(cmd, 2)
st.poll()
st.poll()
out["host"] = st.report()
st.master.close()
st.master.port = dead_port  # the PLC's cable pulled
for _ in range(3):
    st.poll()
out["offline"] = st.report()
out["error"] = st.last_error
st.master.port = port
st.poll()
out["back"] = st.report()
out["stats"] = st.master.stats
out["events"] = events
print("RESULT " + json.dumps(out))
