"""The board program: hardware, positioners, sensing, PI loops, persistence and supervision.

`App(board, hw)` builds everything for a validated board definition and a Hardware object
(real drivers from edge.hwbuild, or edge.simhw); `poll()` runs the due tasks and returns the
milliseconds until the next one. Tasks: `position` (100 ms while a valve moves, else 1 s),
`sample` (sensors, `sample_period_ms` of the board, default 5 s), `control` (PI, every
control_period_s), `record` (a telemetry record every collection_period_s), `housekeeping`
(10 s), `supervisor` (1 s: watchdog and heap) and, on a board with household valves on
RS-485, `rs485` (the bus poll, `rs485.period_ms`, each run within `rs485.budget_ms`).

The board's valves are the valves it drives itself (`board["valves"]`: motor, angle
feedback, a return probe on a sensing channel) followed by the household valves on its RS-485
bus (`board["rs485"]["valves"]`, edge.household_valves): all of them are one vector in the
Balancer, with targets, PI state and a telemetry entry by valve id. An RS-485 valve is seen
through a `RemotePositioner` (command written over Modbus, measured opening read back) and a
sensing `Channel` on its own return probe read over Modbus (`RemoteProbe`). The bus is built
from the board definition (`household_valves.open_bus`), or passed in as `household` (tests,
simulators). A valve whose slave does not answer, or whose data are stale, cannot be
commanded: its loop is frozen (integral and output held, mode "frozen") and it is reported;
a live valve with a bad probe goes to its fail-safe opening as a local one does.

Room sensors (`board["rooms"]`: probes wired to the board; `board["rs485"]["rooms"]`: room
panels on the bus, polled with the household valves) are reported, never controlled on:
each reading goes through a sensing `Channel` of kind "room" (range, stuck, rate, debounced)
and lands in the record's `rooms` list as {sensor, t_room_c, sensor_ok} (plus `battery_pct`
where the panel's profile has it, and `ts_s` while a silent panel's reading is held). An
outdoor probe (entrance role `t_outdoor`, kind "outdoor") is `entrance.t_outdoor_c`.
`records()` gives what one collection period sends: one record, or, when valves and rooms
together would not fit in a payload (protocol.MAX_PAYLOAD_BYTES, measured on the encoded
entries), the valves record and a rooms-only record (`"valves": []`), each with its own seq.

A board with a `station` section runs the heat exchange station (`station` task, every
`station.period_ms`, in safe mode too): its PLC over Modbus TCP (edge.station), or, with
`station.io`, the board's own probes, pump output and primary valve (edge.station_io): the
station's supply set-point in force is then the primary valve's target (a host target for
that valve keeps its other fields, the station's set-point replaces its t_return_c).

Files under hw.fs_root, all written atomically: config.json, targets.json, pi_state.json
(integral and output per valve, every control cycle, for the bumpless restart),
calibration.json (learned end stops), boot.json (edge.safemode).

In safe mode only the positioners (driving every valve to its fail-safe opening, or to an
operator's manual opening where the targets in force set one), the telemetry record,
housekeeping and the supervisor run: no sampling, no PI.

Seams for the MQTT link (part 2):
- `apply_config(changes)` and `apply_targets(targets, version)` take desired state in the
  protocol's field names; they return (True, "") or (False, reason) and change nothing when
  refused; `config["version"]` / `targets_version` are what an ack reports;
- `on_record` is called with every telemetry record (`records()` builds them on demand,
  `telemetry()` the single combined record);
- `events` is the event ring to publish and drain;
- `scheduler.add()` takes the link's own task; `summary()` is the birth message content.
"""

# MicroPython's zip() has no strict= (lengths are checked where it matters).
# ruff: noqa: B905

import json

from edge import config as cfgmod
from edge import persist, platform, positioner
from edge.balancing import MODE_NAMES, Balancer
from edge.boarddef import BoardError, io_roles
from edge.events import EventLog
from edge.safemode import STABLE_MS
from edge.scheduler import Scheduler
from edge.sensing import Channel, Sensing
from edge.supervisor import Supervisor
from edge.xnp import FLOAT, np
from shared import protocol

# What the record path adds after records() measured a record: "v", a longer seq, the
# outbox depth and drop counter in health, time_synced (bytes, generous).
_LINK_MARGIN_B = 160
_JSON_SEP = (",", ":")  # shared.protocol.encode's separators


class App:
    def __init__(
        self, board, hw, events=None, safe_mode=False, boot=None, household=None, station=None
    ):
        self.board = board
        self.hw = hw
        clock = hw.clock
        self.clock = clock
        self.events = events if events is not None else EventLog(clock)
        self.safe_mode = safe_mode
        self.boot = boot
        root = hw.fs_root
        self.paths = {
            "config": root + "config.json",
            "targets": root + "targets.json",
            "state": root + "pi_state.json",
            "calibration": root + "calibration.json",
            "station": root + "station.json",
        }
        remote = board.get("rs485", {}).get("valves", [])
        self.valve_defs = board["valves"] + remote
        self.valve_ids = [v["id"] for v in self.valve_defs]
        self.n = len(self.valve_ids)
        self.n_local = len(board["valves"])
        self.seq = 0
        self.t_start_ms = clock.ticks_ms()
        self.last_record = None  # type: dict | None
        self.on_record = None
        self._load_config()
        self._load_targets()
        calib = persist.load(self.paths["calibration"], {}, self.events)
        self.positioners = []  # type: list
        for v in board["valves"]:
            learned = calib.get(v["id"], {})
            p = positioner.Positioner(
                v["id"],
                hw.actuators[v["id"]],
                hw.angles[v["id"]],
                clock,
                v["stroke_s"],
                learned.get("angle_closed_deg", v["angle_closed_deg"]),
                learned.get("angle_open_deg", v["angle_open_deg"]),
                backlash_pct=v.get("backlash_pct", 0.0),
                circular=v["feedback"]["type"] != "pot_adc",
                events=self.events,
                on_calibrated=self._calibrated,
            )
            self.positioners.append(p)
        kinds = {}
        roles = list(board.get("entrance", {}).items()) + io_roles(board.get("station"))
        for role, name in roles:
            if role[0] == "p":
                kinds[name] = "pressure"
            else:
                kinds[name] = "outdoor" if role == "t_outdoor" else "temperature"
        local_rooms = board.get("rooms", [])
        panels = board.get("rs485", {}).get("rooms", [])
        for r in local_rooms:
            kinds[r["sensor"]] = "room"
        self.sensing = Sensing(hw, kinds, self.events)
        self._probe = [self.sensing.channels[v["return_probe"]] for v in board["valves"]]
        self.household = self._household(household, remote, panels)
        self.remote_channels = []  # type: list
        # Rooms in the record's order: the board's own probes, then the panels on the bus.
        self.room_ids = [r["id"] for r in local_rooms] + [r["id"] for r in panels]
        self._room_ch = [self.sensing.channels[r["sensor"]] for r in local_rooms]
        self._room_dev = [None] * len(local_rooms)  # type: list
        if remote or panels:  # imported only on boards with an RS-485 bus (RAM)
            from edge import household_valves
        for v in remote:
            self.positioners.append(
                household_valves.RemotePositioner(self.household, v["id"], self.events)
            )
            ch = Channel(
                "t_return_" + v["id"],
                household_valves.RemoteProbe(self.household, v["id"]),
                "temperature",
                events=self.events,
            )
            self.remote_channels.append(ch)
            self._probe.append(ch)
        for r in panels:
            ch = Channel(
                "t_room_" + r["id"],
                household_valves.RemoteRoomProbe(self.household, r["id"]),
                "room",
                events=self.events,
            )
            self.remote_channels.append(ch)
            self._room_ch.append(ch)
            self._room_dev.append(self.household.rooms_by_id[r["id"]])
        self.station = self._station(station)
        self.balancer = Balancer(self.n, self._failsafe_list())
        self.balancer.configure(self.config)
        self._apply_targets_to_balancer()
        self._t = np.zeros(self.n, dtype=FLOAT)
        self._s = np.zeros(self.n, dtype=FLOAT)
        self._v = np.zeros(self.n, dtype=FLOAT)
        self._restored = self._restore_state()
        self._t_control = None  # type: int | None
        self.state_every = 1  # save PI state every control cycle (periods are 30 s or longer)
        self.scheduler = Scheduler(clock, self.events)
        self.supervisor = Supervisor(clock, self.scheduler, hw.watchdog, self.events)
        sched = self.scheduler
        sched.add("position", positioner.TICK_MS, self._position)
        if self.household is not None:
            rs = board["rs485"]
            self._rs485_budget_ms = rs["budget_ms"]
            sched.add("rs485", rs["period_ms"], self._rs485)
        if self.station is not None:  # in safe mode too: it falls back to the station's curve
            sched.add("station", board["station"]["period_ms"], self.station.poll)
        if safe_mode:  # an operator's manual opening wins over the fail-safe one here too
            for p, fs in zip(self.positioners, self._safe_list()):
                p.command(fs)
        else:
            sample_ms = board.get("sample_period_ms", 5000)
            sched.add("sample", sample_ms, self._sample)
            sched.add("control", self._control_ms(), self._control, first_in_ms=4 * sample_ms)
        sched.add("record", self.config["collection_period_s"] * 1000, self._record)
        sched.add("housekeeping", 10000, self._housekeeping)
        sched.add("supervisor", 1000, self.supervisor.check)
        self.events.emit(
            "boot",
            "info",
            None,
            self.n,
            "safe mode" if safe_mode else ("resumed" if self._restored else "cold"),
        )

    def _household(self, household, remote, panels):
        """The RS-485 poller for the board's household valves and room panels (None without
        any)."""
        if not remote and not panels:
            return None
        if household is None:
            from edge import household_valves

            problem = None
            field = "rs485"
            try:
                household = household_valves.open_bus(
                    self.board["rs485"], self.clock, self.hw.fs_root, self.events.emit
                )
            except household_valves.BusError as exc:  # a device without a fitting profile
                field, problem = exc.field, exc.reason
            except (ValueError, OSError) as exc:  # a missing or broken device profile
                problem = str(exc)
            if problem is not None:  # raised here: MicroPython has no exception chaining
                raise BoardError(field, problem)
        for v in remote:
            if v["id"] not in household.by_id:
                raise BoardError("rs485.valves", "no valve {!r} on the bus".format(v["id"]))
        rooms_by_id = getattr(household, "rooms_by_id", {})
        for r in panels:
            if r["id"] not in rooms_by_id:
                raise BoardError("rs485.rooms", "no room panel {!r} on the bus".format(r["id"]))
        if household.emit is None:
            household.emit = self.events.emit  # isolation and recovery become events
        return household

    def _station(self, station):
        """The station this board runs (None on an entrance board), with the host's command
        it last accepted back in force: its PLC (edge.station.Station) or, on a board at the
        station with its own I/O, edge.station_io.IOStation on the board's sensing channels,
        pump output and primary valve."""
        spec = self.board.get("station")
        if spec is None:
            return None
        if station is None and "io" in spec:
            from edge.station_io import IOStation

            station = IOStation(
                spec,
                self.sensing.channels,
                self.hw.outputs[spec["io"]["pump_speed"]],
                self.clock,
                self._station_target,
            )
        elif station is None:
            from edge import station as stationmod

            problem = None
            try:
                station = stationmod.open_station(spec, self.clock, self.hw.fs_root)
            except (ValueError, OSError) as exc:  # a missing or broken profile
                problem = str(exc)
            if problem is not None:
                raise BoardError("station.profile", problem)
        if station.emit is None:
            station.emit = self.events.emit
        stored = persist.load(self.paths["station"], {"version": 0}, self.events)
        cmd = stored.get("command")
        if type(cmd) is dict and station.check(cmd) is None:
            station.apply(cmd, stored["version"])
        return station

    def _station_target(self, t_c):
        """The station's supply set-point in force becomes its primary valve's target."""
        self.targets[self.station.valve_id]["t_return_c"] = t_c
        self._apply_targets_to_balancer()

    def apply_station(self, msg):
        """A desired station command (decoded desired/station). Returns (applied, reason)."""
        if self.station is None:
            return False, "this board runs no station"
        reason = self.station.check(msg)
        if reason is not None:
            self.events.emit("station_refused", "warning", None, msg["version"], reason)
            return False, reason
        cmd = {}
        for key in msg:
            if key != "v":
                cmd[key] = msg[key]
        persist.save(self.paths["station"], {"version": msg["version"], "command": cmd})
        self.station.apply(cmd, msg["version"])
        self.events.emit("station_applied", "info", None, msg["version"])
        return True, ""

    # ---- configuration and targets ----------------------------------------------------------
    def _load_config(self):
        base = cfgmod.defaults(self.board)
        stored = persist.load(self.paths["config"], base, self.events)
        try:
            self.config = cfgmod.merged(base, stored)
        except cfgmod.ConfigError as exc:
            self.events.emit("config_invalid", "warning", None, None, str(exc))
            self.config = base

    def _load_targets(self):
        base = cfgmod.default_targets(self.board)
        stored = persist.load(self.paths["targets"], {"version": 0, "targets": base}, self.events)
        try:
            self.targets = cfgmod.merged_targets(base, stored["targets"], self.valve_ids)
            self.targets_version = stored.get("version", 0)
        except (cfgmod.ConfigError, KeyError, TypeError) as exc:
            self.events.emit("targets_invalid", "warning", None, None, str(exc))
            self.targets = base
            self.targets_version = 0

    def apply_config(self, changes):
        """Desired configuration (protocol field names). Returns (applied, reason)."""
        try:
            new = cfgmod.merged(self.config, changes)
        except cfgmod.ConfigError as exc:
            self.events.emit("config_refused", "warning", None, None, str(exc))
            return False, str(exc)
        self.config = new
        persist.save(self.paths["config"], new)
        self.balancer.configure(new)
        self.balancer.set_failsafe(self._failsafe_list())
        self.scheduler.set_period("control", self._control_ms())
        self.scheduler.set_period("record", new["collection_period_s"] * 1000)
        self.events.emit("config_applied", "info", None, new.get("version", 0))
        return True, ""

    def apply_targets(self, targets, version=0):
        """Desired targets {valve id: {t_return_c, opening_ff_pct, manual_opening_pct}}.

        Returns (applied, reason). An entry with manual_opening_pct holds that valve there
        (edge.balancing, "manual"); an entry without it releases it, bumplessly."""
        try:
            new = cfgmod.merged_targets(self.targets, targets, self.valve_ids)
        except cfgmod.ConfigError as exc:
            self.events.emit("targets_refused", "warning", None, None, str(exc))
            return False, str(exc)
        self.targets = new
        self.targets_version = version
        persist.save(self.paths["targets"], {"version": version, "targets": new})
        self._apply_targets_to_balancer()
        self.events.emit("targets_applied", "info", None, version)
        return True, ""

    def _apply_targets_to_balancer(self):
        st = self.station
        if st is not None and st.valve_id is not None and st.target_c is not None:
            self.targets[st.valve_id]["t_return_c"] = st.target_c  # the station's, not the host's
        nan = float("nan")
        t = [self.targets[vid]["t_return_c"] for vid in self.valve_ids]
        ff = []
        man = []
        for vid in self.valve_ids:
            x = self.targets[vid].get("opening_ff_pct")
            ff.append(nan if x is None else x)
            x = self.targets[vid].get("manual_opening_pct")
            man.append(nan if x is None else x)
        self.balancer.set_targets(t, ff, man)

    def _failsafe_list(self):
        out = []
        for v in self.valve_defs:
            x = v.get("failsafe_opening_pct")
            out.append(self.config["failsafe_opening_pct"] if x is None else x)
        return out

    def _manual_pct(self, i):
        """The manual opening (%) of valve i, or None when its loop is in charge."""
        return self.targets[self.valve_ids[i]].get("manual_opening_pct")

    def _safe_list(self):
        """Openings in safe mode: the manual opening where one is set, else the fail-safe."""
        out = self._failsafe_list()
        for i in range(self.n):
            x = self._manual_pct(i)
            if x is not None:
                out[i] = x
        return out

    def _control_ms(self):
        return self.config["control_period_s"] * 1000

    # ---- state -------------------------------------------------------------------------------
    def _restore_state(self):
        state = persist.load(self.paths["state"], {}, self.events)
        if state.get("ids") != self.valve_ids:
            return False
        self.balancer.restore(state["integral"], state["output"])
        for p, out in zip(self.positioners, state["output"]):
            p.command(out)
        return True

    def save_state(self):
        bal = self.balancer
        persist.save(
            self.paths["state"],
            {
                "ids": self.valve_ids,
                "integral": [float(x) for x in bal.integral],
                "output": [float(x) for x in bal.output],
            },
        )

    def _calibrated(self, valve_id, closed_deg, open_deg):
        calib = persist.load(self.paths["calibration"], {}, self.events)
        calib[valve_id] = {"angle_closed_deg": closed_deg, "angle_open_deg": open_deg}
        persist.save(self.paths["calibration"], calib)

    # ---- tasks -------------------------------------------------------------------------------
    def poll(self):
        """Run the due tasks; milliseconds until the next one is due."""
        return self.scheduler.poll()

    def _position(self):
        busy = False
        for p in self.positioners:
            p.step()
            busy = busy or p.busy()
        return positioner.TICK_MS if busy else positioner.IDLE_TICK_MS

    def _sample(self):
        self.sensing.sample()
        if self.remote_channels:
            clock = self.clock
            now = clock.ticks_ms()
            for ch in self.remote_channels:
                ch.sample(now, clock)

    def _rs485(self):
        self.household.poll(budget_ms=self._rs485_budget_ms)
        for p in self.positioners[self.n_local :]:
            p.step()  # diagnostics change (and their events) as soon as the bus tells

    def _control(self):
        clock = self.clock
        now = clock.ticks_ms()
        period_s = self.config["control_period_s"]
        if self._t_control is None:
            dt_s = period_s
            if not self._restored:
                self.balancer.start_from(self._measured_or_failsafe())
        else:
            dt_s = min(clock.ticks_diff(now, self._t_control) / 1000.0, 2.0 * period_s)
        self._t_control = now
        t, s, v = self._t, self._s, self._v
        n_local = self.n_local
        for i in range(self.n):
            ch = self._probe[i]
            ok = self.positioners[i].ok()
            t[i] = ch.value
            # An RS-485 valve that does not answer cannot be sent to its fail-safe opening:
            # its loop is frozen instead (sensor taken as held, valve not ok).
            s[i] = 1.0 if ch.ok or (i >= n_local and not ok) else 0.0
            v[i] = 1.0 if ok else 0.0
        out = self.balancer.update(t, s, v, dt_s)
        for i in range(self.n):
            self.positioners[i].command(float(out[i]))
        if self.balancer.cycles % self.state_every == 0:
            self.save_state()

    def _measured_or_failsafe(self):
        out = []
        for p, fs in zip(self.positioners, self._failsafe_list()):
            out.append(p.position_pct if p.ok() and p.position_pct >= 0 else fs)
        return out

    def _record(self):
        for rec in self.records():
            self.last_record = rec
            if self.on_record is not None:
                self.on_record(rec)

    def _housekeeping(self):
        if self.boot is not None and self.uptime_ms() >= STABLE_MS:
            self.boot.stable()

    # ---- commissioning -----------------------------------------------------------------------
    def stroke_test(self, valve_id=None):
        """Start the stroke self-test on one valve or all; results in commissioning()."""
        for p in self.positioners:
            if valve_id is None or p.id == valve_id:
                p.stroke_test()

    def commissioning(self):
        """What works: every sensor's state and value (room panels as `t_room_<id>`), every
        valve's stroke test report, every room sensor's reading as the record reports it."""
        sensors = {}
        channels = list(self.sensing.channels.values()) + self.remote_channels
        for ch in channels:
            sensors[ch.name] = {
                "ok": ch.ok,
                "value": ch.value if ch.ok else None,
                "fault": ch.fault_name,
            }
        valves = {}
        for p in self.positioners:
            valves[p.id] = {
                "diag": p.diag_name,
                "opening_meas_pct": p.position_pct,
                "stroke_test": p.test_report,
            }
        rooms = {}
        for rid, ch, dev in zip(self.room_ids, self._room_ch, self._room_dev):
            entry = self._room_entry(rid, ch, dev, self.clock.time_s())
            entry["channel"] = ch.name  # its entry in `sensors`
            entry["fault"] = ch.fault_name
            if dev is not None:
                entry["addr"] = dev.addr
                entry["last_error"] = dev.last_error
            rooms[rid] = entry
        return {
            "board": self.board["board"],
            "sensors": sensors,
            "valves": valves,
            "rooms": rooms,
            "heap_free_b": self.supervisor.heap_free_b,
            "safe_mode": self.safe_mode,
        }

    # ---- reporting ---------------------------------------------------------------------------
    def uptime_ms(self):
        return self.clock.ticks_diff(self.clock.ticks_ms(), self.t_start_ms)

    def records(self):
        """The telemetry of one collection period: [record], or [valves record, rooms-only
        record] when the board's rooms do not fit beside its valves in one payload. Each
        record has its own seq; a board without rooms gets exactly `telemetry()`."""
        rec = self.telemetry()
        rooms = rec.get("rooms")
        if not rooms or encoded_len(rec) + _LINK_MARGIN_B <= protocol.MAX_PAYLOAD_BYTES:
            return [rec]
        del rec["rooms"]
        self.seq += 1
        return [
            rec,
            {
                "ts_s": rec["ts_s"],
                "seq": self.seq,
                "time_synced": rec["time_synced"],
                "valves": [],
                "rooms": rooms,
            },
        ]

    def _room_entry(self, rid, ch, dev, now_s):
        """One rooms[] entry: a panel's reading is held while it is silent (with the time it
        was taken) and none once its data are older than the bus's stale limit."""
        ok = ch.ok
        entry = {"sensor": rid}
        if dev is not None:
            fresh = self.household.room_fresh(dev)
            ok = ok and fresh
            if "battery_pct" in dev.profile.points:
                b = dev.battery_pct
                entry["battery_pct"] = b if fresh and b is not None and 0 <= b <= 100 else None
            if ok and dev.failures:
                entry["ts_s"] = max(0, now_s - self.household.age_ms(dev) // 1000)
        entry["t_room_c"] = ch.value if ok else None
        entry["sensor_ok"] = ok
        return entry

    def telemetry(self):
        """One telemetry record in the protocol's shape (without the schema field `v`), valves
        and rooms together (records() splits them when they do not fit)."""
        now_s = self.clock.time_s()
        bal = self.balancer
        valves = []
        for i in range(self.n):
            ch = self._probe[i]
            p = self.positioners[i]
            if self.safe_mode:
                mode = "failsafe" if self._manual_pct(i) is None else "manual"
            else:
                mode = MODE_NAMES[int(bal.mode[i] + 0.5)]
            valves.append(
                {
                    "id": self.valve_ids[i],
                    "t_return_c": ch.value if ch.ok else None,
                    "target_c": self.targets[self.valve_ids[i]]["t_return_c"],
                    "opening_cmd_pct": max(0.0, p.command_pct),
                    # the angle sensor reads a little past the calibrated end stop at times;
                    # the valve is at the stop, and the protocol (rightly) refuses > 100
                    "opening_meas_pct": min(100.0, p.position_pct)
                    if p.position_pct >= 0 and p.ok()
                    else None,
                    "pi_integral_pct": min(200.0, max(-200.0, float(bal.integral[i]))),
                    "mode": mode,
                    "sensor_ok": ch.ok,
                    "valve_ok": p.ok(),
                }
            )
        entrance = {}
        for role, name in self.board.get("entrance", {}).items():
            unit = "_kpa" if role[0] == "p" else "_c"
            entrance[role + unit] = self.sensing.get(name)
        sup = self.supervisor
        health = {
            "heap_free_b": sup.heap_free_b,
            "heap_min_b": max(0, sup.heap_min_b),
            "uptime_s": self.uptime_ms() // 1000,
            "dropped_total": self.events.dropped,
            "boot_count": self.boot.boots if self.boot is not None else 0,
        }
        self.seq += 1
        rec = {
            "ts_s": now_s,
            "seq": self.seq,
            "time_synced": False,
            "valves": valves,
            "entrance": entrance,
            "health": health,
        }
        if self.station is not None:
            rec["station"] = self.station.report()
        if self.room_ids:
            rec["rooms"] = [
                self._room_entry(rid, ch, dev, now_s)
                for rid, ch, dev in zip(self.room_ids, self._room_ch, self._room_dev)
            ]
        return rec

    def summary(self):
        """Content of the birth message (protocol `state`)."""
        return {
            "status": "online",
            "board": self.board["board"],
            "safe_mode": self.safe_mode,
            "boot_reason": platform.reset_cause(),
            "targets_version": self.targets_version,
            "config_version": self.config.get("version", 0),
            "station_version": self.station.command_version if self.station else 0,
        }


def encoded_len(rec):
    """Length of `rec` encoded as shared.protocol.encode does (compact JSON, without "v"),
    measured list entry by list entry so no payload-sized string is built."""
    shell = {}  # type: dict
    n = 0
    for key in rec:
        value = rec[key]
        if type(value) is list:
            shell[key] = []
            if value:
                n += len(value) - 1  # the commas between entries
            for entry in value:
                n += len(json.dumps(entry, separators=_JSON_SEP))
        else:
            shell[key] = value
    return n + len(json.dumps(shell, separators=_JSON_SEP))
