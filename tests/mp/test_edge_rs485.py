"""Household valves on RS-485 in the board's PI loops (edge.app + edge.household_valves),
on CPython and the MicroPython unix port.

The board drives two valves itself (edge.simhw: motor, angle sensor, probe) and has two
household valves on its RS-485 bus. Those are scripted Modbus slaves (test_modbus_master's
`FakeBus`, generic profile) that position themselves: each has a simulated valve (edge.simhw
`SimValve`) that runs towards the opening the board writes, and a return temperature from
a first-order-plus-delay plant (edge.simhw `SimEntrance`) that answers that valve's opening.
So the loop closes over Modbus: command written, valve moves, return temperature read back.
The same App runs against pymodbus slaves on a pty in tests/edge_link.
"""

import json

from edgecheck import fast_config, new_app, tmpdir
from mpcheck import raises, repo_path
from test_modbus_master import FakeBus

from edge import boarddef, device_profile, hal, modbus, simhw
from edge import household_valves as hv
from edge.app import App
from shared import protocol

HOUR_MS = 3600 * 1000
TARGETS = {
    "entrance": {"t_return_c": 42.0},
    "hh1": {"t_return_c": 38.0},
    "f5-east": {"t_return_c": 38.0},
    "f5-west": {"t_return_c": 44.0},
}
REMOTE = [
    {"id": "f5-east", "addr": 5, "profile": "generic"},
    {"id": "f5-west", "addr": 6, "profile": "generic", "failsafe_opening_pct": 55},
]


def profiles():
    with open(repo_path("boards/profiles/generic.json")) as f:
        return {"generic": device_profile.Profile(json.load(f))}


class RemoteValves(FakeBus):
    """Self-positioning household valves behind the bus: holding register 0 is the command,
    input registers 0 and 1 the return temperature and the measured opening (0.1 units)."""

    def __init__(self, clock, addrs, ua):
        FakeBus.__init__(self, clock)
        self.addrs = addrs
        self.valves = [simhw.SimValve(stroke_s=30.0, start_pct=50.0) for _ in addrs]
        self.plant = simhw.SimEntrance(self.valves, ua)
        self.probe_fault = {}  # addr -> raw register value reported instead of the probe
        for i, addr in enumerate(addrs):
            self.set(addr, "h", 0, 500)
            self._publish(i)

    def _publish(self, i):
        addr = self.addrs[i]
        t = self.probe_fault.get(addr)
        if t is None:
            t = int(self.plant.t_return_c[i] * 10 + 0.5) & 0xFFFF
        self.set(addr, "i", 0, t)
        self.set(addr, "i", 1, int(self.valves[i].pos_pct * 10 + 0.5))

    def write(self, data):
        for i in range(len(self.addrs)):
            self._publish(i)
        FakeBus.write(self, data)

    def command_pct(self, i):
        return self.regs[self.addrs[i]][("h", 0)] / 10.0

    def advance(self, dt_ms):
        for i, v in enumerate(self.valves):
            err = self.command_pct(i) - v.pos_pct
            v.direction = hal.STOP if -0.3 <= err <= 0.3 else (hal.OPEN if err > 0 else hal.CLOSE)
        self.plant.advance(dt_ms)


class Rig:
    def __init__(self, n_local=2, remote=None, fs_root=None, sb=None, bus=None):
        remote = REMOTE if remote is None else remote
        if sb is None:
            spec = simhw.sim_board_def(n_local)
            spec["rs485"] = {
                "uart": 1,
                "tx": 1,
                "rx": 2,
                "period_ms": 5000,
                "budget_ms": 200,
                "dead_after": 3,
                "probe_ms": 60000,
                "stale_ms": 30000,
                "valves": json.loads(json.dumps(remote)),
            }
            board = boarddef.validate(spec)
            sb = simhw.SimBoard(
                board, ua=[0.45, 0.35][:n_local], fs_root=tmpdir() if fs_root is None else fs_root
            )
        self.sb = sb
        self.board = sb.board
        self.clock = sb.clock
        self.bus = bus or RemoteValves(self.clock, [v["addr"] for v in remote], [0.4, 0.35])
        rs = self.board["rs485"]
        master = modbus.RTUMaster(self.bus, self.clock, baud=9600, timeout_ms=100, retries=1)
        self.household = hv.build(
            master,
            self.clock,
            rs["valves"],
            profiles(),
            dead_after=rs["dead_after"],
            probe_ms=rs["probe_ms"],
            stale_ms=rs["stale_ms"],
        )
        self.app = App(self.board, sb.hw, household=self.household)
        self.poll_ms = []  # simulated time each app.poll() took (the bus runs inside it)

    def start(self):
        fast_config(self.app)
        ok, reason = self.app.apply_targets(TARGETS, version=2)
        assert ok, reason
        return self

    def run(self, ms, max_step_ms=1000):
        clock = self.clock
        end = clock.now_ms + ms
        while clock.now_ms < end:
            t0 = clock.now_ms
            wait = self.app.poll()
            self.poll_ms.append(clock.now_ms - t0)
            dt = max(1, min(wait, max_step_ms, end - clock.now_ms))
            self.sb.plant.advance(dt)
            self.bus.advance(dt)
            clock.advance(dt)

    def errors(self):
        """Return temperature minus target, per valve in the app's order."""
        temps = self.sb.plant.t_return_c + self.bus.plant.t_return_c
        return [temps[i] - TARGETS[vid]["t_return_c"] for i, vid in enumerate(self.app.valve_ids)]

    def valve(self, vid):
        for v in self.app.telemetry()["valves"]:
            if v["id"] == vid:
                return v
        raise KeyError(vid)


def test_rs485_valves_are_members_of_the_board_loops():
    rig = Rig()
    app = rig.app
    assert app.valve_ids == ["entrance", "hh1", "f5-east", "f5-west"]
    assert app.balancer.n == 4 and len(app.positioners) == 4
    assert app.scheduler.get("rs485") is not None
    # One vector of fail-safe openings: the board's, or the valve's own override.
    assert [float(x) for x in app.balancer.failsafe] == [40.0, 40.0, 40.0, 55.0]
    assert app.targets["f5-west"]["t_return_c"] == 40.0  # default target until told
    ok, reason = app.apply_targets({"f5-west": {"t_return_c": 36.5}}, version=1)
    assert ok, reason
    assert float(app.balancer.target[3]) == 36.5
    ok, reason = app.apply_targets({"f7": {"t_return_c": 36.5}}, version=2)
    assert not ok and "f7" in reason


def test_pi_loop_drives_rs485_valves_to_their_targets():
    rig = Rig().start()
    app = rig.app
    before = rig.errors()
    assert abs(before[2]) > 1.0 and abs(before[3]) > 1.0, before  # out of balance at first
    rig.run(2 * HOUR_MS)
    worst = 0.0
    for _ in range(6):  # the last half hour, every 5 min
        rig.run(300000)
        worst = max([worst] + [abs(e) for e in rig.errors()])
    assert worst <= app.config["precision_c"], (worst, rig.errors())
    # The openings the PI loop wants are on the slaves' registers, and the valves got there.
    for i, vid in ((0, "f5-east"), (1, "f5-west")):
        out = float(app.balancer.output[2 + i])
        assert abs(rig.bus.command_pct(i) - out) <= 0.1, (vid, out, rig.bus.command_pct(i))
        assert abs(rig.bus.valves[i].pos_pct - out) <= 0.5
        v = rig.valve(vid)
        assert v["mode"] in ("auto", "hold") and v["valve_ok"] and v["sensor_ok"]
        assert abs(v["opening_meas_pct"] - rig.bus.valves[i].pos_pct) <= 0.1
        assert abs(v["t_return_c"] - TARGETS[vid]["t_return_c"]) <= 1.0
        assert v["opening_cmd_pct"] == out
    assert rig.bus.command_pct(0) < 50.0 < rig.bus.command_pct(1)  # too warm closes, cold opens
    # The record validates with the protocol and lists every valve, local and RS-485.
    rec = app.telemetry()
    protocol.validate(protocol.TELE, dict(rec, v=protocol.SCHEMA_VERSION))
    assert [v["id"] for v in rec["valves"]] == ["entrance", "hh1", "f5-east", "f5-west"]
    report = app.commissioning()
    assert report["sensors"]["t_return_f5-east"]["ok"]
    assert report["valves"]["f5-west"]["diag"] == "ok"
    assert max(rig.poll_ms) <= 200 + 2 * (100 + 40), max(rig.poll_ms)


def test_dead_slave_freezes_its_loop_and_never_stalls_the_others():
    rig = Rig().start()
    app = rig.app
    rig.run(HOUR_MS)
    rig.bus.faults[6] = "dead"  # f5-west stops answering
    rig.run(60000)
    hh = rig.household.by_id["f5-west"]
    assert hh.isolated
    integral = float(app.balancer.integral[3])
    output = float(app.balancer.output[3])
    control = app.scheduler.get("control")
    runs = control.runs
    rig.poll_ms = []
    rig.run(HOUR_MS)
    v = rig.valve("f5-west")
    assert v["mode"] == "frozen" and v["valve_ok"] is False, v
    assert v["opening_meas_pct"] is None and v["t_return_c"] is None and not v["sensor_ok"]
    assert float(app.balancer.integral[3]) == integral
    assert float(app.balancer.output[3]) == output  # held: it cannot be commanded anyway
    names = app.events.names()
    assert "modbus_dead" in names and "valve_no_reply" in names, names
    # The other valves kept their loops: a control cycle every period, on time, in balance.
    assert control.runs - runs >= HOUR_MS // 120000 - 1, control.runs - runs
    assert control.errors == 0 and app.scheduler.get("rs485").errors == 0
    errors = rig.errors()
    for i in (0, 1, 2):
        assert abs(errors[i]) <= app.config["precision_c"] + 0.3, errors
        assert rig.valve(app.valve_ids[i])["mode"] in ("auto", "hold")
    # An isolated slave costs the control loop next to nothing; no poll stalls the board.
    assert max(rig.poll_ms) <= 200 + 2 * (100 + 40), max(rig.poll_ms)
    protocol.validate(protocol.TELE, dict(app.telemetry(), v=protocol.SCHEMA_VERSION))
    # It answers again: probed, readmitted, back in its loop from where it was.
    rig.bus.faults.pop(6)
    rig.run(HOUR_MS // 2)
    assert not hh.isolated and "modbus_ok" in app.events.names()
    assert rig.valve("f5-west")["mode"] in ("auto", "hold")


def test_bad_probe_on_a_live_rs485_valve_drives_its_failsafe_opening():
    rig = Rig().start()
    app = rig.app
    rig.run(HOUR_MS)
    rig.bus.probe_fault[6] = 0x8000  # the generic profile's "no reading" marker
    rig.run(30000)
    integral = float(app.balancer.integral[3])
    rig.run(600000)
    v = rig.valve("f5-west")
    assert v["mode"] == "failsafe" and v["t_return_c"] is None and v["valve_ok"], v
    assert float(app.balancer.integral[3]) == integral
    assert rig.bus.command_pct(1) == 55.0  # the valve's own fail-safe opening, over Modbus
    assert abs(rig.bus.valves[1].pos_pct - 55.0) <= 0.5
    assert "sensor_device" in app.events.names()
    rig.bus.probe_fault.pop(6)
    rig.run(HOUR_MS)
    assert rig.valve("f5-west")["mode"] in ("auto", "hold")


def test_restart_resumes_rs485_valves_without_a_bump():
    rig = Rig().start()
    rig.run(HOUR_MS)
    saved = [float(x) for x in rig.app.balancer.integral]
    rig2 = Rig(sb=rig.sb, bus=rig.bus)  # the board resets; the bus and its valves stay
    assert rig2.app.events.peek()[0]["detail"] == "resumed"
    assert [float(x) for x in rig2.app.balancer.integral] == saved
    assert rig2.app.positioners[3].command_pct == float(rig.app.balancer.output[3])


def test_board_definition_declares_the_bus_and_its_valves():
    def broken(mutate, n_local=2):
        spec = simhw.sim_board_def(n_local)
        spec["rs485"] = {"uart": 1, "tx": 1, "rx": 2, "valves": json.loads(json.dumps(REMOTE))}
        mutate(spec)
        return raises(boarddef.BoardError, boarddef.validate, spec)

    def same_id_as_local(s):
        s["rs485"]["valves"][1]["id"] = "hh1"

    err = broken(same_id_as_local)
    assert err.field == "rs485.valves[1].id" and "duplicate" in str(err)

    def same_addr(s):
        s["rs485"]["valves"][1]["addr"] = 5

    assert broken(same_addr).field == "rs485.valves[1].addr"

    def bad_addr(s):
        s["rs485"]["valves"][0]["addr"] = 248

    assert broken(bad_addr).field == "rs485.valves[0].addr"

    def bad_parity(s):
        s["rs485"]["parity"] = "X"

    assert broken(bad_parity).field == "rs485.parity"

    def no_tx(s):
        del s["rs485"]["tx"]

    assert broken(no_tx).field == "rs485.tx"

    def too_many(s):  # 2 local + 32 on the bus = 34 > shared.protocol.MAX_VALVES
        s["rs485"]["valves"] = [{"id": "r{}".format(i), "addr": i + 1} for i in range(32)]

    err = broken(too_many)
    assert err.field == "valves" and str(protocol.MAX_VALVES) in str(err)
    # 1 local + 32 on the bus is the most a board takes.
    spec = simhw.sim_board_def(1)
    spec["rs485"] = {
        "uart": 1,
        "tx": 1,
        "rx": 2,
        "valves": [{"id": "r{}".format(i), "addr": i + 1} for i in range(32)],
    }
    board = boarddef.validate(spec)
    assert board["rs485"]["valves"][0]["profile"] == "generic"
    assert board["rs485"]["period_ms"] == 5000 and board["rs485"]["de"] is None
    # On a real port the bus pins are checked like every other pin.
    with open(repo_path("boards/pico-w.json")) as f:
        pico = json.load(f)
    pico["rs485"]["tx"] = pico["valves"][0]["actuator"]["in1"]
    err = raises(boarddef.BoardError, boarddef.validate, pico)
    assert err.field == "rs485.tx" and "already used" in str(err)


def test_targets_for_rs485_valves_come_from_the_board_definition():
    spec = simhw.sim_board_def(1)
    spec["rs485"] = {"uart": 1, "tx": 1, "rx": 2, "valves": [{"id": "f1", "addr": 1}]}
    spec["targets"] = {"f1": {"t_return_c": 37.0}}
    board = boarddef.validate(spec)
    sb = simhw.SimBoard(board, fs_root=tmpdir())
    bus = RemoteValves(sb.clock, [1], [0.4])
    master = modbus.RTUMaster(bus, sb.clock, baud=9600)
    household = hv.build(master, sb.clock, board["rs485"]["valves"], profiles())
    app = new_app(sb, board, household=household)
    assert app.targets["f1"]["t_return_c"] == 37.0
    # A bus that does not have the board's valve is a broken definition, named.
    other = hv.build(master, sb.clock, [{"id": "f2", "addr": 2}], profiles())
    err = raises(boarddef.BoardError, App, board, sb.hw, household=other)
    assert err.field == "rs485.valves" and "f1" in str(err)


def test_stale_bus_data_freeze_the_loops():
    rig = Rig().start()
    app = rig.app
    rig.run(HOUR_MS)
    rig.app.scheduler.set_period("rs485", 10 * HOUR_MS)  # the bus is no longer polled
    integral = float(app.balancer.integral[2])
    rig.run(10 * 60000)
    v = rig.valve("f5-east")
    assert v["mode"] == "frozen" and not v["valve_ok"] and v["opening_meas_pct"] is None, v
    assert app.commissioning()["valves"]["f5-east"]["diag"] == "stale"
    assert float(app.balancer.integral[2]) == integral
    assert rig.valve("hh1")["mode"] in ("auto", "hold")  # the local loops go on
