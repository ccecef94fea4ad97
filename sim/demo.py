"""`evenheat run` (what `make run` starts): the whole system on one machine, on a fast clock.

Starts a Mosquitto of its own, the simulator's typical station (one virtual board per
entrance, the real board program behind its real MQTT link), and the host service with its
REST API, all on the simulated clock (`--speedup` simulated seconds per wall second). The
host sees only what crosses the broker: it stores telemetry, balances the station every
control period and pushes targets, which the boards apply and acknowledge.

Every simulated hour one line is printed: the spread of the entrances' return temperatures
and the share of flats below 18 degC (simulator truth, which the host never sees), and what
the host did. The API (http://127.0.0.1:8000/docs) shows the same from the host's side:
GET /api/v1/stations/{id}/summary, the decisions, the targets and their acks.

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

from sim.mosquitto import BrokerStartError, Mosquitto, check_port_free

log = logging.getLogger(__name__)

SITE = "demo"
STATION_UNIT = "station"  # the station gateway's unit (sim.virtual_station)


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
        "--speedup",
        type=float,
        default=400.0,
        help="simulated seconds per wall second (default 400: a day in about 4 minutes)",
    )
    parser.add_argument("--workdir", type=Path, default=Path(".evenheat-demo"))
    parser.add_argument(
        "--exit",
        action="store_true",
        help="exit when the days are done (default: keep the host and API up until Ctrl-C)",
    )
    parser.set_defaults(func=run_command)


def _register_estate(service: Any, scn: Any) -> str:
    """Put the scenario's station into the host's registry, as an installer's import would:
    each room sensor is a device of kind "room_sensor" at its board's point (the sensor id),
    linked to its household, and that household says it has one."""
    net = scn.estate.network
    reg = service.registry
    reg.add_station(net.station.id, SITE, f"{scn.name} (simulated)", who="demo")
    reg.add_station_unit(net.station.id, STATION_UNIT, who="demo")
    floors: dict[str, int] = {}
    for e in net.entrances:
        floors[e.building] = max(floors.get(e.building, 1), int(e.floors or 1))
    for building, n in floors.items():
        reg.add_building(building, net.station.id, floors=n, who="demo")
    for e in net.entrances:
        reg.add_entrance(e.id, e.building, SITE, e.id, who="demo")
    sensors = scn.room_sensors()  # household index -> (unit, sensor id)
    for i, h in enumerate(net.households):
        point = h.id.removeprefix(h.entrance) if scn.boards.household_valves else None
        reg.add_household(
            h.id,
            h.entrance,
            who="demo",
            floor=int(h.floor) if h.floor is not None else None,
            household_type=scn.estate.household_type[i],
            point=point,
            has_room_sensor=i in sensors,
        )
    for i, (unit, sensor) in sorted(sensors.items()):
        h = net.households[i]
        reg.add_device(
            f"{unit}-{sensor}",
            SITE,
            unit,
            sensor,
            "room_sensor",
            household_id=h.id,
            who="demo",
        )
    return net.station.id


def truth(t_return_c: np.ndarray, flow_m3h: np.ndarray, t_room_c: np.ndarray) -> dict:
    """The simulator's truth at one instant (never shown to the host): entrance returns,
    their largest deviation from the flow-weighted mean (K), and the rooms."""
    from sim.metrics import T_COLD_C, return_deviation_c

    return {
        "t_return_min_c": float(np.min(t_return_c)),
        "t_return_max_c": float(np.max(t_return_c)),
        "spread_k": return_deviation_c(t_return_c, flow_m3h),
        "cold_share": float(np.mean(t_room_c < T_COLD_C)),
        "room_min_c": float(np.min(t_room_c)),
        "room_mean_c": float(np.mean(t_room_c)),
    }


def truth_line(run: Any) -> dict[str, float]:
    out = run.out
    line = truth(out.t_return_entrance_c, out.flows.entrance_flow_m3h, out.t_room_c)
    line["pump_speed"] = float(out.pump_speed)
    line["t_supply_c"] = float(out.t_supply_station_c)
    return line


def _host_line(service: Any) -> str:
    issued, applied = service.storage.desired_totals()
    online = sum(1 for b in service.boards.state.values() if b.get("status") == "online")
    return (
        f"host: boards online {online}/{len(service.boards.state)},"
        f" targets issued {issued}, applied {applied}"
    )


class _ServicePeer:
    """The real host service as the event-driven clock's host (sim.broker_run.HostPeer)."""

    def __init__(self, service: Any) -> None:
        self.service = service

    def processed(self) -> int:
        return int(self.service.ingest.metrics.processed)

    def published(self) -> Any:
        return self.service.last_published

    def tick(self, now_s: float, timeout_s: float) -> None:
        from sim.broker_run import wait_for

        n = self.processed()
        woken = [0.0]

        def done() -> bool:
            at_s, processed = self.service.last_tick
            if at_s >= now_s and processed >= n:
                return True
            if time.monotonic() - woken[0] > 0.5:  # once, and again if a tick was lost
                woken[0] = time.monotonic()
                self.service.wake()
            return False

        wait_for("the host service's tick", done, timeout_s)


class Demo:
    """The demo's parts, startable and stoppable in-process (the bench and tests do).

    ``speedup`` paces the simulated clock for people watching (at most that many simulated
    seconds per wall second); ``None`` runs as fast as the events allow. Either way each step
    waits for the host to catch up (sim.broker_run.BrokerPlant.settle), so what happens does
    not depend on how fast the machine is.
    """

    def __init__(
        self,
        scenario: str = "typical",
        days: float = 2.0,
        speedup: float | None = 400.0,
        mqtt_port: int = 1883,
        api_port: int | None = 8000,
        workdir: Path = Path(".evenheat-demo"),
        strategy: bool = True,
    ):
        from sim.scenario import ScenarioError, load_scenario

        if (speedup is not None and speedup <= 0) or days <= 0:
            raise ScenarioError("--days and --speedup must be positive")
        self.scn = load_scenario(scenario, days=days)
        self.speedup = speedup
        self.mqtt_port = mqtt_port
        self.api_port = api_port
        self.work = workdir
        self.strategy = strategy
        self.password_file = workdir / "admin-password"
        self.broker = Mosquitto("127.0.0.1", mqtt_port, workdir / "broker")
        self.run: Any = None
        self.server: Any = None
        self.service: Any = None
        self.peer: Any = None
        self.station = ""

    def start(self) -> None:
        """Start everything, or nothing: a part that fails stops those already started."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        from host.server import HostServer
        from host.service.config import (
            AlarmConfig,
            ApiConfig,
            BrokerConfig,
            Config,
            DatabaseConfig,
            ServiceConfig,
            StrategyConfig,
        )
        from sim.board_mqtt.paho_umqtt import MQTTClient
        from sim.broker_run import BrokerPlant

        if self.api_port is not None:
            check_port_free("127.0.0.1", self.api_port)
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        self.password_file.write_text(secrets.token_urlsafe(12) + "\n")
        self.password_file.chmod(0o600)
        self.broker.start()
        self.run = BrokerPlant(
            replace(self.scn, control="none"),
            "127.0.0.1",
            self.mqtt_port,
            MQTTClient,
            str(self.work / "boards"),
            site=SITE,
            speedup=self.speedup,
            station_unit=STATION_UNIT,
        )
        cfg = Config(
            broker=BrokerConfig(port=self.mqtt_port, client_id="evenheat-demo-host"),
            database=DatabaseConfig(
                url=f"sqlite:///{self.work / 'evenheat.db'}", sqlite_synchronous="NORMAL"
            ),
            service=ServiceConfig(
                sites=(SITE,), offline_timeout_s=1800.0, tick_s=1.0, log_summary_s=0.0
            ),
            # household-type offsets run exposed flats' returns up to ~55 degC on purpose
            alarms=AlarmConfig(household_t_high_c=57.0, household_t_very_high_c=62.0),
            strategy=StrategyConfig(period_s=900.0, enabled=self.strategy),
            api=ApiConfig(port=self.api_port or 0, admin_password_file=str(self.password_file)),
        )
        self.server = HostServer(cfg, clock=self.run.clock)
        self.service = self.server.service
        self.peer = _ServicePeer(self.service)
        self.station = _register_estate(self.service, self.scn)
        if self.strategy:  # the station's pump and supply follow the host too
            self.service.station_control.set_settings(
                self.station, {"unit": STATION_UNIT, "pump": "on", "weather": "on"}, "demo"
            )
        self.server.start()  # with its API when api_port is set
        if not self.service.link.connected.wait(30.0):  # boards publish from the first step
            raise BrokerStartError(f"the host could not subscribe on port {self.mqtt_port}")

    def simulate(self, stop: threading.Event, on_hour: Any = None) -> list[dict[str, Any]]:
        """Run the scenario's days (or until `stop`); log and return one line per hour,
        handing each line to `on_hour` too when it is given (the tests act on the hour)."""
        scn = self.scn
        n_steps = int(round(scn.days * 86400.0 / scn.dt_s))
        steps_per_hour = max(1, int(round(3600.0 / scn.dt_s)))
        wall0 = time.perf_counter()
        hours = []
        for k in range(n_steps):
            if stop.is_set():
                break
            self.run.step()
            self.run.settle(self.peer)
            if k == 0 or (k + 1) % steps_per_hour == 0:
                t = truth_line(self.run)
                t["hour"] = self.run.now_s / 3600.0
                t["wall_s"] = time.perf_counter() - wall0
                hours.append(t)
                h = t["hour"]
                log.info(
                    "day %d %02d:00 | returns %.1f-%.1f degC, within +-%.1f K | flats below 18"
                    " degC %.1f %%, coldest %.1f degC, mean %.1f degC | station: pump %.2f,"
                    " supply %.1f degC | %s | wall %.0f s",
                    int(h // 24) + 1,
                    int(round(h % 24)),
                    t["t_return_min_c"],
                    t["t_return_max_c"],
                    t["spread_k"],
                    100.0 * t["cold_share"],
                    t["room_min_c"],
                    t["room_mean_c"],
                    t["pump_speed"],
                    t["t_supply_c"],
                    _host_line(self.service),
                    t["wall_s"],
                )
                if on_hour is not None:
                    on_hour(t)
        return hours

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()  # first: the boards going away is not news to report
        if self.run is not None:
            self.run.close()
        self.broker.stop()


def run_command(args: argparse.Namespace) -> int:
    from sim.scenario import ScenarioError

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        demo = Demo(args.scenario, args.days, args.speedup, args.port, args.api_port, args.workdir)
        demo.start()
    except (ScenarioError, BrokerStartError) as exc:
        log.error("%s", exc)
        return 1
    try:
        net = demo.scn.estate.network
        log.info(
            "demo: %d entrances, %d flats, %g simulated days at %gx. API: "
            "http://127.0.0.1:%d/docs (user admin, password in %s). Summary: GET "
            "/api/v1/stations/%s/summary",
            len(net.entrances),
            len(net.households),
            args.days,
            args.speedup,
            args.api_port,
            demo.password_file,
            demo.station,
        )
        demo.simulate(stop)
        if not stop.is_set():
            log.info("simulation finished after %.2f days", demo.run.now_s / 86400.0)
            if not args.exit:
                log.info("the host and the API stay up: Ctrl-C to stop")
                stop.wait()
    finally:
        log.info("stopping")
        demo.stop()
    return 0
