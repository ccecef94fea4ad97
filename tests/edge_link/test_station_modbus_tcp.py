"""The station gateway's Modbus TCP master (edge/modbus_tcp.py, edge/station.py) against
pymodbus's TCP server playing the station PLC (simulated hardware: registers only, no
process behind them).

pymodbus decodes the gateway's MBAP frames and requests, executes them on its own datastore
and encodes the replies. The PLC's registers are written here from the register map in
boards/profiles/station-plc.json with struct, independently of the gateway's profile code.
The gateway runs under the real MicroPython unix port (its sockets) and under CPython.
"""

from __future__ import annotations

import asyncio
import json
import struct
import threading
from collections.abc import Iterator

import pytest
from pymodbus.server import ModbusTcpServer

from edge import boarddef, modbus, modbus_tcp, station
from tests.boardcheck import ROOT
from tests.brokers import free_port, wait_for_port
from tests.edge_link.modbus_pty import RealClock, device
from tests.micropython import run_script

HERE = __import__("pathlib").Path(__file__).resolve().parent


def int16(x: float) -> int:
    return struct.unpack(">H", struct.pack(">h", round(x * 10)))[0]


def float32(x: float) -> list[int]:
    return list(struct.unpack(">HH", struct.pack(">f", x)))


class PymodbusPLC:
    """A pymodbus TCP server with one unit (id 1) holding the station's registers."""

    def __init__(self) -> None:
        self.port = free_port()
        self._device = device(1, holding={i: 0 for i in range(200)}, inputs={})
        self.loop = asyncio.new_event_loop()
        self.server: ModbusTcpServer | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        wait_for_port("127.0.0.1", self.port, 10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def serve() -> None:  # pymodbus builds its server inside a running loop
            self.server = ModbusTcpServer([self._device], address=("127.0.0.1", self.port))
            await self.server.serve_forever()

        self.loop.run_until_complete(serve())

    def close(self) -> None:
        assert self.server is not None
        asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop).result(10)
        self._thread.join(10)
        self.loop.close()

    def _on_loop(self, coro):  # the datastore belongs to the server's loop
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def set(self, register_1based: int, values: list[int]) -> None:
        assert self.server is not None
        self._on_loop(self.server.context.async_setValues(1, 3, register_1based - 1, values))

    def get(self, register_1based: int) -> int:
        assert self.server is not None
        return int(
            self._on_loop(self.server.context.async_getValues(1, 3, register_1based - 1, 1))[0]
        )

    def readings(self, t_outdoor_c: float) -> None:
        """The PLC's measurements, per the register map (registers numbered from 1)."""
        self.set(1, [int16(58.0), int16(41.5), 4520, 3010])
        self.set(5, float32(63.5) + float32(2950.0))
        self.set(9, [812, 1875, int16(t_outdoor_c), int16(57.0)])


@pytest.fixture
def plc() -> Iterator[PymodbusPLC]:
    p = PymodbusPLC()
    p.readings(t_outdoor_c=0.0)
    yield p
    p.close()


def test_gateway_under_micropython_drives_the_pymodbus_plc(plc):
    dead = free_port()
    proc = run_script(HERE / "mp_station_script.py", "127.0.0.1", str(plc.port), str(dead))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout.split("RESULT ", 1)[1])
    local = out["local"]
    assert local["mode"] == "local"
    assert local["t_supply_c"] == 58.0 and local["t_return_c"] == 41.5
    assert local["p_supply_kpa"] == pytest.approx(452.0) and local["flow_m3h"] == 63.5
    assert local["heat_kw"] == 2950.0 and local["pump_power_kw"] == pytest.approx(18.75)
    assert "limits" in out["check_bad"]
    host = out["host"]
    assert host["mode"] == "host" and host["command_version"] == 2
    assert host["pump_speed_cmd_pct"] == 62.0
    # What pymodbus holds is what the host asked: speed 62.0 %, supply 52.5 degC, remote on.
    assert (plc.get(101), plc.get(103), plc.get(104)) == (1, 620, 525)
    assert plc.get(102) >= 2  # the heartbeat counted every poll
    assert out["offline"]["mode"] == "offline" and out["offline"]["t_supply_c"] is None
    assert "ConnectionLost" in out["error"]
    assert out["back"]["mode"] == "host"
    assert out["stats"]["connects"] >= 2 and out["stats"]["connection_lost"] >= 3
    assert out["events"][0] == "station_online" and "station_offline" in out["events"]


def _gateway(plc: PymodbusPLC) -> station.Station:
    spec = json.loads((ROOT / "boards" / "station-gateway.json").read_text())
    spec["port"] = "unix"
    spec["station"]["modbus_tcp"].update(host="127.0.0.1", port=plc.port, timeout_ms=500)
    board = boarddef.validate(spec)
    return station.open_station(board["station"], RealClock(), str(ROOT) + "/")


def test_the_curve_follows_the_plc_outdoor_probe_and_the_plc_restart_is_rewritten(plc):
    st = _gateway(plc)
    try:
        st.poll()
        assert plc.get(104) == 550  # 0 degC outdoors on the fallback curve: 55.0 degC
        plc.readings(t_outdoor_c=-20.0)
        st.poll()
        assert plc.get(104) == 700
        plc.set(101, [0] * 5)  # the PLC restarted with empty set-points
        st.written = {}  # (what dead_after failed polls do)
        st.poll()
        assert plc.get(103) == 850 and plc.get(104) == 700
    finally:
        st.master.close()


def test_modbus_exceptions_from_the_plc_are_reported_not_retried(plc):
    master = modbus_tcp.TCPMaster("127.0.0.1", plc.port, timeout_ms=500)
    try:
        assert master.read_registers(1, 3, 0, 2) == [int16(58.0), int16(41.5)]
        with pytest.raises(modbus.SlaveException) as exc:
            master.read_registers(1, 3, 190, 20)  # beyond the PLC's registers
        assert exc.value.code == 2  # illegal data address
        assert master.stats["retries"] == 0
        master.write_registers(1, 150, [7, 8])
        assert plc.get(151) == 7 and plc.get(152) == 8
        with pytest.raises(modbus.ModbusError):
            master.read_registers(9, 3, 0, 1)  # a unit the server does not have
    finally:
        master.close()
