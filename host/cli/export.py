"""`evenheat export`: telemetry of any units, points, fields and time range to CSV or Excel.

Reads the service's database directly (`--database URL` or `--config FILE`); safe to run
while the service runs. The request is checked in full before anything is written, and the
file is written atomically, so a bad request (unknown unit, point or field, inverted range)
exits 1 with "Error: ..." on stderr and leaves `--out` as it was.

    evenheat export --database sqlite:////var/lib/evenheat/evenheat.db --site estate-7 \\
        --units b12-e1 b12-e2 --points entrance --fields t_return_c flow_m3h \\
        --from 2025-01-10 --to 2025-01-11 --format xlsx --out estate-7.xlsx
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from host.reports.export import DEFAULT_TZ, FIELDS, FORMATS

if TYPE_CHECKING:
    from host.storage import Storage

# Exit codes (as click): 0 done, 1 refused or failed, 2 usage (argparse).
EXIT_FAILED = 1


def add_database_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """`--database URL` or `--config FILE` (the service's, for its [database] url)."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--database", metavar="URL", help="sqlite:///file.db or postgresql://")
    group.add_argument("--config", type=Path, help="the service TOML file (its database)")


def open_database(args: argparse.Namespace) -> Storage:
    """The storage named by --database or --config; refuses to create a new SQLite file.
    Raises ValueError with a message for stderr."""
    from host.service.config import ConfigError, load_config
    from host.storage import StorageError, open_storage

    url = args.database
    if args.config is not None:
        try:
            url = load_config(args.config).database.url
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
    if url.startswith("sqlite://") and ":memory:" not in url:
        path = url[len("sqlite://") :]
        path = path[1:] if path.startswith("/") else path
        if not Path(path).is_file():
            raise ValueError(f"no database file {path!r}")
    try:
        return open_storage(url)
    except StorageError as exc:
        raise ValueError(str(exc)) from None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export telemetry to CSV or Excel",
        description="Export points of one site over a time range to CSV or Excel (one sheet "
        "per unit). Times without an offset are local times in --tz.",
    )
    add_database_arguments(parser)
    parser.add_argument("--site", required=True)
    parser.add_argument("--units", nargs="+", default=[], help="default: every unit of --site")
    parser.add_argument(
        "--points", nargs="+", default=[], help="default: every point known at each unit"
    )
    parser.add_argument(
        "--fields", nargs="+", default=["t_return_c"], help=f"of {', '.join(FIELDS)}"
    )
    parser.add_argument("--from", dest="start", required=True, help="ISO 8601 or epoch s")
    parser.add_argument("--to", dest="end", required=True, help="ISO 8601 or epoch s")
    parser.add_argument("--tz", default=DEFAULT_TZ, help=f"IANA time zone (default {DEFAULT_TZ})")
    parser.add_argument(
        "--max-points", type=int, help="average into buckets: at most about N per point"
    )
    parser.add_argument("--format", choices=FORMATS, help="default: from --out's suffix")
    parser.add_argument("--out", type=Path, required=True, help="the file to write")
    parser.set_defaults(func=export_command)


def export_command(args: argparse.Namespace) -> int:
    from host.reports.export import ExportError, ExportRequest, parse_time, write_file

    fmt = args.format or ("xlsx" if args.out.suffix.lower() == ".xlsx" else "csv")
    try:
        storage = open_database(args)
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        req = ExportRequest(
            site=args.site,
            units=tuple(args.units),
            points=tuple(args.points),
            fields=tuple(args.fields),
            start_s=parse_time(args.start, args.tz),
            end_s=parse_time(args.end, args.tz),
            tz=args.tz,
            max_points=args.max_points,
        )
        rows = write_file(storage, req, fmt, args.out)
    except (ExportError, OSError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        storage.close()
    print(f"wrote {rows} rows to {args.out}", file=sys.stderr)
    return 0
