"""`evenheat serve`: run the host service from a configuration file until SIGINT/SIGTERM.

See docs/operator-guide.md for the configuration file and what the log and metrics say.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from host.service.config import ConfigError, load_config

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the host service: ingest, storage, board state, desired state, alarms",
        description="Connect to the configured broker and database and serve the sites.",
    )
    parser.add_argument("--config", type=Path, required=True, help="service TOML file")
    parser.set_defaults(func=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    from host.server import HostServer
    from host.storage import StorageError

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        cfg = load_config(args.config)
        server = HostServer(cfg)
    except (ConfigError, StorageError) as exc:
        log.error("%s", exc)
        return 1
    try:
        server.start()
    except OSError as exc:  # the API's port is taken
        log.error("cannot start: %s", exc)
        return 1
    stop.wait()
    log.info("stopping")
    server.stop()
    return 0
