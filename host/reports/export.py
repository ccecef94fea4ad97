"""Telemetry out: latest values per point, history, and exports to CSV and Excel.

An export is any set of units of one site, points, fields and time range (`ExportRequest`).
It is checked completely before anything is rendered (`check`): an unknown unit, point, field
or time zone, or an empty or inverted range, raises `ExportError` naming the offending value,
and nothing is written. Values come from `Storage.query`: raw records, or with `max_points`
averaged into equal time buckets per point (at most about `max_points` per point).

Formats:

- **CSV** (UTF-8 with a byte-order mark, so Excel shows °C and Chinese names): one header row
  `time (<tz>)`, `ts_s [s UTC]`, `unit`, `point`, then one column per field with its unit in
  brackets (`t_return_c [°C]`); one row per (unit, point, time), in time order.
- **Excel** (openpyxl): one sheet per unit (entrance) with the same columns minus `unit`, the
  time as a real Excel date-time in the station's local time; a sheet `(rooms)` with the room
  readings and estimates of the range (when there are any); a last sheet `(export)` records
  what was asked.

Room temperatures (`read_rooms`): the readings of the site's room sensors and the estimates of
its stations' households in the range, one row per (time, household, series): `series` is
`reading` (with sensor and plausibility flag) or `estimate` (with standard error, method and
whether it was measured). `rooms_to_csv` writes them alone (the API's `/export/rooms`).

Times are shown in the station's local time zone. The registry has no time zone per station,
so the caller names one (IANA name, `zoneinfo`); the default is `Asia/Shanghai` (UTC+8, no
daylight saving). Stored times stay UTC seconds (`ts_s`, also exported).

Usage::

    req = ExportRequest("estate-7", ("b12-e2",), ("entrance",), ("t_return_c",), t0, t1)
    data = render(storage, req, "xlsx")
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from host.errors import RefusedError
from host.storage import Storage
from host.storage.base import ENTRANCE_POINT, QUERY_FIELDS, TELE_COLUMNS

DEFAULT_TZ = "Asia/Shanghai"
FORMATS = ("csv", "xlsx")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# Unit of each field, from its name's suffix (docs/protocol.md); flags have none.
_SUFFIX_UNITS = (("_c", "°C"), ("_pct", "%"), ("_kpa", "kPa"), ("_m3h", "m³/h"), ("_kw", "kW"))
FIELDS = tuple(c for c in TELE_COLUMNS if c in QUERY_FIELDS)  # in storage column order
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit minus the header row
INFO_SHEET = "(export)"  # parentheses cannot occur in a unit name, so no clash
ROOMS_SHEET = "(rooms)"
ROOM_COLUMNS = (
    "household_id",
    "unit",
    "series",
    "sensor",
    "t_room_c",
    "se_c",
    "flag",
    "measured",
    "method",
)
_ROOM_HEADERS = {"t_room_c": "t_room_c [°C]", "se_c": "se_c [K]"}


class ExportError(RefusedError, ValueError):
    """A request that cannot be served; `reason` is a short code, `detail` names the value."""


def field_unit(name: str) -> str:
    """The unit of a telemetry field ("°C" for t_return_c), or "" for flags."""
    for suffix, unit in _SUFFIX_UNITS:
        if name.endswith(suffix):
            return unit
    return ""


def header(name: str) -> str:
    """The column header of a field: its name with its unit, `t_return_c [°C]`."""
    unit = field_unit(name)
    return f"{name} [{unit}]" if unit else name


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ExportError("unknown-timezone", f"no time zone {tz!r} (an IANA name)") from None


def parse_time(text: str | int | float, tz: str = DEFAULT_TZ) -> int:
    """UTC seconds from epoch seconds or ISO 8601 (a date or date-time; without an offset it
    is local time in `tz`)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return int(text)
    value = str(text).strip()
    try:
        return int(float(value))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ExportError(
            "bad-time", f"{value!r} is neither epoch seconds nor an ISO 8601 date-time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(tz))
    return int(moment.timestamp())


@dataclass(frozen=True)
class ExportRequest:
    """What to read. Empty `units` means every unit of the site, empty `points` every point
    known at a unit; times are UTC seconds, both ends included."""

    site: str
    units: tuple[str, ...]
    points: tuple[str, ...]
    fields: tuple[str, ...]
    start_s: int
    end_s: int
    tz: str = DEFAULT_TZ
    max_points: int | None = None


@dataclass
class Table:
    """Checked, read data of one unit: rows (ts_s, point, {field: value}) in time order."""

    unit: str
    points: tuple[str, ...]
    rows: list[tuple[int, str, dict[str, float | None]]] = field(default_factory=list)


# ---------------------------------------------------------------- reading ----
def latest_records(storage: Storage, site: str, unit: str) -> dict[str, dict[str, Any]]:
    """The newest stored telemetry record of every point of a unit: {point: {ts_s, seq,
    field: value, ...}}. Empty for an unknown unit or one that never sent data."""
    return storage.latest_records(site, unit)


def known_points(storage: Storage, site: str, unit: str) -> set[str]:
    """Points the registry or the stored telemetry knows at a unit (always `entrance`)."""
    points = {ENTRANCE_POINT, *latest_records(storage, site, unit)}
    points.update(storage.registered_points(site, unit))
    return points


def check(storage: Storage, req: ExportRequest) -> dict[str, tuple[str, ...]]:
    """Refuse a bad request (ExportError); return the points to read per unit."""
    zone(req.tz)
    if req.start_s >= req.end_s:
        raise ExportError("bad-range", f"from ({req.start_s}) must be before to ({req.end_s})")
    if req.max_points is not None and req.max_points < 1:
        raise ExportError("bad-value", f"max_points must be at least 1, not {req.max_points}")
    if not req.fields:
        raise ExportError("bad-value", "name at least one field")
    for name in req.fields:
        if name not in QUERY_FIELDS:
            raise ExportError("unknown-field", f"no field {name!r}; one of {', '.join(FIELDS)}")
    units = req.units or tuple(sorted(u for _, s, u in storage.units() if s == req.site))
    if not units:
        raise ExportError("unknown-unit", f"site {req.site!r} has no units")
    plan: dict[str, tuple[str, ...]] = {}
    everywhere: set[str] = set()
    for unit in units:
        if storage.unit_id(req.site, unit) is None:
            raise ExportError("unknown-unit", f"no unit {req.site}/{unit}")
        known = known_points(storage, req.site, unit)
        everywhere |= known
        plan[unit] = tuple(p for p in req.points if p in known) or (
            () if req.points else tuple(sorted(known))
        )
    for point in req.points:
        if point not in everywhere:
            raise ExportError("unknown-point", f"no point {point!r} at {', '.join(units)}")
    return plan


def read(storage: Storage, req: ExportRequest) -> list[Table]:
    """Check the request and read its data, one table per unit."""
    plan = check(storage, req)
    tables = []
    for unit, points in plan.items():
        merged: dict[tuple[int, str], dict[str, float | None]] = {}
        for point in points:
            for name in req.fields:
                series = storage.query(
                    req.site, unit, point, name, req.start_s, req.end_s, req.max_points
                )
                for ts_s, value in series:
                    merged.setdefault((int(ts_s), point), {})[name] = value
        rows = [(ts, point, values) for (ts, point), values in sorted(merged.items())]
        tables.append(Table(unit, points, rows))
    return tables


RoomRow = tuple[int, dict[str, Any]]  # (ts_s, {ROOM_COLUMNS})


def read_rooms(storage: Storage, req: ExportRequest) -> list[RoomRow]:
    """Room readings of the site's sensors and estimates of its stations' households in the
    range (of the request's units, when it names some), in time order. Checks only the
    range and time zone: a site without rooms has none."""
    zone(req.tz)
    if req.start_s >= req.end_s:
        raise ExportError("bad-range", f"from ({req.start_s}) must be before to ({req.end_s})")
    out: list[RoomRow] = []
    for r in storage.room_readings_between(req.site, req.start_s, req.end_s, req.units):
        out.append(
            (
                int(r["ts_s"]),
                {
                    "household_id": r["household_id"],
                    "unit": r["unit"],
                    "series": "reading",
                    "sensor": r["sensor"],
                    "t_room_c": r["t_room_c"],
                    "se_c": None,
                    "flag": r["flag"],
                    "measured": True,
                    "method": "sensor",
                },
            )
        )
    stations = storage.stations_at(req.site)
    unit_of = {
        h["household_id"]: h["unit"] for st in stations for h in storage.station_households(st)
    }
    for e in storage.room_estimates_between(stations, req.start_s, req.end_s):
        unit = unit_of.get(e["household_id"], "")
        if req.units and unit not in req.units:
            continue
        out.append(
            (
                int(e["ts_s"]),
                {
                    "household_id": e["household_id"],
                    "unit": unit,
                    "series": "estimate",
                    "sensor": None,
                    "t_room_c": e["t_room_c"],
                    "se_c": e["se_c"],
                    "flag": None,
                    "measured": e["measured"],
                    "method": e["method"],
                },
            )
        )
    out.sort(key=lambda r: (r[0], r[1]["household_id"], r[1]["series"]))
    return out


def _room_heads(tz: str) -> list[str]:
    return [f"time ({tz})", "ts_s [s UTC]", *(_ROOM_HEADERS.get(c, c) for c in ROOM_COLUMNS)]


def _room_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(float(value))
    return str(value)


def rooms_to_csv(rows: list[RoomRow], req: ExportRequest) -> bytes:
    """Room readings and estimates as CSV (UTF-8 with BOM, units in the headers)."""
    tz = zone(req.tz)
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow(_room_heads(req.tz))
    for ts, values in rows:
        local = _local(ts, tz).isoformat()
        out.writerow([local, ts, *(_room_cell(values[c]) for c in ROOM_COLUMNS)])
    return buf.getvalue().encode("utf-8-sig")


# ---------------------------------------------------------------- rendering ----
def render(storage: Storage, req: ExportRequest, fmt: str) -> bytes:
    """The export as file content; raises ExportError before rendering anything."""
    _check_format(fmt)
    tables = read(storage, req)
    if fmt == "csv":
        return to_csv(tables, req)
    return to_xlsx(tables, req, read_rooms(storage, req))


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ExportError("bad-format", f"format {fmt!r} is not one of {', '.join(FORMATS)}")


def to_csv(tables: list[Table], req: ExportRequest) -> bytes:
    tz = zone(req.tz)
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow([f"time ({req.tz})", "ts_s [s UTC]", "unit", "point", *map(header, req.fields)])
    rows = sorted(
        ((ts, table.unit, point, values) for table in tables for ts, point, values in table.rows),
        key=lambda r: (r[0], r[1], r[2]),
    )
    for ts, unit, point, values in rows:
        local = _local(ts, tz).isoformat()
        out.writerow([local, ts, unit, point, *(_cell(values.get(f)) for f in req.fields)])
    return buf.getvalue().encode("utf-8-sig")


def _cell(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def to_xlsx(tables: list[Table], req: ExportRequest, rooms: list[RoomRow] | None = None) -> bytes:
    """The Excel workbook: a sheet per unit, `(rooms)` when `rooms` has rows, `(export)`."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    tz = zone(req.tz)
    for table in tables:
        if len(table.rows) > XLSX_MAX_ROWS:
            raise ExportError(
                "too-large",
                f"{table.unit}: {len(table.rows)} rows exceed an Excel sheet; use max_points",
            )
    book = Workbook(write_only=True)
    bold = Font(bold=True)
    for table in tables:
        sheet = book.create_sheet(table.unit[:31])
        sheet.freeze_panes = "A2"
        sheet.column_dimensions["A"].width = 20
        sheet.column_dimensions["B"].width = 12
        heads = [f"time ({req.tz})", "ts_s [s UTC]", "point", *map(header, req.fields)]
        head_cells = []
        for text in heads:
            cell = WriteOnlyCell(sheet, value=text)
            cell.font = bold
            head_cells.append(cell)
        sheet.append(head_cells)
        for ts, point, values in table.rows:
            local = _local(ts, tz).replace(tzinfo=None)
            when = WriteOnlyCell(sheet, value=local)
            when.number_format = "yyyy-mm-dd hh:mm:ss"
            sheet.append([when, ts, point, *(values.get(f) for f in req.fields)])
    if rooms:
        if len(rooms) > XLSX_MAX_ROWS:
            raise ExportError("too-large", f"{len(rooms)} room rows exceed an Excel sheet")
        sheet = book.create_sheet(ROOMS_SHEET)
        sheet.freeze_panes = "A2"
        head_cells = []
        for text in _room_heads(req.tz):
            cell = WriteOnlyCell(sheet, value=text)
            cell.font = bold
            head_cells.append(cell)
        sheet.append(head_cells)
        for ts, values in rooms:
            when = WriteOnlyCell(sheet, value=_local(ts, tz).replace(tzinfo=None))
            when.number_format = "yyyy-mm-dd hh:mm:ss"
            sheet.append([when, ts, *(values[c] for c in ROOM_COLUMNS)])
    info = book.create_sheet(INFO_SHEET)
    for key, value in (
        ("site", req.site),
        ("units", ", ".join(t.unit for t in tables)),
        ("points", ", ".join(req.points) or "all"),
        ("fields", ", ".join(map(header, req.fields))),
        ("from", _local(req.start_s, tz).isoformat()),
        ("to", _local(req.end_s, tz).isoformat()),
        ("time zone", req.tz),
        (
            "values",
            f"means over buckets, at most about {req.max_points} per point"
            if req.max_points
            else "raw records",
        ),
        ("created", datetime.now(UTC).astimezone(tz).isoformat(timespec="seconds")),
    ):
        info.append([key, value])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def write_file(storage: Storage, req: ExportRequest, fmt: str, path: Path) -> int:
    """Render and write atomically (a temporary file renamed into place): on any error the
    destination is left as it was. Returns the number of data rows."""
    _check_format(fmt)
    tables = read(storage, req)
    if fmt == "csv":
        data = to_csv(tables, req)
    else:
        data = to_xlsx(tables, req, read_rooms(storage, req))
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sum(len(t.rows) for t in tables)


def filename(req: ExportRequest, fmt: str) -> str:
    """A download name: evenheat-<site>-<from>-<to>.<fmt> (local dates)."""
    tz = zone(req.tz)
    start, end = (_local(t, tz).strftime("%Y%m%dT%H%M") for t in (req.start_s, req.end_s))
    return f"evenheat-{req.site}-{start}-{end}.{fmt}"


def _local(ts_s: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ts_s, UTC).astimezone(tz)
