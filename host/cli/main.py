"""The `evenheat` command line: one entry point, one module per subcommand.

Each module named in COMMANDS exposes `register(subparsers)`, adds its parser there and sets
`func` (namespace -> exit code) as its handler. Only the module of the command being run is
imported, so a subcommand's heavy dependencies never load for another.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from host import __version__

# Command name -> (module, one-line help). Only the module of the command being run is imported,
# so `evenheat serve` never loads the simulator and no command pays for another's imports.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("sim.demo", "the demo: broker, simulated station with virtual boards, host and API"),
    "serve": ("host.cli.serve", "run the host service and its REST API"),
    "solve": ("host.cli.solve", "solve the steady state of a network file"),
    "estimate": ("host.cli.estimate", "estimate pipe friction parameters from heads and flows"),
    "export": ("host.cli.export", "export telemetry to CSV or Excel"),
    "user": ("host.cli.users", "manage REST API users"),
    "sim": ("sim.cli", "run the digital twin on a scenario and print the summary"),
}


def _command_in(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is not a global option)."""
    words = iter(argv)
    for word in words:
        if word == "--log-level":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser, with the full options of ``command`` (its module imported) and a one-line
    entry for every other command."""
    parser = argparse.ArgumentParser(
        prog="evenheat",
        description="Balance a secondary heating network: host service and tools.",
    )
    parser.add_argument("--version", action="version", version=f"evenheat {__version__}")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        if name == command:
            importlib.import_module(module).register(subparsers)
        else:
            subparsers.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_in(argv))
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
