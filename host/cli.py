"""The `evenheat` command line: one entry point, one module per subcommand.

Each module named in SUBCOMMANDS exposes `register(subparsers)`, adds its parser there and sets
`func` (namespace -> exit code) as its handler. Modules are imported only when the CLI starts,
so a subcommand's heavy dependencies never load for another.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from host import __version__

SUBCOMMANDS = (
    "host.demo",
    "host.hydraulics.cli",
    "host.estimation.cli",
    "host.serve",
    "host.export_cli",
    "host.user_cli",
    "sim.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evenheat",
        description="Balance a secondary heating network: host service and tools.",
    )
    parser.add_argument("--version", action="version", version=f"evenheat {__version__}")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("uvicorn.access",):  # its INFO is a line per request
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    return int(args.func(args))
