"""Registry routes: read, create, update and delete stations, buildings, entrances,
households, devices; refusals with their status and audit rows."""

from __future__ import annotations

from tests.api.conftest import ADMIN, OPERATOR, STATION, VIEWER, audit_rows


def test_the_registry_reads_as_a_tree(client, site):
    assert client.get("/api/v1/registry", auth=VIEWER).json()["entrances"] >= 2
    stations = client.get("/api/v1/stations", params={"site": site}, auth=VIEWER).json()
    assert stations == [{"id": STATION, "site": site, "name": "Station 1"}]
    st = client.get(f"/api/v1/stations/{STATION}", auth=VIEWER).json()
    assert [b["id"] for b in st["buildings"]] == ["bl1"]
    assert (
        client.get("/api/v1/buildings", params={"station_id": STATION}, auth=VIEWER).json()[0][
            "floors"
        ]
        == 6
    )
    bl = client.get("/api/v1/buildings/bl1", auth=VIEWER).json()
    assert [e["unit"] for e in bl["entrances"]] == ["u1", "u2"]
    ents = client.get("/api/v1/entrances", params={"building_id": "bl1"}, auth=VIEWER).json()
    assert [e["id"] for e in ents] == ["e1", "e2"]
    e1 = client.get("/api/v1/entrances/e1", auth=VIEWER).json()
    assert [h["point"] for h in e1["households"]] == ["h0", "h1"]
    assert e1["devices"] == []
    hh = client.get("/api/v1/households", params={"entrance_id": "e1"}, auth=VIEWER).json()
    assert hh[0] == {
        "id": "hh1",
        "entrance_id": "e1",
        "floor": 6,
        "position": None,
        "household_type": "top",
        "heated_area_m2": None,
        "has_room_sensor": False,
        "point": "h0",
    }
    assert client.get("/api/v1/households/hh2", auth=VIEWER).json()["floor"] == 1


def test_unknown_objects_are_404(client):
    for path in ("stations/zz", "buildings/zz", "entrances/zz", "households/zz", "devices/zz"):
        r = client.get(f"/api/v1/{path}", auth=VIEWER)
        assert (r.status_code, r.json()["error"]) == (404, "missing"), path
    r = client.get("/api/v1/no-such-route", auth=VIEWER)
    assert (r.status_code, r.json()["error"]) == (404, "not-found")
    r = client.delete("/api/v1/stations", auth=ADMIN)
    assert (r.status_code, r.json()["error"]) == (405, "method-not-allowed")


def test_admins_create_every_kind_and_each_is_audited(client, service, site):
    def post(path, body):
        r = client.post(f"/api/v1/{path}", json=body, auth=ADMIN)
        assert r.status_code == 201, r.text
        return r.json()

    assert post("stations", {"id": "st2", "site": site}) == {
        "id": "st2",
        "site": site,
        "name": None,
    }
    assert post("buildings", {"id": "bl2", "station_id": "st2", "floors": 3})["floors"] == 3
    assert (
        post("entrances", {"id": "e3", "building_id": "bl2", "site": site, "unit": "u3"})["unit"]
        == "u3"
    )
    assert service.storage.unit_id(site, "u3") is not None  # its unit is registered
    hh = post(
        "households",
        {
            "id": "hh3",
            "entrance_id": "e3",
            "floor": 3,
            "heated_area_m2": 80.5,
            "has_room_sensor": True,
            "point": "h0",
        },
    )
    assert hh["has_room_sensor"] is True and hh["heated_area_m2"] == 80.5
    dev = post(
        "devices",
        {
            "id": "d3",
            "site": site,
            "unit": "u3",
            "point": "h0",
            "kind": "household_valve",
            "household_id": "hh3",
        },
    )
    assert dev["entrance_id"] == "e3"
    assert client.get("/api/v1/devices", params={"unit": "u3"}, auth=VIEWER).json() == [dev]
    assert client.get("/api/v1/devices/d3", auth=VIEWER).json() == dev
    done = [(r[1], r[2]) for r in audit_rows(service) if r[0] == "admin" and r[3] == "done"]
    for pair in (
        ("add_station", "st2"),
        ("add_building", "bl2"),
        ("add_entrance", "e3"),
        ("add_household", "hh3"),
        ("add_device", "d3"),
    ):
        assert pair in done


def test_refused_edits_carry_the_registry_reason(client, service, site):
    cases = [
        ("stations", {"id": STATION, "site": site}, 409, "duplicate"),
        ("stations", {"id": "st-x", "site": "bad site!"}, 422, "value"),
        ("buildings", {"id": "bl-x", "station_id": "nope"}, 404, "missing"),
        ("buildings", {"id": "bl-x", "station_id": STATION, "floors": 0}, 422, "range"),
        (
            "entrances",
            {"id": "e-x", "building_id": "bl1", "site": site, "unit": "u1"},
            409,
            "duplicate",
        ),
        ("households", {"id": "hh-x", "entrance_id": "e1", "floor": 9}, 409, "inconsistent"),
        ("households", {"id": "hh-x", "entrance_id": "e1", "point": "h0"}, 409, "duplicate"),
        (
            "devices",
            {"id": "d-x", "site": site, "unit": "ghost", "point": "p", "kind": "room_sensor"},
            404,
            "missing",
        ),
    ]
    for path, body, status, reason in cases:
        r = client.post(f"/api/v1/{path}", json=body, auth=ADMIN)
        assert (r.status_code, r.json()["error"]) == (status, reason), (path, body, r.text)
        action = "add_" + path[:-1]
        who, act, target, result = audit_rows(service)[-1]
        assert (who, act, target) == ("admin", action, body["id"])
        assert result.startswith(f"refused: {reason}: ")


def test_bodies_are_typed_strictly(client, service):
    cases = [
        ("buildings", {"id": "bl-y", "station_id": STATION, "floors": "3"}),  # a string
        ("stations", {"id": "st-y", "site": "s", "colour": "red"}),  # an unknown field
        ("stations", {"site": "s"}),  # no id
        ("devices", {"id": "d-y", "site": "s", "unit": "u1", "point": "p", "kind": "toaster"}),
    ]
    for path, body in cases:
        r = client.post(f"/api/v1/{path}", json=body, auth=ADMIN)
        assert r.status_code == 422 and r.json()["error"] == "invalid", body
        assert all({"loc", "msg", "type"} == set(p) for p in r.json()["detail"])
        assert audit_rows(service)[-1][3] == "refused: invalid input"


def test_households_are_updated_by_admins_only(client, service):
    r = client.patch("/api/v1/households/hh2", json={"position": "gable", "floor": 2}, auth=ADMIN)
    assert r.status_code == 200
    assert (r.json()["position"], r.json()["floor"], r.json()["point"]) == ("gable", 2, "h1")
    assert audit_rows(service)[-1] == ("admin", "update_household", "hh2", "done")
    r = client.patch("/api/v1/households/hh2", json={"floor": 999}, auth=ADMIN)
    assert (r.status_code, r.json()["error"]) == (422, "range")
    r = client.patch("/api/v1/households/nope", json={"floor": 1}, auth=ADMIN)
    assert r.status_code == 404
    assert audit_rows(service)[-1][3].startswith("refused: missing")
    assert (
        client.patch("/api/v1/households/hh2", json={"floor": 3}, auth=OPERATOR).status_code == 403
    )
    assert client.get("/api/v1/households/hh2", auth=VIEWER).json()["floor"] == 2


def test_admins_update_and_delete_and_what_is_in_use_is_refused(client, service, site):
    def call(method, path, body=None, auth=ADMIN):
        return client.request(method, f"/api/v1/{path}", json=body, auth=auth)

    assert call("POST", "stations", {"id": "st-d", "site": site}).status_code == 201
    assert call("POST", "buildings", {"id": "bl-d", "station_id": "st-d"}).status_code == 201
    assert (
        call(
            "POST", "entrances", {"id": "e-d", "building_id": "bl-d", "site": site, "unit": "u-d"}
        ).status_code
        == 201
    )
    assert call("POST", "households", {"id": "hh-d", "entrance_id": "e-d"}).status_code == 201
    assert (
        call(
            "POST",
            "devices",
            {
                "id": "d-d",
                "site": site,
                "unit": "u-d",
                "point": "p1",
                "kind": "household_valve",
                "household_id": "hh-d",
            },
        ).status_code
        == 201
    )
    r = call("PATCH", "stations/st-d", {"name": "Depot"})
    assert (r.status_code, r.json()["name"]) == (200, "Depot")
    r = call("PATCH", "buildings/bl-d", {"floors": 4})
    assert (r.status_code, r.json()["floors"]) == (200, 4)
    r = call("PATCH", "entrances/e-d", {"building_id": "bl1"})
    assert (r.status_code, r.json()["building_id"]) == (200, "bl1")
    r = call("PATCH", "devices/d-d", {"kind": "room_sensor"})
    assert (r.status_code, r.json()["kind"], r.json()["household_id"]) == (
        200,
        "room_sensor",
        "hh-d",
    )
    assert audit_rows(service)[-1] == ("admin", "update_device", "d-d", "done")
    # refused: in use (409), unknown (404), bad body (422), not an admin (403); nothing moves
    for method, path, body, status, reason in (
        ("DELETE", "households/hh-d", None, 409, "in-use"),
        ("DELETE", "entrances/e-d", None, 409, "in-use"),
        ("DELETE", "stations/nope", None, 404, "missing"),
        ("PATCH", "entrances/e-d", {"building_id": "nope"}, 404, "missing"),
        ("PATCH", "stations/nope", {"name": "x"}, 404, "missing"),
        ("PATCH", "buildings/bl-d", {"floors": 0}, 422, "range"),
        ("PATCH", "entrances/e-d", {"unit": "u-x"}, 422, "invalid"),
    ):
        r = call(method, path, body)
        assert (r.status_code, r.json()["error"]) == (status, reason), (method, path, r.text)
    assert audit_rows(service)[-1][3].startswith("refused")
    assert call("DELETE", "devices/d-d", auth=OPERATOR).status_code == 403
    assert call("GET", "devices/d-d", auth=VIEWER).status_code == 200
    for path in (
        "devices/d-d",
        "households/hh-d",
        "entrances/e-d",
        "buildings/bl-d",
        "stations/st-d",
    ):
        r = call("DELETE", path)
        assert (r.status_code, r.json()) == (200, {"deleted": path.split("/")[1]}), r.text
        assert call("GET", path, auth=VIEWER).status_code == 404
    assert service.storage.unit_id(site, "u-d") is not None  # the unit and its data stay
    assert audit_rows(service)[-1] == ("admin", "delete_station", "st-d", "done")
