"""ApiServer: the real uvicorn server in a thread, spoken to over a socket with httpx."""

from __future__ import annotations

import socket

import httpx
import pytest

from host.api import ApiServer
from tests.api.conftest import ADMIN, STATION


def test_uvicorn_serves_the_api_and_its_openapi_docs(service, site):
    server = ApiServer(service, host="127.0.0.1", port=0)
    server.start()
    try:
        assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.get("/api/v1/health").json()["ok"] is True
            r = http.get("/api/v1/stations")
            assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
            stations = http.get("/api/v1/stations", auth=ADMIN).json()
            assert [s["id"] for s in stations] == [STATION]
            r = http.post("/api/v1/stations", json={"id": "st-srv", "site": site}, auth=ADMIN)
            assert r.status_code == 201
            docs = http.get("/docs")
            assert docs.status_code == 200 and "swagger" in docs.text.lower()
            spec = http.get("/openapi.json").json()
            assert "/api/v1/stations/{station_id}/balance" in spec["paths"]
            assert spec["components"]["securitySchemes"]["HTTPBasic"]["scheme"] == "basic"
        # the port is taken while it runs
        with pytest.raises(OSError):
            ApiServer(service, host="127.0.0.1", port=server.port, app=server.app).start()
    finally:
        server.stop()
    with socket.socket() as probe:  # and free again after stop
        assert probe.connect_ex(("127.0.0.1", server.port)) != 0
    server.stop()  # a second stop is harmless
