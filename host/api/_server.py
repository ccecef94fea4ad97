"""`ApiServer`: the API served by uvicorn in a thread of the service's process.

The listening socket is bound in `start()` (in the caller's thread, so a port in use fails
there with OSError); port 0 picks a free port, readable from `.port` afterwards. uvicorn's own
logging setup is disabled (`log_config=None`): its loggers ("uvicorn.error", ...) propagate to
the service's logging.

Usage::

    server = ApiServer(service)          # cfg.api.host and cfg.api.port
    server.start(); ...; server.stop()
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import TYPE_CHECKING

import uvicorn

from host.api._app import create_app

if TYPE_CHECKING:
    from fastapi import FastAPI

    from host.service.runtime import Service

log = logging.getLogger(__name__)
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


class ApiServer:
    """Serve `create_app(service)` on host:port (default: the service's [api] section)."""

    def __init__(
        self,
        service: Service,
        host: str | None = None,
        port: int | None = None,
        app: FastAPI | None = None,
    ) -> None:
        self.host = service.cfg.api.host if host is None else host
        self.port = service.cfg.api.port if port is None else port
        self.app = app if app is not None else create_app(service)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._sock = socket.create_server((self.host, self.port), family=family, backlog=128)
        self.port = int(self._sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name="evenheat-api",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the API server did not start on {self.url}")
            time.sleep(0.01)
        log.info("API on %s (OpenAPI at %s/docs)", self.url, self.url)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT_S)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._server = None
