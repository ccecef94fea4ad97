"""Network files: every problem reported with its location, all at once; round trips."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from host.models.hydraulics.errors import NetworkFileError
from host.models.hydraulics.generate import generate_network
from host.models.hydraulics.loader import load_network, network_from_dict
from host.models.hydraulics.results import solve_network
from host.models.hydraulics.writer import network_to_dict, save_network

NETWORKS = Path(__file__).resolve().parents[2] / "sim" / "networks"


def tiny_doc() -> dict[str, Any]:
    return json.loads((NETWORKS / "tiny.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["tiny.json", "typical-300.json"])
def test_example_networks_load_and_solve(name: str) -> None:
    sol = solve_network(load_network(NETWORKS / name))
    assert sol.success


def test_round_trip_through_json(tmp_path: Path) -> None:
    net = generate_network(150, seed=3, with_households=True)
    save_network(net, tmp_path / "n.json")
    assert load_network(tmp_path / "n.json") == net
    assert network_from_dict(network_to_dict(load_network(NETWORKS / "tiny.json"))) == (
        load_network(NETWORKS / "tiny.json")
    )


def broken_doc() -> dict[str, Any]:
    doc = copy.deepcopy(tiny_doc())
    doc["pipes"][1]["to"] = "NOWHERE"  # dangling pipe
    doc["pipes"][2]["id"] = "S01"  # duplicate id
    doc["pipes"][0]["length_m"] = -5.0  # negative length
    doc["pipes"][3]["s_m_per_m3h2"] = -0.1  # negative S
    doc["station"]["pump"]["curve"][2]["head_m"] = 14.0  # curve rises
    doc["households"][0]["entrance"] = "E42"  # unknown entrance
    doc["nodes"].append({"id": "S9", "elevation_m": 0.0})
    doc["nodes"].append({"id": "R9", "elevation_m": 0.0})
    doc["entrances"].append(
        {  # unreachable
            "id": "E9",
            "building": "B9",
            "supply_node": "S9",
            "return_node": "R9",
            "valve": {"kvs_m3h": 1.0},
            "internal_s_m_per_m3h2": 1.0,
        }
    )
    doc["entrances"][0]["valve"]["opening"] = 1.5  # out of range
    doc["pipes"][4]["lenght_m"] = 3.0  # unknown field
    return doc


EXPECTED = [
    ('pipes[1] (id "S12").to', "dangling pipe: unknown node 'NOWHERE'"),
    ('pipes[2] (id "S01")', "duplicate link id 'S01'"),
    ('pipes[0] (id "S01").length_m', "must be > 0, got -5"),
    ('pipes[3] (id "S23").s_m_per_m3h2', "must be > 0, got -0.1"),
    ("station.pump.curve[2].head_m", "the pump curve does not fall"),
    ('households[0] (id "E3-1").entrance', "household under an unknown entrance 'E42'"),
    ('entrances[3] (id "E9").supply_node', "entrance unreachable from the station"),
    ('entrances[3] (id "E9").return_node', "entrance unreachable from the station"),
    ('entrances[0] (id "E1").valve.opening', "must be <= 1, got 1.5"),
    ('pipes[4] (id "R10").lenght_m', "unknown field"),
]


def test_every_problem_reported_with_location_at_once() -> None:
    with pytest.raises(NetworkFileError) as err:
        network_from_dict(broken_doc(), "broken.json")
    found = [(p.location, p.message) for p in err.value.problems]
    for loc, msg in EXPECTED:
        assert any(f_loc == loc and msg in f_msg for f_loc, f_msg in found), (loc, msg, found)
    text = str(err.value)
    assert text.startswith("broken.json:") and "NOWHERE" in text


def test_missing_pump_and_bad_types() -> None:
    doc = tiny_doc()
    del doc["station"]["pump"]
    doc["nodes"][0]["elevation_m"] = "high"
    doc["pipes"][0]["side"] = "middle"
    with pytest.raises(NetworkFileError) as err:
        network_from_dict(doc)
    locs = {p.location for p in err.value.problems}
    assert {"station.pump", 'nodes[0] (id "S0").elevation_m', 'pipes[0] (id "S01").side'} <= locs


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"nodes": [\n  {"id": "A",}\n]}', encoding="utf-8")
    with pytest.raises(NetworkFileError, match="line 2"):
        load_network(bad)


def test_humped_fitted_curve_is_rejected() -> None:
    doc = tiny_doc()
    doc["station"]["pump"]["curve"] = [
        {"flow_m3h": 0.0, "head_m": 16.0},
        {"flow_m3h": 8.0, "head_m": 15.9},
        {"flow_m3h": 14.0, "head_m": 2.0},
    ]
    with pytest.raises(NetworkFileError, match="does not fall"):
        network_from_dict(doc)
