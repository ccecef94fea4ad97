"""Registry: import from a network file (the hydraulics loader), checked edits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from host.assets.network_import import import_network
from host.assets.registry import Registry, RegistryError

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "sim" / "networks" / "tiny.json"


@pytest.fixture
def registry(storage) -> Registry:
    return Registry(storage)


def _tiny_with_extras(tmp_path: Path) -> Path:
    doc = json.loads(TINY.read_text())
    doc["meta"] = {
        "registry": {
            "site": "estate-7",
            "units": {"E3": "b3-e1"},
            "households": {
                "E3-1": {
                    "household_type": "ground_gable",
                    "heated_area_m2": 72.5,
                    "has_room_sensor": True,
                    "position": "east",
                    "point": "f1-e",
                }
            },
        }
    }
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(doc))
    return path


def test_import_from_the_network_file(registry, tmp_path):
    counts = import_network(registry, _tiny_with_extras(tmp_path))
    net = json.loads(TINY.read_text())
    assert counts["stations"] == 1 and counts["entrances"] == len(net["entrances"])
    assert counts["households"] == len(net["households"])
    assert registry.storage.unit_id("estate-7", "b3-e1") is not None  # mapped unit
    assert registry.storage.unit_id("estate-7", "E1") is not None  # default: entrance id
    hh = registry.household("E3-1")
    assert hh == {
        "id": "E3-1",
        "entrance_id": "E3",
        "floor": 1,
        "position": "east",
        "household_type": "ground_gable",
        "heated_area_m2": 72.5,
        "has_room_sensor": True,
        "point": "f1-e",
    }
    with pytest.raises(RegistryError) as err:
        import_network(registry, _tiny_with_extras(tmp_path))
    assert err.value.reason == "duplicate"
    assert registry.counts() == counts  # the refused second import changed nothing


def test_inconsistent_edits_are_refused_with_a_reason(registry, tmp_path):
    import_network(registry, _tiny_with_extras(tmp_path))
    cases = [
        (lambda: registry.add_building("B9", "NOPE"), "missing"),
        (lambda: registry.add_entrance("E9", "B1", "estate-7", "b3-e1"), "duplicate"),
        (lambda: registry.add_entrance("E9", "B1", "estate-7", "bad unit"), "value"),
        (lambda: registry.add_household("E1-1", "E1", floor=7), "inconsistent"),  # 6 floors
        (lambda: registry.add_household("E1-1", "E1", heated_area_m2=-3), "range"),
        (lambda: registry.add_household("E1-1", "E1", colour="red"), "unknown"),
        (lambda: registry.add_household("E3-2", "E3"), "duplicate"),
        (lambda: registry.update_household("E3-2", point="f1-e"), "duplicate"),
        (
            lambda: registry.add_device(
                "d1", "estate-7", "b3-e1", "f1-e", "household_valve", household_id="E1-1"
            ),
            "missing",
        ),
        (lambda: registry.add_device("d1", "estate-7", "b3-e1", "f1-e", "kettle"), "value"),
        (lambda: registry.add_device("d1", "estate-7", "nobody", "x", "pressure"), "missing"),
    ]
    before = registry.counts()
    for edit, reason in cases:
        with pytest.raises(RegistryError) as err:
            edit()
        assert err.value.reason == reason, err.value
    assert registry.counts() == before
    registry.add_household("E1-1", "E1", floor=6, household_type="top", point="f6-w")
    registry.update_household("E1-1", heated_area_m2=90.0)
    assert registry.household("E1-1")["heated_area_m2"] == 90.0
    registry.add_device("d1", "estate-7", "E1", "f6-w", "household_valve", household_id="E1-1")
    with pytest.raises(RegistryError) as err:
        registry.add_device(
            "d2", "estate-7", "b3-e1", "f1-e", "household_valve", household_id="E1-1"
        )
    assert err.value.reason == "inconsistent"  # E1-1 is not under E3
    assert registry.counts()["devices"] == 1


def test_updates_and_deletes_are_checked_and_keep_a_units_history(registry, tmp_path):
    import_network(registry, _tiny_with_extras(tmp_path))
    store = registry.storage
    refused = [
        (lambda: registry.delete("station", "ST"), "in-use"),  # it has buildings
        (lambda: registry.delete("building", "B3"), "in-use"),
        (lambda: registry.delete("entrance", "E3"), "in-use"),  # households
        (lambda: registry.delete("toaster", "x"), "value"),
        (lambda: registry.delete("device", "nope"), "missing"),
        (lambda: registry.update_station("ST", site="elsewhere"), "unknown"),
        (lambda: registry.update_building("B3", floors=0), "range"),
        (lambda: registry.update_building("B3", floors="6"), "range"),
        (lambda: registry.update_entrance("E3", building_id="NOPE"), "missing"),
        (lambda: registry.update_entrance("E3", unit="other"), "unknown"),
        (lambda: registry.update_device("nope", kind="pressure"), "missing"),
    ]
    before = registry.counts()
    for edit, reason in refused:
        with pytest.raises(RegistryError) as err:
            edit()
        assert err.value.reason == reason, err.value
    assert registry.counts() == before
    registry.update_station("ST", name="Station 7")
    assert store.fetch_one("SELECT name FROM stations WHERE id = 'ST'") == ("Station 7",)
    top = store.fetch_one("SELECT MAX(floor) FROM households WHERE entrance_id = 'E3'")[0]
    with pytest.raises(RegistryError) as err:  # a household lives above the new top floor
        registry.update_building("B3", floors=top - 1)
    assert err.value.reason == "inconsistent"
    registry.update_building("B3", name="Block 3", floors=top + 2)
    assert store.fetch_one("SELECT name, floors FROM buildings WHERE id = 'B3'") == (
        "Block 3",
        top + 2,
    )
    registry.update_entrance("E3", building_id="B1")
    registry.update_entrance("E3", building_id="B3")
    registry.add_device("d1", "estate-7", "b3-e1", "f1-e", "household_valve", household_id="E3-1")
    with pytest.raises(RegistryError) as err:
        registry.update_device("d1", household_id="E1-1")  # not under E3 (and missing)
    assert err.value.reason == "missing"
    with pytest.raises(RegistryError) as err:  # a room sensor needs its household
        registry.update_device("d1", kind="room_sensor", household_id=None)
    assert err.value.reason == "missing-household"
    registry.update_device("d1", kind="pressure", household_id=None)
    assert store.fetch_one("SELECT kind, household_id FROM devices WHERE id = 'd1'") == (
        "pressure",
        None,
    )
    # an entrance goes once nothing hangs on it; its unit stays, with its id (its data)
    uid = store.unit_id("estate-7", "b3-e1")
    registry.delete("device", "d1")
    for (hh,) in store.fetch_all("SELECT id FROM households WHERE entrance_id = 'E3'"):
        registry.delete("household", hh)
    registry.delete("entrance", "E3")
    assert store.fetch_one("SELECT COUNT(*) FROM entrances WHERE id = 'E3'") == (0,)
    assert store.fetch_one(
        "SELECT id, entrance_id FROM units WHERE site = 'estate-7' AND unit = 'b3-e1'"
    ) == (uid, None)
    registry.add_entrance("E3b", "B3", "estate-7", "b3-e1")  # the board serves a new entrance
    assert store.fetch_one(
        "SELECT id, entrance_id FROM units WHERE site = 'estate-7' AND unit = 'b3-e1'"
    ) == (uid, "E3b")
    registry.delete("entrance", "E3b")
    registry.delete("building", "B3")
    audit = [r[0] for r in store.fetch_all("SELECT action FROM audit ORDER BY id")]
    assert {
        "update_station",
        "update_building",
        "update_entrance",
        "update_device",
        "delete_device",
        "delete_household",
        "delete_entrance",
        "delete_building",
    } <= set(audit)
