"""The REST API of the host service (FastAPI; OpenAPI at /docs, reference in
docs/operator-guide.md, "REST API and exports").

`create_app(service)` builds the application for a service; `ApiServer(service)` serves it
with uvicorn in a thread (start/stop).
"""

from __future__ import annotations

from host.api._app import create_app
from host.api._core import ApiError
from host.api._server import ApiServer

__all__ = ["ApiError", "ApiServer", "create_app"]
