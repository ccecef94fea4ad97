"""`evenheat run` (what `make run` starts): the whole system on one machine, on a fast clock.

Starts a Mosquitto of its own, the simulator's typical station (one virtual board per
entrance, the real board program behind its real MQTT link), and the host service with its
REST API, all on the simulated clock (`--speedup` simulated seconds per wall second). The
host sees only what crosses the broker: it stores telemetry, balances the station every
control period and pushes targets, which the boards apply and acknowledge.

Every simulated hour one line is printed: the spread of the entrances' return temperatures
and the share of flats below 18 degC (simulator truth, which the host never sees), and what
the host did. The API (http://127.0.0.1:8000/docs) shows the same from the host's side:
GET /stations/{id}/summary, the decisions, the targets and their acks.

Everything lives in `--workdir` (default .evenheat-demo/, recreated at each start). Ctrl-C
stops cleanly. For real boards use `evenheat serve --config host.toml` instead (README).
"""

from __future__ import annotations

import argparse
import logging
import secrets
import shutil
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from host.broker import BrokerStartError, Mosquitto, check_port_free

log = logging.getLogger(__name__)

SITE = "demo"
T_COLD_C = 18.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="the demo: broker, simulated station with virtual boards, host service and API",
        description="Run the whole system on one machine on an accelerated clock: a broker, "
        "the simulator's typical station with a virtual board per entrance, the host service "
        "balancing it, and the REST API.",
    )
    parser.add_argument("--port", type=int, default=1883, help="MQTT port (default 1883)")
    parser.add_argument("--api-port", type=int, default=8000, help="API port (default 8000)")
    parser.add_argument("--scenario", default="typical", help="simulator scenario (typical)")
    parser.add_argument("--days", type=float, default=2.0, help="simulated days (default 2)")
    parser.add_argument(
        "--speedup", type=float, default=400.0,
        help="simulated seconds per wall second (default 400: a day in about 4 minutes)",
    )  # fmt: skip
    parser.add_argument("--workdir", type=Path, default=Path(".evenheat-demo"))
    parser.add_argument(
        "--exit", action="store_true", help="exit when the days are done (default: keep "
        "the host and API up until Ctrl-C)",
    )  # fmt: skip
    parser.set_defaults(func=run_command)


def _register_estate(service: Any, scn: Any) -> str:
    """Put the scenario's station into the host's registry, as an installer's import would."""
    net = scn.estate.network
    reg = service.registry
    reg.add_station(net.station.id, SITE, f"{scn.name} (simulated)", who="demo")
    floors: dict[str, int] = {}
    for e in net.entrances:
        floors[e.building] = max(floors.get(e.building, 1), int(e.floors or 1))
    for building, n in floors.items():
        reg.add_building(building, net.station.id, floors=n, who="demo")
    for e in net.entrances:
        reg.add_entrance(e.id, e.building, SITE, e.id, who="demo")
    for i, h in enumerate(net.households):
        point = h.id.removeprefix(h.entrance) if scn.boards.household_valves else None
        reg.add_household(
            h.id, h.entrance, who="demo", floor=int(h.floor) if h.floor is not None else None,
            household_type=scn.estate.household_type[i], point=point,
        )  # fmt: skip
    return net.station.id


def truth_line(run: Any) -> dict[str, float]:
    """The simulator's truth now: entrance returns and rooms (never shown to the host)."""
    out = run.out
    t = out.t_return_entrance_c
    g = out.flows.entrance_flow_m3h
    mean = float(np.sum(t * g) / np.sum(g)) if np.sum(g) > 0 else float(np.mean(t))
    return {
        "t_return_min_c": float(np.min(t)),
        "t_return_max_c": float(np.max(t)),
        "spread_k": float(np.max(np.abs(t - mean))),
        "cold_share": float(np.mean(out.t_room_c < T_COLD_C)),
        "room_min_c": float(np.min(out.t_room_c)),
        "room_mean_c": float(np.mean(out.t_room_c)),
    }


def _host_line(service: Any) -> str:
    applied = service.storage.fetch_one(
        "SELECT COUNT(*), SUM(CASE WHEN status = 'applied' THEN 1 ELSE 0 END) FROM desired"
    )
    online = sum(1 for b in service.boards.state.values() if b.get("status") == "online")
    return (
        f"host: boards online {online}/{len(service.boards.state)},"
        f" targets issued {applied[0] if applied else 0}, applied {applied[1] or 0}"
    )


def run_command(args: argparse.Namespace) -> int:
    from host.config import (
        ApiConfig,
        BrokerConfig,
        Config,
        DatabaseConfig,
        ServiceConfig,
        StrategyConfig,
    )
    from host.service import Service
    from sim.board_mqtt.paho_umqtt import MQTTClient
    from sim.broker_run import BrokerPlant
    from sim.runner import TYPE_OFFSET_C
    from sim.scenario import ScenarioError, load_scenario

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        scn = load_scenario(args.scenario, days=args.days)
        if args.speedup <= 0 or args.days <= 0:
            raise ScenarioError("--days and --speedup must be positive")
        check_port_free("127.0.0.1", args.api_port)
    except (ScenarioError, BrokerStartError) as exc:
        log.error("%s", exc)
        return 1
    work: Path = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    password_file = work / "admin-password"
    password_file.write_text(secrets.token_urlsafe(12) + "\n")
    password_file.chmod(0o600)
    broker = Mosquitto("127.0.0.1", args.port, work / "broker")
    try:
        broker.start()
    except BrokerStartError as exc:
        log.error("%s", exc)
        return 1
    run = service = api = None
    try:
        run = BrokerPlant(replace(scn, control="none"), "127.0.0.1", args.port, MQTTClient,
                          str(work / "boards"), site=SITE, speedup=args.speedup)
        cfg = Config(
            broker=BrokerConfig(port=args.port, client_id="evenheat-demo-host"),
            database=DatabaseConfig(url=f"sqlite:///{work / 'evenheat.db'}",
                                    sqlite_synchronous="NORMAL"),
            service=ServiceConfig(sites=(SITE,), offline_timeout_s=1800.0, tick_s=1.0,
                                  log_summary_s=0.0),
            strategy=StrategyConfig(period_s=1800.0),
            api=ApiConfig(port=args.api_port, admin_password_file=str(password_file)),
        )  # fmt: skip
        service = Service(cfg, clock=run.clock)
        station = _register_estate(service, scn)
        service.balancer.set_settings(
            station, {"household_type_offsets": dict(TYPE_OFFSET_C)}, who="demo"
        )
        service.start()
        api = _start_api(service, args.api_port)
        log.info(
            "demo: %d entrances, %d flats, %.1f simulated days at %gx. API: "
            "http://127.0.0.1:%d/docs (user admin, password in %s). Summary: GET "
            "/stations/%s/summary",
            len(scn.estate.network.entrances), len(scn.estate.network.households), args.days,
            args.speedup, args.api_port, password_file, station,
        )  # fmt: skip
        _simulate(run, service, scn, stop)
        if not stop.is_set():
            log.info("simulation finished after %.1f days", run.now_s / 86400.0)
            if not args.exit:
                log.info("the host and the API stay up: Ctrl-C to stop")
                stop.wait()
    finally:
        log.info("stopping")
        if api is not None:
            api.stop()
        if service is not None:
            service.stop()  # first: the boards going away is not news to report
        if run is not None:
            run.close()
        broker.stop()
    return 0


def _start_api(service: Any, port: int) -> Any:
    from host.api import ApiServer

    api = ApiServer(service, port=port)
    api.start()
    return api


def _simulate(run: Any, service: Any, scn: Any, stop: threading.Event) -> None:
    n_steps = int(round(scn.days * 86400.0 / scn.dt_s))
    steps_per_hour = max(1, int(round(3600.0 / scn.dt_s)))
    wall0 = time.perf_counter()
    for k in range(n_steps):
        if stop.is_set():
            return
        run.step()
        if k == 0 or (k + 1) % steps_per_hour == 0:
            t = truth_line(run)
            hours = run.now_s / 3600.0
            log.info(
                "day %d %02d:00 | returns %.1f-%.1f degC, within +-%.1f K | flats below 18 degC"
                " %.1f %%, coldest %.1f degC, mean %.1f degC | %s | wall %.0f s",
                int(hours // 24) + 1, int(hours % 24), t["t_return_min_c"],
                t["t_return_max_c"], t["spread_k"], 100.0 * t["cold_share"], t["room_min_c"],
                t["room_mean_c"], _host_line(service), time.perf_counter() - wall0,
            )  # fmt: skip
