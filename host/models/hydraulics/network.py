"""The model of one secondary network: frozen dataclasses in the file's practical units.

This is what the loader produces and what the solver, the inverse problem, the generator and
the simulator share. Units are in every field name; see docs/network-format.md. The model is
immutable: :meth:`Network.with_openings` returns a new network with other valve openings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property

import numpy as np

from host.models.hydraulics.valves import Valve
from host.models.hydraulics.water import density_kg_m3


class Side(StrEnum):
    """Which half of the loop a pipe belongs to (sets its water temperature)."""

    SUPPLY = "supply"
    RETURN = "return"


class MeasurementKind(StrEnum):
    """What a sensor measures; ``at`` is a node id for pressure, an entrance id otherwise."""

    PRESSURE = "pressure"
    FLOW = "flow"
    SUPPLY_TEMPERATURE = "supply_temperature"
    RETURN_TEMPERATURE = "return_temperature"


@dataclass(frozen=True)
class Node:
    """A junction of the supply or return mains. Elevation in m above the site datum."""

    id: str
    elevation_m: float = 0.0


@dataclass(frozen=True)
class Pipe:
    """A supply or return pipe: either a lumped S or length/diameter/roughness (Darcy)."""

    id: str
    side: Side
    from_node: str
    to_node: str
    s_m_per_m3h2: float | None = None
    length_m: float | None = None
    diameter_mm: float | None = None
    roughness_mm: float | None = None

    @property
    def is_darcy(self) -> bool:
        """True when the pipe is given by length, diameter and roughness."""
        return self.s_m_per_m3h2 is None


@dataclass(frozen=True)
class Pump:
    """Circulation pump: head curve at rated speed and the current speed ratio n/n_rated.

    The curve is the points (flow m³/h, head m) at rated speed. It is fitted by
    h = a + b·G + c·G² (least squares; one point: EPANET's single-point rule a = 4/3·h,
    b = 0, c = −h/(3·G²); two points: b = 0). At speed ratio n the affinity laws give
    h = a·n² + b·n·G + c·G².
    """

    curve_flow_m3h: tuple[float, ...]
    curve_head_m: tuple[float, ...]
    speed_ratio: float = 1.0

    @cached_property
    def coefficients(self) -> tuple[float, float, float]:
        """(a m, b m/(m³/h), c m/(m³/h)²) of the rated-speed curve."""
        q = np.asarray(self.curve_flow_m3h, dtype=float)
        h = np.asarray(self.curve_head_m, dtype=float)
        if q.size == 1:
            return 4.0 / 3.0 * h[0], 0.0, -h[0] / (3.0 * q[0] ** 2)
        if q.size == 2:
            c = (h[1] - h[0]) / (q[1] ** 2 - q[0] ** 2)
            return h[0] - c * q[0] ** 2, 0.0, c
        design = np.column_stack([np.ones_like(q), q, q * q])
        a, b, c = np.linalg.lstsq(design, h, rcond=None)[0]
        return float(a), float(b), float(c)

    @property
    def max_flow_m3h(self) -> float:
        """Largest flow of the curve at the current speed (affinity: scales with n)."""
        return max(self.curve_flow_m3h) * self.speed_ratio

    def head_m(self, flow_m3h: float) -> float:
        """Head gain in m at ``flow_m3h`` and the current speed."""
        a, b, c = self.coefficients
        n = self.speed_ratio
        return a * n * n + b * n * flow_m3h + c * flow_m3h * flow_m3h


@dataclass(frozen=True)
class Station:
    """The heat exchange station: pump from ``return_node`` to ``supply_node``.

    ``return_pressure_kpa`` is the gauge pressure the pressurisation unit holds at the pump
    inlet (the station return node): the loop's reference head.
    """

    id: str
    supply_node: str
    return_node: str
    pump: Pump | None
    supply_temp_c: float = 55.0
    return_temp_c: float = 40.0
    return_pressure_kpa: float = 200.0


@dataclass(frozen=True)
class Entrance:
    """A building entrance between a supply and a return node.

    Flow path: supply node → building internal resistance (risers, heat exchanger or
    radiators lumped) → households in parallel, if any → entrance balancing valve → return
    node. Without households the path is the internal resistance in series with the valve.
    """

    id: str
    building: str
    supply_node: str
    return_node: str
    valve: Valve
    internal_s_m_per_m3h2: float
    design_flow_m3h: float | None = None
    floors: int | None = None


@dataclass(frozen=True)
class Household:
    """A household branch under an entrance: its own resistance and optional valve."""

    id: str
    entrance: str
    s_m_per_m3h2: float
    valve: Valve | None = None
    floor: int | None = None
    design_flow_m3h: float | None = None


@dataclass(frozen=True)
class Measurement:
    """Which sensor exists where: ``at`` is a node id (pressure) or an entrance id."""

    kind: MeasurementKind
    at: str


@dataclass(frozen=True)
class Network:
    """One secondary network (one station). See docs/network-format.md."""

    name: str
    station: Station
    nodes: tuple[Node, ...]
    pipes: tuple[Pipe, ...]
    entrances: tuple[Entrance, ...] = ()
    households: tuple[Household, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    meta: Mapping[str, object] = field(default_factory=dict, compare=False)

    @cached_property
    def mean_density_kg_m3(self) -> float:
        """Density at the mean of supply and return temperature (used for kPa ↔ m)."""
        return density_kg_m3(0.5 * (self.station.supply_temp_c + self.station.return_temp_c))

    @cached_property
    def households_by_entrance(self) -> dict[str, tuple[Household, ...]]:
        """Households grouped by entrance id, in file order."""
        out: dict[str, list[Household]] = {}
        for h in self.households:
            out.setdefault(h.entrance, []).append(h)
        return {k: tuple(v) for k, v in out.items()}

    def with_openings(
        self,
        entrance_openings: Mapping[str, float] | None = None,
        household_openings: Mapping[str, float] | None = None,
    ) -> Network:
        """A copy with the given valve openings (0..1) by entrance / household id."""
        ent = entrance_openings or {}
        hh = household_openings or {}
        entrances = tuple(
            replace(e, valve=replace(e.valve, opening=ent[e.id])) if e.id in ent else e
            for e in self.entrances
        )
        households = tuple(
            replace(h, valve=replace(h.valve, opening=hh[h.id]))
            if h.id in hh and h.valve is not None
            else h
            for h in self.households
        )
        return replace(self, entrances=entrances, households=households)

    def with_pump_speed(self, speed_ratio: float) -> Network:
        """A copy with the pump at another speed ratio."""
        if self.station.pump is None:
            return self
        pump = replace(self.station.pump, speed_ratio=speed_ratio)
        return replace(self, station=replace(self.station, pump=pump))
