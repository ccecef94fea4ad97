"""Registry: import from a network file (the hydraulics loader), checked edits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from host.registry import Registry, RegistryError
from host.registry_import import import_network

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "sim" / "networks" / "tiny.json"


@pytest.fixture
def registry(storage) -> Registry:
    return Registry(storage)


def _tiny_with_extras(tmp_path: Path) -> Path:
    doc = json.loads(TINY.read_text())
    doc["meta"] = {"registry": {
        "site": "estate-7",
        "units": {"E3": "b3-e1"},
        "households": {"E3-1": {"household_type": "ground_gable", "heated_area_m2": 72.5,
                                "has_room_sensor": True, "position": "east", "point": "f1-e"}},
    }}  # fmt: skip
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
    assert hh == {"id": "E3-1", "entrance_id": "E3", "floor": 1, "position": "east",
                  "household_type": "ground_gable", "heated_area_m2": 72.5,
                  "has_room_sensor": True, "point": "f1-e"}  # fmt: skip
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
        ),  # fmt: skip
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
        registry.add_device("d2", "estate-7", "b3-e1", "f1-e", "household_valve",
                            household_id="E1-1")  # fmt: skip
    assert err.value.reason == "inconsistent"  # E1-1 is not under E3
    assert registry.counts()["devices"] == 1
