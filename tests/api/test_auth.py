"""Authentication, roles, users and the audit trail of the API."""

from __future__ import annotations

import base64

import host.api.users
from host.api.users import Users, hash_password, verify_password
from tests.api.conftest import ADMIN, OPERATOR, VIEWER, audit_rows


def test_the_production_hash_is_salted_scrypt_and_verifies(monkeypatch):
    monkeypatch.setattr(host.api.users, "SCRYPT_N", 2**14)  # the real cost (conftest lowers it)
    a, b = hash_password("correct horse"), hash_password("correct horse")
    assert a.startswith("scrypt$16384$8$1$") and a != b  # a fresh salt each time
    assert verify_password("correct horse", a)
    assert not verify_password("correct horsf", a)
    assert not verify_password("x", "md5$deadbeef") and not verify_password("x", "garbage")


def test_bootstrap_creates_the_admin_once(service, client):
    users = Users(service.storage)
    assert users.get(ADMIN[0]).role == "admin"
    assert users.bootstrap(ADMIN[0], "/nonexistent") is False  # users exist: nothing to do
    assert ("service:bootstrap", "add_user", ADMIN[0], "done") in audit_rows(service)
    assert "admin-password" not in str(service.storage.fetch_all("SELECT * FROM users"))


def test_without_credentials_401_with_a_basic_challenge(client, service):
    r = client.get("/api/v1/stations")
    assert r.status_code == 401
    assert r.json() == {
        "error": "unauthenticated",
        "detail": "HTTP Basic credentials are required",
    }
    assert r.headers["www-authenticate"].startswith("Basic")
    r = client.get("/api/v1/stations", auth=(ADMIN[0], "wrong"))
    assert (r.status_code, r.json()["error"]) == (401, "bad-credentials")
    r = client.get("/api/v1/stations", auth=("nobody", "whatever1"))
    assert r.status_code == 401
    r = client.get("/api/v1/stations", headers={"Authorization": "Bearer abc"})
    assert r.status_code == 401
    assert client.get("/api/v1/health").json()["ok"] is True  # the one open route


def test_refused_writes_are_audited_with_who_tried(client, service):
    body = {"id": "st9", "site": "x"}
    assert client.post("/api/v1/stations", json=body).status_code == 401
    assert client.post("/api/v1/stations", json=body, auth=("olga", "bad")).status_code == 401
    r = client.post("/api/v1/stations", json=body, auth=OPERATOR)
    assert (r.status_code, r.json()["error"]) == (403, "forbidden")
    r = client.post("/api/v1/stations", json=body, auth=VIEWER)
    assert r.status_code == 403
    rows = audit_rows(service, "add_station")[-4:]
    assert rows == [
        ("anonymous", "add_station", "/api/v1/stations", "refused: unauthenticated"),
        ("unauthenticated:olga", "add_station", "/api/v1/stations", "refused: bad credentials"),
        ("olga", "add_station", "/api/v1/stations", "refused: forbidden (admin required)"),
        ("victor", "add_station", "/api/v1/stations", "refused: forbidden (admin required)"),
    ]
    # Reads are not audited.
    n = len(audit_rows(service))
    client.get("/api/v1/stations", auth=VIEWER)
    client.get("/api/v1/stations")
    assert len(audit_rows(service)) == n


def test_invalid_json_is_checked_for_rights_first(client, service):
    bad = {"content": b"{not json", "headers": {"Content-Type": "application/json"}}
    assert client.post("/api/v1/stations", **bad).status_code == 401
    r = client.post("/api/v1/stations", auth=VIEWER, **bad)
    assert r.status_code == 403
    r = client.post("/api/v1/stations", auth=ADMIN, **bad)
    assert r.status_code == 422 and r.json()["error"] == "invalid"
    assert audit_rows(service, "add_station")[-1] == (
        "admin",
        "add_station",
        "/api/v1/stations",
        "refused: invalid input",
    )


def test_roles_are_ordered_viewer_operator_admin(client):
    assert client.get("/api/v1/me", auth=VIEWER).json()["role"] == "viewer"
    assert client.get("/api/v1/users", auth=VIEWER).status_code == 403
    assert client.get("/api/v1/users", auth=OPERATOR).status_code == 403
    assert client.get("/api/v1/audit", auth=OPERATOR).status_code == 403
    names = [u["name"] for u in client.get("/api/v1/users", auth=ADMIN).json()]
    assert {"admin", "olga", "victor"} <= set(names) and names == sorted(names)


def test_users_are_added_changed_and_disabled(client, service):
    r = client.post(
        "/api/v1/users",
        json={"name": "ann", "role": "operator", "password": "a-long-one"},
        auth=ADMIN,
    )
    assert r.status_code == 201 and r.json()["role"] == "operator"
    assert "password" not in r.json() and "password_hash" not in r.json()
    assert client.get("/api/v1/me", auth=("ann", "a-long-one")).json()["name"] == "ann"
    r = client.post(
        "/api/v1/users",
        json={"name": "ann", "role": "viewer", "password": "a-long-one"},
        auth=ADMIN,
    )
    assert (r.status_code, r.json()["error"]) == (409, "duplicate")
    r = client.post(
        "/api/v1/users", json={"name": "bob", "role": "viewer", "password": "short"}, auth=ADMIN
    )
    assert r.status_code == 422
    r = client.post(
        "/api/v1/users", json={"name": "bob", "role": "root", "password": "a-long-one"}, auth=ADMIN
    )
    assert r.status_code == 422
    r = client.patch("/api/v1/users/ann", json={"role": "viewer"}, auth=ADMIN)
    assert r.json()["role"] == "viewer"
    r = client.patch("/api/v1/users/ann", json={"password": "another-one"}, auth=ADMIN)
    assert r.status_code == 200
    assert client.get("/api/v1/me", auth=("ann", "a-long-one")).status_code == 401
    assert client.get("/api/v1/me", auth=("ann", "another-one")).status_code == 200
    r = client.patch("/api/v1/users/ann", json={"disabled": True}, auth=ADMIN)
    assert r.json()["disabled"] is True
    assert client.get("/api/v1/me", auth=("ann", "another-one")).status_code == 401
    assert (
        client.patch("/api/v1/users/zed", json={"role": "viewer"}, auth=ADMIN).status_code == 404
    )
    r = client.patch("/api/v1/users/admin", json={"role": "operator"}, auth=ADMIN)
    assert (r.status_code, r.json()["error"]) == (409, "last-admin")
    rows = [r for r in audit_rows(service) if r[1] in ("add_user", "update_user")]
    assert ("admin", "add_user", "ann", "done") in rows
    assert ("admin", "update_user", "ann", "done") in rows
    assert ("admin", "add_user", "ann", "refused: duplicate: user 'ann' exists already") in rows
    assert (
        "admin",
        "update_user",
        "admin",
        "refused: last-admin: 'admin' is the last enabled admin",
    ) in rows
    assert not any(
        "a-long-one" in str(r) or "another-one" in str(r)
        for r in service.storage.fetch_all("SELECT detail FROM audit")
    )


def test_everyone_may_change_their_own_password(client, service):
    Users(service.storage).add("vera", "viewer", "old-viewer-pw", who="test")
    r = client.put(
        "/api/v1/me/password", json={"password": "new-viewer-pw"}, auth=("vera", "old-viewer-pw")
    )
    assert r.status_code == 200
    assert client.get("/api/v1/me", auth=("vera", "new-viewer-pw")).status_code == 200
    r = client.put("/api/v1/me/password", json={"password": "x"}, auth=("vera", "new-viewer-pw"))
    assert r.status_code == 422
    assert ("vera", "update_user", "vera", "done") in audit_rows(service)


def test_the_audit_trail_is_for_admins_and_filters(client, service):
    client.post("/api/v1/stations", json={"id": "x"}, auth=OPERATOR)
    rows = client.get("/api/v1/audit", params={"who": "olga"}, auth=ADMIN).json()
    assert rows and all(r["who"] == "olga" for r in rows)
    assert rows[0]["result"].startswith("refused: forbidden")
    rows = client.get(
        "/api/v1/audit", params={"action": "add_user", "limit": 1}, auth=ADMIN
    ).json()
    assert len(rows) == 1 and rows[0]["action"] == "add_user"
    assert client.get("/api/v1/audit", params={"limit": 0}, auth=ADMIN).status_code == 422


def test_basic_header_with_a_colon_in_the_password(client, service):
    Users(service.storage).add("carl", "viewer", "pa:ss:word", who="test")
    token = base64.b64encode(b"carl:pa:ss:word").decode()
    r = client.get("/api/v1/me", headers={"Authorization": f"Basic {token}"})
    assert r.status_code == 200 and r.json()["name"] == "carl"
