"""The virtual station gateway: the real edge program (edge.app.App with edge.station.Station)
in front of the simulated station, whose PLC the plant plays (simulated hardware).

`PlantPLC` is an edge.modbus.Master on the plant: reads answer the station-plc register map
(boards/profiles/station-plc.json, encoded by the profile) from the plant's last outputs;
writes land in the map and become the station's `StationCommand` while the remote switch
is on (speed: the percentage of the station's `speed_max`), or none (the station's own curve
and speed) when it is off. Every heartbeat the gateway writes renews the command, as a real
PLC's watchdog takes a changing heartbeat as a live gateway; without one the simulated
station falls back after `host_silent_s`.

The gateway's board definition is boards/station-gateway.json (port "unix"); its link to
the broker is edge.connected as on every virtual board.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge import boarddef, hal, simhw
from edge import station as stationmod
from edge.app import App
from edge.clock import ManualClock
from edge.device_profile import Profile
from shared.units import RHO_WATER_50C_KG_M3
from sim.plant import Plant
from sim.station import StationCommand
from sim.virtual_board import SUPERVISE_MS

ROOT = Path(__file__).resolve().parent.parent
#: The station's return header pressure (kPa): the expansion vessel's, held constant.
P_RETURN_KPA = 300.0
_CP_J_KG_K = 4180.0
_G = 9.81


def gateway_board() -> dict[str, Any]:
    """The shipped station gateway definition, on the simulated port."""
    spec = json.loads((ROOT / "boards" / "station-gateway.json").read_text())
    spec["port"] = "unix"
    return boarddef.validate(spec)


def station_profile(name: str = "station-plc") -> Profile:
    return Profile(json.loads((ROOT / "boards" / "profiles" / f"{name}.json").read_text()))


class PlantPLC:
    """The plant's station behind Modbus register calls (edge.modbus.Master's interface)."""

    retries = 0
    timeout_ms = 100

    def __init__(self, plant: Plant, profile: Profile) -> None:
        self.plant = plant
        self.profile = profile
        self.stats: dict[str, int] = {}
        self.written: dict[int, int] = {}
        self._heartbeat: int | None = None

    def readings(self) -> dict[str, float]:
        """The station's measurements now (engineering units of the profile's points)."""
        out = self.plant.outputs
        st = self.plant.station
        fl = out.flows
        head_kpa = RHO_WATER_50C_KG_M3 * _G * fl.pump_head_m / 1000.0
        heat_w = (
            RHO_WATER_50C_KG_M3
            * fl.pump_flow_m3h
            / 3600.0
            * _CP_J_KG_K
            * (out.t_supply_station_c - out.t_return_station_c)
        )
        cmd = self.plant.command
        applied = cmd.applied(st, self.plant.time_s)[1] if cmd is not None else None
        return {
            "t_supply_c": out.t_supply_station_c,
            "t_return_c": out.t_return_station_c,
            "p_supply_kpa": P_RETURN_KPA + head_kpa,
            "p_return_kpa": P_RETURN_KPA,
            "flow_m3h": fl.pump_flow_m3h,
            "heat_kw": heat_w / 1000.0,
            "pump_speed_pct": 100.0 * out.pump_speed / st.speed_max,
            "pump_power_kw": st.pump_power_w(fl.pump_flow_m3h, fl.pump_head_m) / 1000.0,
            "t_outdoor_c": out.t_out_c,
            "t_supply_setpoint_c": applied if applied is not None else st.supply_c(out.t_out_c),
        }

    def read_registers(self, addr: int, fc: int, start: int, count: int) -> list[int]:
        regs: dict[int, int] = dict(self.written)
        values = self.readings()
        for key in self.profile.read_points:
            p = self.profile.points[key]
            for i, w in enumerate(self.profile.encode(key, values[key])):
                regs[p["reg"] + i] = w & 0xFFFF
        return [regs.get(start + i, 0) for i in range(count)]

    def write_register(self, addr: int, reg: int, value: int) -> None:
        self.write_registers(addr, reg, [value])

    def write_registers(self, addr: int, reg: int, values: list[int]) -> None:
        for i, v in enumerate(values):
            self.written[reg + i] = v & 0xFFFF
        self._apply()

    def _value(self, key: str) -> float | None:
        p = self.profile.points.get(key)
        if p is None or p["reg"] not in self.written:
            return None
        words = [self.written.get(p["reg"] + i, 0) for i in range(p["words"])]
        return self.profile.decode(key, words)

    def _apply(self) -> None:
        plant = self.plant
        remote = self._value("remote_cmd")
        if remote is not None and remote < 0.5:
            plant.command = None  # the PLC's own programme
            return
        beat = self._value("heartbeat_cmd")
        renewed = beat is not None and beat != self._heartbeat
        self._heartbeat = int(beat) if beat is not None else None
        speed_pct = self._value("pump_speed_cmd_pct")
        supply = self._value("t_supply_cmd_c")
        speed = None if speed_pct is None else speed_pct / 100.0 * plant.station.speed_max
        old = plant.command
        if old is None or renewed or (old.pump_speed, old.t_supply_c) != (speed, supply):
            plant.command = StationCommand(plant.time_s, speed, supply)


class VirtualStation:
    """The station gateway board running edge.app.App against the plant's station."""

    def __init__(self, plant: Plant, fs_root: str, epoch_s: int, unit: str = "station") -> None:
        self.unit = unit
        self.board = gateway_board()
        self.clock = ManualClock(0, epoch_s)
        self.plc = PlantPLC(plant, station_profile(self.board["station"]["profile"]))
        spec = self.board["station"]
        station = stationmod.Station(spec, self.plc.profile, self.plc, self.clock)
        watchdog = simhw.SimWatchdog(self.clock, self.board["watchdog_ms"])
        hw = hal.Hardware(self.clock, {}, {}, {}, (), watchdog, fs_root)
        self.app = App(self.board, hw, station=station)
        self.app.apply_config({"collection_period_s": 300, "control_period_s": 900})
        for task in ("supervisor", "housekeeping"):  # as on the virtual entrance boards
            self.app.scheduler.set_period(task, SUPERVISE_MS)

    def run_until(self, end_ms: int) -> None:
        """Run the program until the board clock reads ``end_ms``."""
        clock = self.clock
        while clock.now_ms < end_ms:
            wait = self.app.poll()
            clock.advance(max(1, min(wait, end_ms - clock.now_ms)))
