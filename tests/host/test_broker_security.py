"""The host reaches a broker that wants TLS and a username/password (a real Mosquitto with a
self-signed CA made by openssl here), and stays out when the password is wrong."""

from __future__ import annotations

import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from host.service.runtime import Service
from shared import protocol as p
from tests.brokers import free_port, mosquitto_binary, wait_for_port
from tests.host.helpers import make_config, new_site, tele_bytes, wait_until


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


@pytest.fixture
def secure_broker(tmp_path: Path):
    """Mosquitto with one TLS listener that requires a password, and its CA file."""
    ca_key, ca, key, csr, cert = (
        tmp_path / n for n in ("ca.key", "ca.pem", "s.key", "s.csr", "s.pem")
    )
    _run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=evenheat-test-ca",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
    )
    _run(
        "openssl",
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        str(key),
        "-out",
        str(csr),
    )
    _run(
        "openssl",
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-copy_extensions",
        "copy",
        "-out",
        str(cert),
    )
    passwords = tmp_path / "passwd"
    _run("mosquitto_passwd", "-c", "-b", str(passwords), "host", "s3cret")
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    # `user root`: as root, Mosquitto would switch to its own user, who cannot read tmp_path.
    conf.write_text(
        f"user root\nlistener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\n"
        f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\nlog_dest stderr\nlog_type error\n"
    )
    with open(tmp_path / "mosquitto.log", "ab") as log_file:  # the child keeps its copy
        proc = subprocess.Popen(
            [mosquitto_binary(), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=log_file
        )
    wait_for_port("127.0.0.1", port)
    yield port, ca, tmp_path
    proc.terminate()
    proc.wait(10)


def _secure_config(port: int, ca: Path, tmp: Path, password: str, site: str):
    pw = tmp / f"pw-{password}"
    pw.write_text(password + "\n")
    broker = type("B", (), {"host": "127.0.0.1", "port": port})
    cfg = make_config(broker, f"sqlite:///{tmp}/{password}.db", site)
    return replace(
        cfg,
        broker=replace(cfg.broker, username="host", password_file=str(pw), tls_ca_file=str(ca)),
    )


def test_tls_and_credentials(secure_broker):
    port, ca, tmp = secure_broker
    site = new_site()
    good = Service(_secure_config(port, ca, tmp, "s3cret", site))
    good.storage.add_unit(site, "b1")
    good.start()
    try:
        assert good.link.connected.wait(10), "no TLS connection with the right password"
        good.link.publish(p.topic(site, "b1", p.TELE), tele_bytes(1, int(time.time())), False)
        wait_until(lambda: good.ingest.metrics.stored_records == 3, what="the records over TLS")
    finally:
        good.stop()
    bad = Service(_secure_config(port, ca, tmp, "wrong", site))
    bad.start()
    try:
        assert not bad.link.connected.wait(2), "a wrong password must not get in"
    finally:
        bad.stop()
