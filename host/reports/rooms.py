"""Room temperatures out: each household's current value, measured or estimated, and a
station's overview.

The current value of a household is its newest plausible reading (flag None) when that is
fresh (`FRESH_S`, 1 h, before now), with the sensor's standard error `MEASURED_SE_C`; else the
newest stored estimate (the estimator's value, standard error and method); else nothing.
`sensor` and `flag` always describe the household's newest reading (any flag), so that an
estimate says why the sensor was not used.
"""

from __future__ import annotations

from typing import Any

from host.storage import Storage

FRESH_S = 3600  # s: a reading older than this is not the current value
MEASURED_SE_C = 0.3  # K: standard error of a plausible room sensor reading
POOR_SE_C = 1.0  # K: an estimate less certain than this is counted `poor`
COMFORT_C = 18.0  # degC: the Chinese comfort standard's minimum room temperature


def current_room(
    household_id: str,
    plausible: dict[str, Any] | None,
    newest: dict[str, Any] | None,
    estimate: dict[str, Any] | None,
    now_s: float,
) -> dict[str, Any] | None:
    """The current room value of a household from its newest plausible reading, its newest
    reading and its newest estimate (each None when there is none); None: no data."""
    sensor = newest["sensor"] if newest else None
    flag = newest["flag"] if newest else None
    if (
        plausible is not None
        and plausible["t_room_c"] is not None
        and now_s - plausible["ts_s"] < FRESH_S
    ):
        return {
            "household_id": household_id,
            "measured": True,
            "t_room_c": plausible["t_room_c"],
            "se_c": MEASURED_SE_C,
            "ts_s": plausible["ts_s"],
            "method": "sensor",
            "sensor": plausible["sensor"],
            "flag": None,
        }
    if estimate is not None:
        return {
            "household_id": household_id,
            "measured": False,
            "t_room_c": estimate["t_room_c"],
            "se_c": estimate["se_c"],
            "ts_s": estimate["ts_s"],
            "method": estimate["method"],
            "sensor": sensor,
            "flag": flag,
        }
    return None


def household_room(storage: Storage, household_id: str, now_s: float) -> dict[str, Any] | None:
    """The current room value of one household (see `current_room`)."""
    return current_room(
        household_id,
        storage.latest_room_reading(household_id, plausible_only=True),
        storage.latest_room_reading(household_id),
        storage.latest_room_estimate(household_id),
        now_s,
    )


def station_rooms(storage: Storage, station_id: str, now_s: float) -> dict[str, Any]:
    """Every household of a station with its current value, and the counts: households,
    sensed (measured now), estimated, no_data, poor (se_c above POOR_SE_C), below_18
    (t_room_c below COMFORT_C)."""
    plausible = storage.latest_room_readings(station_id, plausible_only=True)
    newest = storage.latest_room_readings(station_id)
    estimates = storage.latest_room_estimates(station_id)
    rows = []
    counts = dict.fromkeys(("households", "sensed", "estimated", "no_data", "poor", "below_18"), 0)
    for hh in storage.station_households(station_id):
        hid = hh["household_id"]
        now = current_room(hid, plausible.get(hid), newest.get(hid), estimates.get(hid), now_s)
        row = {
            "household_id": hid,
            "entrance_id": hh["entrance_id"],
            "building_id": hh["building_id"],
            "floor": hh["floor"],
            "top_floor": hh["top_floor"],
            "household_type": hh["household_type"],
            "has_room_sensor": hh["has_room_sensor"],
            "current": now,
        }
        rows.append(row)
        counts["households"] += 1
        if now is None:
            counts["no_data"] += 1
            continue
        counts["sensed" if now["measured"] else "estimated"] += 1
        if now["se_c"] is not None and now["se_c"] > POOR_SE_C:
            counts["poor"] += 1
        if now["t_room_c"] is not None and now["t_room_c"] < COMFORT_C:
            counts["below_18"] += 1
    return {"station_id": station_id, "now_s": int(now_s), "counts": counts, "households": rows}
