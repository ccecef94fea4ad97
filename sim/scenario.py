"""Scenario files (sim/scenarios/NAME.json) → a seeded estate, weather, station and devices.

A scenario file holds only parameters; everything else is drawn from its seed (or the seed
given on the command line), so the same file and seed give the same run:

    {"name": "tiny", "seed": 1, "days": 2, "dt_s": 60,
     "estate":  {EstateSpec fields},          "station": {StationSettings fields},
     "weather": {"synthetic": {weather.synthetic_winter keywords}} | {"csv": "file.csv"},
     "devices": {DeviceSpec fields},          "boards":  {BoardSettings fields},
     "control": "none" | "local" | "equalise",
     "rooms":   {sim.room_sensors.RoomSensorSpec fields, "faults": {RoomFaults fields}}}

Without a ``"rooms"`` section no household has a room sensor; ``"rooms": {}`` gives the
defaults (about 10 % of the households, chosen as an installer would: sim.room_sensors).

Unknown fields are errors (they are usually typos).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from edge.config import DEFAULT_T_RETURN_C, ENTRANCE_ABOVE_HOUSEHOLDS_K
from sim.devices import DeviceSpec
from sim.estate import Estate, EstateSpec, build_estate
from sim.room_sensors import RoomFaults, RoomSensors, RoomSensorSpec, choose, no_sensors
from sim.station import StationSettings
from sim.weather import Weather, load_csv, synthetic_winter

SCENARIO_DIR = Path(__file__).parent / "scenarios"
CONTROLS = ("none", "local", "equalise")
OUTDOOR_PROBES = ("first", "every", "none")


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and field."""


@dataclass(frozen=True)
class BoardSettings:
    """Virtual boards: which valves they drive and how they start."""

    household_valves: bool = False  # a motorised valve per household on the entrance's board
    initial_opening_pct: float = 100.0  # every valve, before any control
    # the board program's own defaults (edge.config.default_targets): one set of defaults
    entrance_target_c: float | None = None  # None: the board's default for its valves
    household_target_c: float = DEFAULT_T_RETURN_C
    sample_period_ms: int = 60_000
    failsafe_opening_pct: float = 40.0
    config: dict[str, Any] = field(default_factory=dict)  # edge config fields (protocol names)
    # outdoor probes (entrance role t_outdoor): on the first entrance's board, every board, none
    outdoor_probe: str = "first"

    def entrance_target(self) -> float:
        """The entrance valve's target: given, else as the board program defaults it
        (edge.config.default_targets): ENTRANCE_ABOVE_HOUSEHOLDS_K above the households'
        when they have valves, so that the water is throttled once."""
        if self.entrance_target_c is not None:
            return self.entrance_target_c
        if self.household_valves:
            return self.household_target_c + ENTRANCE_ABOVE_HOUSEHOLDS_K
        return DEFAULT_T_RETURN_C

    def __post_init__(self) -> None:
        if self.outdoor_probe not in OUTDOOR_PROBES:
            raise ValueError(f"outdoor_probe must be one of {', '.join(OUTDOOR_PROBES)}")


@dataclass(frozen=True)
class Scenario:
    """Everything a run needs, built from a file and a seed."""

    name: str
    seed: int
    days: float
    dt_s: float
    control: str
    estate: Estate
    weather: Weather
    station: StationSettings
    devices: DeviceSpec
    boards: BoardSettings
    rooms: RoomSensors = field(default_factory=no_sensors)

    def room_sensors(self) -> dict[int, tuple[str, str]]:
        """Household index → (unit, sensor id) of every room sensor (sim.room_sensors)."""
        return self.rooms.mapping()


def _typed(cls: type, data: dict[str, Any], where: str) -> Any:  # noqa: ANN401
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {', '.join(unknown)}")
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    try:
        return cls(**kw)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"{where}: {exc}") from None


def scenario_path(name_or_path: str) -> Path:
    """A scenario file by name (sim/scenarios/NAME.json) or path."""
    p = Path(name_or_path)
    if p.suffix == ".json" or p.exists():
        return p
    return SCENARIO_DIR / f"{name_or_path}.json"


def available() -> list[str]:
    """Names of the bundled scenarios."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.json"))


def load_scenario(
    name_or_path: str, seed: int | None = None, days: float | None = None
) -> Scenario:
    """Read a scenario file and build it (``seed``/``days`` override the file's)."""
    path = scenario_path(name_or_path)
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        known = ", ".join(available())
        raise ScenarioError(f"{path}: {exc.strerror} (bundled scenarios: {known})") from None
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{path}: not valid JSON: {exc}") from None
    return build_scenario(doc, seed, days, where=str(path), base=path.parent)


def build_scenario(
    doc: dict[str, Any],
    seed: int | None = None,
    days: float | None = None,
    where: str = "scenario",
    base: Path | None = None,
) -> Scenario:
    """Build a scenario from its decoded document."""
    top = {
        "name",
        "seed",
        "days",
        "dt_s",
        "estate",
        "station",
        "weather",
        "devices",
        "boards",
        "control",
        "description",
        "rooms",
    }
    unknown = sorted(set(doc) - top)
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {', '.join(unknown)}")
    seed = int(doc.get("seed", 0) if seed is None else seed)
    days = float(doc.get("days", 1.0) if days is None else days)
    if days <= 0:
        raise ScenarioError(f"{where}: days must be positive, got {days}")
    dt_s = float(doc.get("dt_s", 60.0))
    if not 1.0 <= dt_s <= 600.0:
        raise ScenarioError(f"{where}.dt_s: must be within 1..600 s, got {dt_s}")
    control = str(doc.get("control", "local"))
    if control not in CONTROLS:
        raise ScenarioError(f"{where}.control: {control!r} is not one of {', '.join(CONTROLS)}")
    espec = _typed(EstateSpec, doc.get("estate", {}), f"{where}.estate")
    station = _typed(StationSettings, doc.get("station", {}), f"{where}.station")
    station = replace(
        station,
        t_out_design_c=espec.t_out_design_c,
        t_supply_design_c=espec.t_supply_design_c,
        t_return_design_c=espec.t_return_design_c,
    )
    devices = _typed(DeviceSpec, doc.get("devices", {}), f"{where}.devices")
    boards = _typed(BoardSettings, doc.get("boards", {}), f"{where}.boards")
    estate = build_estate(espec, seed, str(doc.get("name", "scenario")))
    x = boards.initial_opening_pct / 100.0
    net = estate.network.with_openings(
        {e.id: x for e in estate.network.entrances},
        {h.id: (x if boards.household_valves else 1.0) for h in estate.network.households},
    )
    estate = replace(estate, network=net)
    weather = _weather(doc.get("weather", {}), days, seed, f"{where}.weather", base)
    rooms = _rooms(doc["rooms"], f"{where}.rooms") if "rooms" in doc else None
    sensors = choose(estate, rooms, seed) if rooms is not None else no_sensors(seed)
    return Scenario(
        str(doc.get("name", "scenario")),
        seed,
        days,
        dt_s,
        control,
        estate,
        weather,
        station,
        devices,
        boards,
        sensors,
    )


def _rooms(doc: Any, where: str) -> RoomSensorSpec:  # noqa: ANN401
    if not isinstance(doc, dict):
        raise ScenarioError(f"{where}: must be an object")
    doc = dict(doc)
    faults = doc.pop("faults", {})
    if not isinstance(faults, dict):
        raise ScenarioError(f"{where}.faults: must be an object")
    doc["faults"] = _typed(RoomFaults, faults, f"{where}.faults")
    spec: RoomSensorSpec = _typed(RoomSensorSpec, doc, where)
    return spec


def _weather(
    spec: dict[str, Any], days: float, seed: int, where: str, base: Path | None
) -> Weather:
    if "csv" in spec:
        path = Path(spec["csv"])
        if not path.is_absolute() and base is not None:
            path = base / path
        w = load_csv(path)
        if w.duration_s < days * 86400.0:
            raise ScenarioError(
                f"{where}: the file covers {w.duration_s / 86400:.1f} days, the run {days} days"
            )
        return w
    kw = spec.get("synthetic", {})
    try:
        return synthetic_winter(days + 1.0, seed, **kw)
    except TypeError as exc:
        raise ScenarioError(f"{where}.synthetic: {exc}") from None
