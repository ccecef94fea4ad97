"""Telemetry routes: history of any points and time range (downsampled), and exports to CSV
and Excel. List parameters may repeat (`units=a&units=b`) or hold commas (`units=a,b`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from host.api._core import ApiDep, Viewer
from host.api._models import History
from host.reports.export import (
    DEFAULT_TZ,
    MEDIA_TYPES,
    ExportRequest,
    check,
    filename,
    parse_time,
    read_rooms,
    rooms_to_csv,
    to_csv,
    to_xlsx,
)
from host.reports.export import read as read_tables

router = APIRouter(prefix="/api/v1", tags=["telemetry"])

MAX_POINTS_LIMIT = 100_000

_FROM = Query(..., alias="from", description="epoch seconds or ISO 8601 (local time if naive)")
_TO = Query(..., alias="to", description="epoch seconds or ISO 8601 (local time if naive)")
_TZ = Query(DEFAULT_TZ, description="the station's IANA time zone, for naive times and output")


def _split(values: list[str] | None) -> tuple[str, ...]:
    return tuple(v for item in values or () for v in item.split(",") if v)


def _request(
    site: str,
    units: list[str] | None,
    points: list[str] | None,
    fields: list[str] | None,
    start: str,
    end: str,
    tz: str,
    max_points: int | None,
    default_fields: tuple[str, ...] = ("t_return_c",),
) -> ExportRequest:
    return ExportRequest(
        site=site,
        units=_split(units),
        points=_split(points),
        fields=_split(fields) or default_fields,
        start_s=parse_time(start, tz),
        end_s=parse_time(end, tz),
        tz=tz,
        max_points=max_points,
    )


@router.get(
    "/history",
    summary="History of points of one site over a time range, downsampled",
    description="One series per (unit, point, field): `[[ts_s, value], ...]` in time order. "
    "Ranges holding more than `max_points` samples come back as means over equal time "
    "buckets (the bucket's start time). Empty `units` means all units of the site, empty "
    "`points` all points known at each unit.",
    response_model=History,
)
def history(
    *,
    site: str,
    units: Annotated[list[str] | None, Query()] = None,
    points: Annotated[list[str] | None, Query()] = None,
    fields: Annotated[list[str] | None, Query(description="default t_return_c")] = None,
    start: str = _FROM,
    end: str = _TO,
    tz: str = _TZ,
    max_points: Annotated[int, Query(ge=1, le=MAX_POINTS_LIMIT)] = 1000,
    api: ApiDep,
    _: Viewer,
) -> dict[str, Any]:
    req = _request(site, units, points, fields, start, end, tz, max_points)
    plan = check(api.storage, req)
    series = []
    for unit, unit_points in plan.items():
        for point in unit_points:
            for name in req.fields:
                values = api.storage.query(
                    site, unit, point, name, req.start_s, req.end_s, max_points
                )
                series.append(
                    {
                        "unit": unit,
                        "point": point,
                        "field": name,
                        "values": [[int(t), v] for t, v in values],
                    }
                )
    return {
        "site": site,
        "from_s": req.start_s,
        "to_s": req.end_s,
        "max_points": max_points,
        "series": series,
    }


@router.get(
    "/export",
    summary="Export points of one site over a time range to CSV or Excel",
    description="CSV: one row per (time, unit, point). Excel: one sheet per unit, times in "
    "the station's local time `tz` (default Asia/Shanghai), units in the headers, and a "
    "sheet `(rooms)` with the room readings and estimates of the range. Without "
    "`max_points` the raw records are exported.",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPES["csv"]: {}, MEDIA_TYPES["xlsx"]: {}}}},
)
def export(
    *,
    site: str,
    format: Literal["csv", "xlsx"] = "csv",  # noqa: A002 - the parameter's public name
    units: Annotated[list[str] | None, Query()] = None,
    points: Annotated[list[str] | None, Query()] = None,
    fields: Annotated[list[str] | None, Query(description="default t_return_c")] = None,
    start: str = _FROM,
    end: str = _TO,
    tz: str = _TZ,
    max_points: Annotated[int | None, Query(ge=1, le=MAX_POINTS_LIMIT)] = None,
    api: ApiDep,
    _: Viewer,
) -> Response:
    req = _request(site, units, points, fields, start, end, tz, max_points)
    tables = read_tables(api.storage, req)
    if format == "csv":
        data = to_csv(tables, req)
    else:
        data = to_xlsx(tables, req, read_rooms(api.storage, req))
    return Response(
        content=data,
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename(req, format)}"'},
    )


@router.get(
    "/export/rooms",
    summary="Export the room readings and estimates of one site over a time range",
    description="One row per (time, household, series): `reading` rows carry the sensor and "
    "its plausibility flag, `estimate` rows the standard error, method and whether the value "
    "was measured. CSV, or Excel with one `(rooms)` sheet (and `(export)`).",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPES["csv"]: {}, MEDIA_TYPES["xlsx"]: {}}}},
)
def export_rooms(
    *,
    site: str,
    format: Literal["csv", "xlsx"] = "csv",  # noqa: A002 - the parameter's public name
    units: Annotated[list[str] | None, Query()] = None,
    start: str = _FROM,
    end: str = _TO,
    tz: str = _TZ,
    api: ApiDep,
    _: Viewer,
) -> Response:
    req = _request(site, units, None, None, start, end, tz, None)
    rooms = read_rooms(api.storage, req)
    data = rooms_to_csv(rooms, req) if format == "csv" else to_xlsx([], req, rooms)
    name = filename(req, format).replace("evenheat-", "evenheat-rooms-", 1)
    return Response(
        content=data,
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
