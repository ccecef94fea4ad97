"""A private PostgreSQL cluster for tests and benchmarks, started on a free loopback port.

Never a mock: the storage tests run against the same server estates use. The server binaries
come from Debian's `postgresql` package (`make test` installs it); PostgreSQL refuses to run
as root, so the cluster runs as the `postgres` user. A missing binary fails the run.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

from tests.brokers import free_port


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries are missing: run `make test`")
    return Path(found[-1]).parent


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class PostgresCluster:
    """A private PostgreSQL server; `new_database()` gives each user a clean database."""

    def __init__(self, durable: bool = False) -> None:
        """`durable=False` (tests) turns fsync off; the benchmark runs a durable server."""
        self.bin = _pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="evenheat-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        run = subprocess.run
        out = run(
            _as_postgres(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "--no-sync",
                ]
            ),
            capture_output=True,
            text=True,
        )
        if out.returncode:
            raise RuntimeError(f"initdb failed: {out.stderr}")
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        if not durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        out = run(
            _as_postgres(
                [
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-o",
                    opts,
                    "-w",
                    "-l",
                    str(self.dir / "log"),
                    "start",
                ]
            ),
            capture_output=True,
            text=True,
        )
        if out.returncode:
            log = (self.dir / "log").read_text() if (self.dir / "log").exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {out.stderr} {log}")

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def new_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(
            _as_postgres(
                [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]
            ),
            capture_output=True,
        )
        shutil.rmtree(self.dir, ignore_errors=True)
