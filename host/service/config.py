"""The service configuration file of `evenheat serve` (TOML): broker, database, sites, alarms.

Every key has a default except `service.sites`; unknown keys are refused with their name, so a
typo never silently falls back to a default. See docs/operator-guide.md for an annotated file.

Usage::

    cfg = load_config(Path("/etc/evenheat/host.toml"))
    cfg.broker.host, cfg.database.url, cfg.service.sites
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from host.errors import EvenheatError


class ConfigError(EvenheatError, ValueError):
    """A configuration file that cannot be used; the message names the key."""

    reason = "bad-config"


@dataclass(frozen=True)
class BrokerConfig:
    """How the host reaches the MQTT broker. TLS is on when `tls_ca_file` is set."""

    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "evenheat-host"  # fixed: the broker keys the persistent session by it
    username: str = ""
    password_file: str = ""  # the password is read from this file, never from the config
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 86400  # how long the broker queues for a stopped host
    receive_maximum: int = 1000  # QoS 1 messages in flight to the host before it must ack

    def password(self) -> str | None:
        if not self.password_file:
            return None
        return Path(self.password_file).read_text(encoding="utf-8").strip()


@dataclass(frozen=True)
class DatabaseConfig:
    """`sqlite:///path/to/file.db` (embedded, default) or `postgresql://...` (large sites)."""

    url: str = "sqlite:///evenheat.db"
    sqlite_synchronous: str = "FULL"  # FULL survives power loss; NORMAL only a process crash


@dataclass(frozen=True)
class ServiceConfig:
    """What the service manages and how it paces itself."""

    sites: tuple[str, ...] = ()
    network_files: tuple[
        str, ...
    ] = ()  # registry import at start (see host/assets/network_import)
    accept_unknown_units: bool = False  # True registers a unit on its first valid message
    offline_timeout_s: float = 300.0  # silence after which a board counts as offline
    tick_s: float = 1.0  # timeout checks run at least this often
    batch_max: int = 1000  # messages per storage transaction
    max_clock_ahead_s: int = 86400  # records stamped further in the future are refused
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0  # 0: no HTTP metrics endpoint
    log_summary_s: float = 60.0


@dataclass(frozen=True)
class AlarmConfig:
    """Default return-temperature thresholds; per-point overrides live in the database."""

    household_t_low_c: float = 20.0
    household_t_high_c: float = 50.0
    household_t_very_high_c: float = 60.0
    entrance_t_low_c: float = 25.0
    entrance_t_high_c: float = 55.0
    entrance_t_very_high_c: float = 65.0
    hysteresis_c: float = 1.0
    min_duration_s: int = 600


@dataclass(frozen=True)
class StrategyConfig:
    """The host's balancing loop (host/control/balancer.py). Per-station settings (hysteresis, rate
    limit, target range, ...) live in the database and are changed through the API."""

    enabled: bool = True
    period_s: float = 900.0  # default control period; a station's own setting overrides it


@dataclass(frozen=True)
class ApiConfig:
    """The REST API (host/api). Port 0 disables it."""

    host: str = "127.0.0.1"
    port: int = 0
    # First start with no users: an admin of this name is created with the password in this
    # file (never in the config itself). Without it, create users with `evenheat user add`.
    admin_user: str = "admin"
    admin_password_file: str = ""


@dataclass(frozen=True)
class Config:
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    alarms: AlarmConfig = field(default_factory=AlarmConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    api: ApiConfig = field(default_factory=ApiConfig)


def _section(cls: type, data: Any, name: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"[{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"unknown key {name}.{key}")
        default = getattr(cls(), key)
        if isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{name}.{key} must be a list of strings")
            value = tuple(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{name}.{key} must be true or false, not {value!r}")
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{name}.{key} must be a number, not {value!r}")
            value = float(value)
        elif not isinstance(value, type(default)) or isinstance(value, bool):
            raise ConfigError(f"{name}.{key} must be {type(default).__name__}, not {value!r}")
        values[key] = value
    return cls(**values)


def parse_config(data: dict[str, Any]) -> Config:
    """Build a Config from parsed TOML; raise ConfigError naming the bad key."""
    sections = {"broker": BrokerConfig, "database": DatabaseConfig}
    sections |= {"service": ServiceConfig, "alarms": AlarmConfig}
    sections |= {"strategy": StrategyConfig, "api": ApiConfig}
    for key in data:
        if key not in sections:
            raise ConfigError(f"unknown section [{key}]")
    parts = {name: _section(cls, data.get(name, {}), name) for name, cls in sections.items()}
    cfg = Config(**parts)
    if not cfg.service.sites:
        raise ConfigError("service.sites must name at least one site")
    from shared import protocol as p

    for site in cfg.service.sites:
        try:
            p.topic(site, "x", p.TELE)
        except p.ProtocolError as exc:
            raise ConfigError(f"service.sites: {site!r}: {exc.detail}") from None
    if cfg.strategy.period_s <= 0:
        raise ConfigError("strategy.period_s must be positive")
    if cfg.database.sqlite_synchronous not in ("FULL", "NORMAL", "EXTRA"):
        raise ConfigError("database.sqlite_synchronous must be FULL, NORMAL or EXTRA")
    return cfg


def load_config(path: Path) -> Config:
    """Read and check a TOML configuration file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return parse_config(data)
