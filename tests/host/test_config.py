"""The service configuration file: defaults, and refusals that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from host.service.config import ConfigError, load_config, parse_config


def test_a_minimal_file_gets_the_defaults(tmp_path: Path):
    path = tmp_path / "host.toml"
    path.write_text(
        '[service]\nsites = ["estate-7"]\n[broker]\nport = 8883\ntls_ca_file = "/etc/ca.pem"\n'
    )
    cfg = load_config(path)
    assert cfg.service.sites == ("estate-7",)
    assert cfg.broker.port == 8883 and cfg.broker.tls_ca_file == "/etc/ca.pem"
    assert cfg.broker.client_id == "evenheat-host" and cfg.database.url.startswith("sqlite")
    assert cfg.service.offline_timeout_s == 300.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "service.sites"),
        ({"service": {"sites": ["a b"]}}, "service.sites"),
        ({"service": {"sites": ["x"], "offline_timeout": 3}}, "service.offline_timeout"),
        ({"service": {"sites": ["x"]}, "broker": {"port": "1883"}}, "broker.port"),
        ({"service": {"sites": ["x"]}, "brokr": {}}, "[brokr]"),
        ({"service": {"sites": ["x"], "accept_unknown_units": 1}}, "accept_unknown_units"),
        ({"service": {"sites": ["x"]}, "database": {"sqlite_synchronous": "OFF"}}, "synchron"),
    ],
)
def test_bad_files_are_refused_naming_the_key(data, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(data)


def test_unreadable_file(tmp_path: Path):
    with pytest.raises(ConfigError):
        load_config(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[service\n")
    with pytest.raises(ConfigError):
        load_config(tmp_path / "bad.toml")


def test_serve_refuses_a_bad_config_with_exit_code_1(tmp_path: Path):
    from host.cli.main import main

    path = tmp_path / "host.toml"
    path.write_text('[service]\nsites = ["estate-7"]\nbogus = 1\n')
    assert main(["serve", "--config", str(path)]) == 1


def test_metrics_endpoint_serves_prometheus_text(mosquitto, tmp_path: Path):
    import urllib.request

    from host.service.runtime import Service
    from tests.brokers import free_port
    from tests.host.helpers import make_config, new_site

    port = free_port()
    site = new_site()
    cfg = make_config(mosquitto, f"sqlite:///{tmp_path}/m.db", site, metrics_port=port)
    svc = Service(cfg)
    svc.start()
    try:
        assert svc.link.connected.wait(10)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        assert "evenheat_records_stored_total 0" in text
        assert "evenheat_broker_connected 1" in text
    finally:
        svc.stop()
