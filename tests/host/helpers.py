"""Helpers for the host tests: configs, a started service, message builders, polling."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from host.service.config import AlarmConfig, BrokerConfig, Config, DatabaseConfig, ServiceConfig
from shared import protocol as p

TS0 = int(time.time()) - 60  # recent: records stamped near TS0 are live


def new_site() -> str:
    """A site name of the test's own: retained messages of other tests never reach it."""
    return "s" + uuid.uuid4().hex[:10]


def make_config(broker: Any, db_url: str, site: str, **service: Any) -> Config:
    defaults: dict[str, Any] = {"tick_s": 0.2, "log_summary_s": 0.0}
    return Config(
        broker=BrokerConfig(
            host=broker.host,
            port=broker.port,
            client_id="host-" + uuid.uuid4().hex[:8],
            keepalive_s=5,
        ),
        database=DatabaseConfig(url=db_url, sqlite_synchronous="NORMAL"),
        service=ServiceConfig(sites=(site,), **(defaults | service)),
        alarms=AlarmConfig(min_duration_s=0),
    )


def with_service(cfg: Config, **service: Any) -> Config:
    return replace(cfg, service=replace(cfg.service, **service))


def tele(seq: int, ts_s: int = TS0, n_households: int = 2, t_c: float = 40.0, **extra) -> dict:
    valves = [{"id": "entrance", "t_return_c": t_c, "opening_cmd_pct": 50.0}]
    valves += [
        {"id": f"h{i}", "t_return_c": t_c - 1, "opening_cmd_pct": 40.0}
        for i in range(n_households)
    ]
    msg = {
        "v": 1,
        "ts_s": ts_s,
        "seq": seq,
        "valves": valves,
        "entrance": {"t_supply_c": 55.0, "flow_m3h": 3.2},
    }
    msg.update(extra)
    return msg


def tele_bytes(seq: int, ts_s: int = TS0, **kw: Any) -> bytes:
    return p.encode(p.TELE, tele(seq, ts_s, **kw))


def add_room_entrance(reg: Any, site: str, flats: list[tuple[str, str, str | None]]) -> None:
    """Register station st1, building bd1 and entrance e-b1 (unit b1) with one household per
    flat (valve point, household type, room sensor id or None): households hh1, hh2, ... on
    floors 1, 2, ..., sensors as devices rs1, rs2, ... linked to them."""
    reg.add_station("st1", site)
    reg.add_building("bd1", "st1", floors=len(flats))
    reg.add_entrance("e-b1", "bd1", site, "b1")
    for i, (point, kind, sensor) in enumerate(flats, start=1):
        reg.add_household(f"hh{i}", "e-b1", point=point, household_type=kind, floor=i)
        if sensor is not None:
            reg.add_device(f"rs{i}", site, "b1", sensor, "room_sensor", f"hh{i}")


def wait_until(cond: Callable[[], Any], timeout_s: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
