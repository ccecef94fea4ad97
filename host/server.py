"""The host process, composed: the service (host/service) and, when `[api] port` is set, its
REST API (host/api), started and stopped together. `evenheat serve` and the demo run this; the
service itself knows nothing of HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from host.service.config import Config
from host.service.runtime import Service


class HostServer:
    """The service plus its API server. ``start()`` starts both or neither."""

    def __init__(self, cfg: Config, clock: Callable[[], float] = time.time) -> None:
        self.service = Service(cfg, clock)
        self.api: object | None = None  # host.api.ApiServer while serving

    def start(self) -> None:
        self.service.start()
        if self.service.cfg.api.port:
            from host.api import ApiServer

            try:
                api = ApiServer(self.service)
                api.start()
            except BaseException:
                self.service.stop()
                raise
            self.api = api

    def stop(self) -> None:
        """The API first (no request sees a closed database), then the service."""
        if self.api is not None:
            self.api.stop()  # type: ignore[attr-defined]
            self.api = None
        self.service.stop()
