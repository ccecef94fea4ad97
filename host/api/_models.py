"""Request bodies and responses.

Bodies: strict types (no "3" for 3) and no unknown fields: both answer 422. The strategy
settings change (`StrategyPatch`) is checked in its route, so that a refusal answers and is
audited with the balancer's reasons (`unknown-setting`, `bad-value`).

Responses (`response_model=` of the routes): exactly the fields the service returns, so the
JSON is what the routes build. Numbers are `Number` (an int stays an int, a float a float, as
stored); an unknown field is a bug (500), never silently dropped. Routes whose objects leave
out fields they do not have (board state, desired state) answer with `exclude_unset`.
"""

from __future__ import annotations

from dataclasses import fields as dataclass_fields
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from host.assets.registry import DEVICE_KINDS
from host.control import station_control
from host.control.balancer import BalancerError
from host.control.strategy.equalise import StrategySettings

Role = Literal["viewer", "operator", "admin"]
DeviceKind = Literal[DEVICE_KINDS]  # type: ignore[valid-type]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class StationPatch(Body):
    name: str | None = None


class BuildingPatch(Body):
    name: str | None = None
    floors: int | None = None


class EntrancePatch(Body):
    building_id: str


class DevicePatch(Body):
    kind: DeviceKind | None = None
    household_id: str | None = None


class StationIn(Body):
    id: str = Field(min_length=1, max_length=64)
    site: str
    name: str | None = None


class StationUnitIn(Body):
    unit: str = Field(min_length=1, max_length=32)


class BuildingIn(Body):
    id: str = Field(min_length=1, max_length=64)
    station_id: str
    name: str | None = None
    floors: int | None = None


class EntranceIn(Body):
    id: str = Field(min_length=1, max_length=64)
    building_id: str
    site: str
    unit: str


class HouseholdFields(Body):
    floor: int | None = None
    position: str | None = None
    household_type: str | None = None
    heated_area_m2: float | None = None
    has_room_sensor: bool | None = None
    point: str | None = None


class HouseholdIn(HouseholdFields):
    id: str = Field(min_length=1, max_length=64)
    entrance_id: str


class DeviceIn(Body):
    id: str = Field(min_length=1, max_length=64)
    site: str
    unit: str
    point: str
    kind: DeviceKind
    household_id: str | None = None


class UserIn(Body):
    name: str
    role: Role
    password: str


class UserPatch(Body):
    role: Role | None = None
    password: str | None = None
    disabled: bool | None = None


class PasswordIn(Body):
    password: str


class ThresholdsIn(Body):
    t_low_c: float | None = None
    t_high_c: float | None = None
    t_very_high_c: float | None = None
    hysteresis_c: float | None = None
    min_duration_s: int | None = None


class OverrideIn(Body):
    """Exactly one of a return-temperature target or a fixed opening."""

    target_c: float | None = None
    opening_pct: float | None = None

    @model_validator(mode="after")
    def _one(self) -> OverrideIn:
        if (self.target_c is None) == (self.opening_pct is None):
            raise ValueError("give exactly one of target_c and opening_pct")
        return self


# ---------------------------------------------------------------- strategy settings ----
FiniteNumber = Annotated[float, Field(allow_inf_nan=False)]
Offset = Annotated[float, Field(allow_inf_nan=False, ge=-20.0, le=20.0)]
OFFSET_SETTINGS = ("offsets", "household_type_offsets")


class _StrategyPatchBase(Body):
    """Some settings of a station to change: the strategy's (host/control/strategy/
    equalise.py StrategySettings), `period_s` (s, at least 60), `enabled`, and offsets
    (degC, -20..20) per valve (`unit/valve`) and per household type."""

    period_s: FiniteNumber | None = None
    enabled: bool | None = None
    offsets: dict[str, Offset] | None = None
    household_type_offsets: dict[str, Offset] | None = None
    mode: Literal["return", "room"] | None = None  # room-led targets, or returns alone
    building_modes: dict[str, Literal["return", "room"]] | None = None  # per building
    # model-based balancing (host/control/model_balancing.py), checked by the balancer
    feed_forward: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _some(self) -> _StrategyPatchBase:
        if not self.model_fields_set:
            raise ValueError("give at least one setting to change")
        return self

    @classmethod
    def check(cls, changes: Any) -> dict[str, Any]:
        """`changes` as given when they are valid; else the BalancerError the balancer would
        refuse them with (its reason, and its message for the first problem)."""
        try:
            cls.model_validate(changes)
        except ValidationError as exc:
            raise _refusal(cls, exc.errors()[0]) from None
        assert isinstance(changes, dict)
        return changes


# The strategy's own settings, one optional field each (the dataclass is the one list).
_STRATEGY_PATCH_FIELDS: dict[str, Any] = {
    f.name: (FiniteNumber | None, None) for f in dataclass_fields(StrategySettings)
}
StrategyPatch = create_model(
    "StrategyPatch", __base__=_StrategyPatchBase, **_STRATEGY_PATCH_FIELDS
)


def _refusal(model: type[BaseModel], problem: Any) -> BalancerError:
    loc = tuple(problem.get("loc", ()))
    value = problem.get("input")
    if not loc:
        return BalancerError("bad-value", "give at least one setting to change")
    name = str(loc[0])
    if problem.get("type") == "extra_forbidden":
        known = sorted(model.model_fields)
        return BalancerError("unknown-setting", f"{name!r}; one of {known}", field=name)
    if name == "enabled":
        return BalancerError("bad-value", "enabled must be true or false", field=name, value=value)
    if name in ("mode", "building_modes"):
        where = f"{name}.{loc[1]}" if len(loc) > 1 else name
        detail = f"{where} must be one of ['return', 'room'], not {value!r}"
        if name == "building_modes" and len(loc) == 1:
            detail = "building_modes must be an object of building -> mode"
        return BalancerError("bad-value", detail, field=name, value=value)
    if name in OFFSET_SETTINGS and len(loc) == 1:
        detail = f"{name} must be an object of name -> degC"
        return BalancerError("bad-value", detail, field=name, value=value)
    if len(loc) > 1:
        name = f"{name}.{loc[1]}"
        if problem.get("type") in ("less_than_equal", "greater_than_equal"):
            detail = f"{name} = {float(value)} outside -20..20 degC"
            return BalancerError("bad-value", detail, field=name, value=value)
    detail = f"{name} must be a finite number, not {value!r}"
    return BalancerError("bad-value", detail, field=name, value=value)


# ---------------------------------------------------------------- responses ----
Number = int | float  # as stored: 5 stays 5, 5.0 stays 5.0


class Out(BaseModel):
    """A response object: exactly these fields."""

    model_config = ConfigDict(extra="forbid")


class Health(Out):
    ok: bool
    broker_connected: bool


class RegistryCounts(Out):
    """Rows of every registry table."""

    stations: int
    buildings: int
    entrances: int
    households: int
    devices: int


class ServiceStatus(Out):
    summary: str  # the log's summary line
    sites: list[str]
    database: str  # "sqlite" or "postgresql"
    schema_version: int
    broker_connected: bool
    boards: int
    boards_online: int
    alarms_open: int
    registry: RegistryCounts
    balancer: bool


class UserOut(Out):
    name: str
    role: Role
    created_s: Number
    disabled: bool


class AuditEntry(Out):
    """One audit row about a unit (the ids are left out)."""

    ts_s: Number
    who: str
    action: str
    target: str
    detail: str | None
    result: str


class AuditRow(Out):
    id: int
    ts_s: Number
    who: str
    action: str
    target: str
    detail: str | None
    result: str


# registry
class StationOut(Out):
    id: str
    site: str
    name: str | None


class StationUnitOut(Out):
    station_id: str
    site: str
    unit: str


class BuildingOut(Out):
    id: str
    station_id: str
    name: str | None
    floors: int | None


class EntranceOut(Out):
    id: str
    building_id: str
    site: str
    unit: str


class HouseholdOut(Out):
    id: str
    entrance_id: str
    floor: int | None
    position: str | None
    household_type: str | None
    heated_area_m2: Number | None
    has_room_sensor: bool
    point: str | None


class DeviceOut(Out):
    id: str
    site: str
    unit: str
    point: str
    kind: str
    entrance_id: str | None
    household_id: str | None


class StationDetail(StationOut):
    buildings: list[BuildingOut]


class BuildingDetail(BuildingOut):
    entrances: list[EntranceOut]


class EntranceDetail(EntranceOut):
    households: list[HouseholdOut]
    devices: list[DeviceOut]


class Deleted(Out):
    deleted: str


# units and boards
class UnitStatus(Out):
    site: str
    unit: str
    entrance_id: str | None
    status: str | None
    last_seen_s: Number | None


class BoardFields(Out):
    """A board's state; only what the service knows of it is present (`exclude_unset`)."""

    status: str  # online, offline, unknown
    status_s: Number | None = None
    status_reason: str | None = None
    last_seen_s: Number | None = None
    fw: str | None = None
    board: str | None = None
    boot_reason: str | None = None
    safe_mode: bool | None = None
    targets_version: int | None = None
    config_version: int | None = None
    outbox_depth: Number | None = None
    dropped_total: Number | None = None
    health: dict[str, Any] | str | None = None
    last_seq: int | None = None


class _SiteUnit(Out):
    site: str
    unit: str


class BoardState(BoardFields, _SiteUnit):
    """A board's state with its site and unit (first)."""


class DesiredVersion(Out):
    version: int
    status: str
    reason: str | None


class DesiredStatus(Out):
    """The newest version of each kind issued (a kind never issued is left out)."""

    targets: DesiredVersion | None = None
    config: DesiredVersion | None = None


class UnitDetail(Out):
    site: str
    unit: str
    entrance_id: str | None
    board: BoardFields
    desired: DesiredStatus


class LatestRecord(Out):
    """The newest stored record of one point (None: not reported)."""

    ts_s: Number
    seq: int
    t_return_c: Number | None
    target_c: Number | None
    opening_cmd_pct: Number | None
    opening_meas_pct: Number | None
    pi_integral_pct: Number | None
    mode: str | None
    sensor_ok: Number | None
    valve_ok: Number | None
    t_supply_c: Number | None
    ent_t_return_c: Number | None
    p_supply_kpa: Number | None
    p_return_kpa: Number | None
    flow_m3h: Number | None
    heat_kw: Number | None
    t_outdoor_c: Number | None
    pump_speed_pct: Number | None  # the station record's (point "station")
    pump_power_kw: Number | None
    t_supply_setpoint_c: Number | None


class Latest(Out):
    site: str
    unit: str
    points: dict[str, LatestRecord]  # by point


class BoardEvent(Out):
    seq: int
    ts_s: Number
    event: str
    severity: str


class DesiredOf(Out):
    """Newest version of a kind: its status and payload (no version: never issued)."""

    version: int | None = None
    status: str | None = None
    reason: str | None = None
    payload: dict[str, Any] | None


class DesiredState(Out):
    targets: DesiredOf
    config: DesiredOf
    station: DesiredOf


class DesiredIssued(Out):
    site: str
    unit: str
    of: Literal["targets", "config", "station"]
    version: int


class DesiredHistoryRow(Out):
    of: str
    version: int
    status: str
    reason: str | None
    issued_s: Number
    issued_by: str
    status_s: Number | None


class Commands(Out):
    desired: list[DesiredHistoryRow]
    audit: list[AuditEntry]


class ThresholdsOut(Out):
    site: str
    unit: str
    point: str
    t_low_c: Number
    t_high_c: Number
    t_very_high_c: Number
    hysteresis_c: Number
    min_duration_s: Number


# alarms
class AlarmOut(Out):
    id: int
    site: str
    unit: str
    point: str
    kind: str
    severity: str
    raised_s: Number
    raised_value: Number | None
    message: str | None
    acked_s: Number | None
    acked_by: str | None
    cleared_s: Number | None
    cleared_value: Number | None
    clear_reason: str | None


# telemetry
class Series(Out):
    unit: str
    point: str
    field: str
    values: list[tuple[int, Number | None]]  # [ts_s, value] in time order


class History(Out):
    site: str
    from_s: int
    to_s: int
    max_points: int
    series: list[Series]


# balancing
_STRATEGY_SETTINGS_FIELDS: dict[str, Any] = {
    **{f.name: (Number, ...) for f in dataclass_fields(StrategySettings)},
    "period_s": (Number, ...),
    "enabled": (bool, ...),
    "offsets": (dict[str, Number], ...),
    "household_type_offsets": (dict[str, Number], ...),
    "mode": (str, ...),  # "return" or "room" (host/control/strategy/room_led.py)
    "building_modes": (dict[str, str], ...),
    "feed_forward": (dict[str, Any], ...),
}
StrategySettingsOut = create_model(
    "StrategySettingsOut",
    __base__=Out,
    __doc__="Every balancing setting of a station (the configured default where not set).",
    **_STRATEGY_SETTINGS_FIELDS,
)


class LastRun(Out):
    run_id: int
    ts_s: Number
    trigger: str
    valves_changed: int


class StationSummary(Out):
    station_id: str
    ts_s: Number
    entrances: int
    reporting: int
    t_return_mean_c: Number | None
    t_return_min_c: Number | None
    t_return_max_c: Number | None
    t_return_spread_k: Number | None  # the largest deviation from the mean
    last_run: LastRun | None


class RunDecision(Out):
    site: str
    unit: str
    valve: str
    old_target_c: Number | None
    new_target_c: Number | None
    reason: str
    changed: bool
    group_mean_c: Number | None
    inputs: dict[str, Any]


class BalanceRun(Out):
    run_id: int
    station_id: str
    ts_s: Number
    trigger: str
    decisions: list[RunDecision]
    published: dict[str, int]  # unit -> desired-targets version


class DecisionOut(Out):
    run_id: int
    station_id: str
    ts_s: Number
    site: str
    unit: str
    valve: str
    old_target_c: Number | None
    new_target_c: Number | None
    reason: str
    group_mean_c: Number | None
    inputs: dict[str, Any]
    trigger: str
    desired_version: int | None


class OverrideOut(Out):
    site: str
    unit: str
    valve: str
    target_c: Number | None
    opening_pct: Number | None
    set_s: Number
    set_by: str


class ValveHeld(Out):
    site: str
    unit: str
    valve: str
    version: int


# rooms
class RoomNow(Out):
    """A household's current room temperature: measured (a fresh plausible reading) or the
    newest estimate; `sensor` and `flag` describe the household's newest reading."""

    household_id: str
    measured: bool
    t_room_c: Number | None
    se_c: Number | None  # K
    ts_s: int
    method: str  # "sensor" when measured, else the estimator's method
    sensor: str | None
    flag: str | None


class RoomReadingPoint(Out):
    ts_s: int
    t_room_c: Number | None
    flag: str | None  # None: plausible
    measured: Literal[True]


class RoomEstimatePoint(Out):
    ts_s: int
    t_room_c: Number | None
    se_c: Number | None
    measured: bool


class RoomHistory(Out):
    household_id: str
    start_s: int
    end_s: int
    max_points: int | None
    readings: list[RoomReadingPoint]
    estimates: list[RoomEstimatePoint]


class StationRoomRow(Out):
    household_id: str
    entrance_id: str
    building_id: str
    floor: int | None
    top_floor: int | None
    household_type: str | None
    has_room_sensor: bool
    current: RoomNow | None  # None: neither a fresh reading nor an estimate


class StationRoomCounts(Out):
    households: int
    sensed: int  # measured now
    estimated: int
    no_data: int
    poor: int  # se_c above 1.0 K
    below_18: int  # t_room_c below 18 degC


class StationRooms(Out):
    station_id: str
    now_s: int
    counts: StationRoomCounts
    households: list[StationRoomRow]


# ------------------------------------------------------------ station control ----
_STATION_STRATEGY_FIELDS: dict[str, Any] = {
    name: (Number, ...)
    for name in station_control.defaults(900.0)
    if name not in ("unit", "pump", "weather", "curve", "schedule", "valid_for_s", "valves")
}
StationControlOut = create_model(
    "StationControlOut",
    __base__=Out,
    __doc__="Every setting of a station's control: the unit that runs the station, each "
    "strategy off, on or scheduled, the heating curve, the schedule and the strategies' "
    "tuning (defaults where not set).",
    unit=(str | None, ...),
    pump=(str, ...),
    weather=(str, ...),
    valid_for_s=(int, ...),
    valves=(str, ...),
    curve=(list[list[Number]], ...),
    schedule=(list[dict[str, Any]], ...),
    **_STATION_STRATEGY_FIELDS,
)


class StationDecisionOut(Out):
    """One decision of a station's strategies: what was asked, why, from what."""

    id: int
    station_id: str
    ts_s: Number
    trigger: str
    site: str | None
    unit: str | None
    pump_speed_pct: Number | None
    t_supply_c: Number | None
    offset_c: Number | None
    pump_reason: str
    supply_reason: str
    inputs: dict[str, Any]
    desired_version: int | None
    outcome: str


class FeedForwardRun(Out):
    """One model-based balancing run: pushed (`reason` ok) or why not (`stale`,
    `uncertain`, `estimate-failed`, `unknown-pipe`, `unreachable`, `unreadable`, ...)."""

    station_id: str
    reason: str
    detail: str
    pump_speed: Number | None
    valves: int
    published: dict[str, int]
    run_id: int | None
