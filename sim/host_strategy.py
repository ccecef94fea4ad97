"""The host-strategy hook of the simulator, and the equalisation strategy plugged into it.

A strategy sees what the host would see, nothing more: each board's latest telemetry record
(probe readings, openings, targets: edge.app.App.telemetry's shape), the entrance heat
meters' flow readings and the asset registry's household types. It returns new targets per
board in the protocol's desired-targets shape, and may ask the station for a pump speed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from host.control.strategy.equalise import StrategySettings, ValveReading, balance_station

Targets = dict[str, dict[str, dict[str, Any]]]  # unit -> valve id -> {"t_return_c", ...}


@dataclass
class HostDecision:
    """New targets by board (only boards that change), and what the station is asked for:
    a pump speed ratio and a supply-temperature set-point (degC), each optional."""

    targets: Targets = field(default_factory=dict)
    pump_speed: float | None = None
    t_supply_c: float | None = None


class HostStrategy(Protocol):
    """What the runner calls every ``period_s`` of simulated time."""

    period_s: float

    def decide(
        self,
        now_s: float,
        records: Mapping[str, dict[str, Any]],
        meter_flow_m3h: Mapping[str, float],
    ) -> HostDecision: ...


class EqualiseStrategy:
    """host.control.strategy.equalise on the boards' telemetry: entrance returns equalised
    across the station (weighted by heat-meter flow), household returns within each entrance,
    with a household-type offset (exposed flats get a higher target relative to their neighbours;
    the strategy centres offsets per group and trims the level on the valves' openings)."""

    def __init__(
        self,
        household_offset_c: Mapping[str, float] | None = None,
        period_s: float = 900.0,
        settings: StrategySettings | None = None,
        household_types: Mapping[str, str] | None = None,
    ):
        self.period_s = period_s
        self.settings = settings or StrategySettings()
        self.offsets = dict(household_offset_c or {})
        self.types = dict(household_types or {})

    def decide(
        self,
        now_s: float,
        records: Mapping[str, dict[str, Any]],
        meter_flow_m3h: Mapping[str, float],
    ) -> HostDecision:
        offsets = {key: off for key, off in self.offsets.items() if not key.endswith("/entrance")}
        return equalise_records(now_s, records, meter_flow_m3h, offsets, self.settings, self.types)


def equalise_records(
    now_s: float,
    records: Mapping[str, dict[str, Any]],
    meter_flow_m3h: Mapping[str, float],
    offsets_c: Mapping[str, float],
    settings: StrategySettings,
    household_types: Mapping[str, str] | None = None,
) -> HostDecision:
    """host.control.strategy.equalise on the boards' latest records: one reading per valve
    (offsets by `unit/valve`, entrances weighted by their heat meters), new targets of the
    valves whose target changed."""
    types = household_types or {}
    entrances: list[ValveReading] = []
    households: dict[str, list[ValveReading]] = {}
    for unit, rec in records.items():
        for v in rec["valves"]:
            key = f"{unit}/{v['id']}"
            is_entrance = v["id"] == "entrance"
            reading = ValveReading(
                unit=unit,
                valve=v["id"],
                t_return_c=v["t_return_c"],
                flow_m3h=meter_flow_m3h.get(unit) if is_entrance else None,
                measured_at_s=float(rec["ts_s"]),
                target_c=v["target_c"],
                offset_c=offsets_c.get(key, 0.0),
                opening_pct=v["opening_cmd_pct"],
                household_type=None if is_entrance else types.get(key),
            )
            if is_entrance:
                entrances.append(reading)
            else:
                households.setdefault(unit, []).append(reading)
    out = HostDecision()
    for d in balance_station(entrances, households, now_s, settings):
        if d.changed and d.new_target_c is not None:
            out.targets.setdefault(d.unit, {})[d.valve] = {"t_return_c": d.new_target_c}
    return out
