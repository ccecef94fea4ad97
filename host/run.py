"""`evenheat run`: the main job. For now: an embedded broker and a monitor logging arrivals.

Later issues add the simulator's station, storage and the balancing strategy to this job.
Ctrl-C (SIGINT) or SIGTERM stops everything cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from host.broker import BrokerStartError, EmbeddedBroker
from host.monitor import Monitor

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="start the host with an embedded MQTT broker and log what boards send",
        description="Start an embedded MQTT broker and log every board message that arrives.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=1883, help="MQTT port (default 1883)")
    parser.add_argument("--site", default="+", help="site to watch (default: every site)")
    parser.set_defaults(func=run_command)


async def run(host: str, port: int, site: str, stop: asyncio.Event) -> None:
    broker = EmbeddedBroker(host, port)
    await broker.start()
    monitor = Monitor(host, port, site)
    monitor.start()
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        monitor.stop()
        await broker.stop()
        log.info(
            "stopped: %d messages accepted, %d refused",
            sum(monitor.accepted.values()),
            sum(monitor.refused.values()),
        )


def run_command(args: argparse.Namespace) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(args.host, args.port, args.site, stop)

    try:
        asyncio.run(main())
    except BrokerStartError as exc:
        log.error("%s", exc)
        return 1
    return 0
