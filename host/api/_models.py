"""Request bodies. Strict types (no "3" for 3) and no unknown fields: both answer 422."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from host.assets.registry import DEVICE_KINDS

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
