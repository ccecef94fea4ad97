"""Virtual boards run the real edge program; the host sees telemetry, never ground truth."""

import numpy as np

from edge.app import App
from sim.devices import DeviceSpec, FaultEpisode
from sim.virtual_board import VirtualBoard


def board(tmp_path, ids=("entrance", "F1H0")):
    return VirtualBoard(
        "B0E0",
        list(ids),
        DeviceSpec(),
        np.random.default_rng(0),
        str(tmp_path) + "/",
        100.0,
        {i: 40.0 for i in ids},
    )


def test_the_board_runs_edge_app_and_throttles_a_hot_return(tmp_path):
    b = board(tmp_path)
    assert isinstance(b.app, App)
    records = []
    b.on_record = lambda unit, rec: records.append(rec)
    b.set_readings(np.array([48.0, 47.0]), 60.0, 400.0, 300.0)
    b.run_until(3600 * 1000)
    x = b.openings()
    assert np.all(x < 0.9)  # too warm a return: the PI loop closes the valves
    assert records and records[-1]["valves"][0]["t_return_c"] is not None
    # telemetry has probe readings and openings only: no room temperatures, no pipe S
    text = repr(records[-1])
    for secret in ("t_room", "room", "s_m_per_m3h2", "true"):
        assert secret not in text


def test_a_probe_fault_sends_the_valve_to_its_failsafe_opening(tmp_path):
    b = board(tmp_path)
    b.set_readings(np.array([40.0, 40.0]), 60.0, 400.0, 300.0)
    b.run_until(1800 * 1000)
    b.apply_faults({0: FaultEpisode(0, 0.0, 1e9, 1, False)})
    b.run_until(3600 * 1000)
    rec = b.app.telemetry()
    assert rec["valves"][0]["mode"] == "failsafe"
    assert abs(b.openings()[0] - 0.40) < 0.03


def test_equalise_adapter_gives_the_strategy_openings_and_offsets():
    from sim.host_strategy import EqualiseStrategy

    def record(t_entrance, opening):
        return {
            "ts_s": 1000,
            "valves": [
                {
                    "id": "entrance",
                    "t_return_c": t_entrance,
                    "target_c": None,
                    "opening_cmd_pct": opening,
                },
                {"id": "a", "t_return_c": 40.0, "target_c": None, "opening_cmd_pct": 95.0},
                {"id": "b", "t_return_c": 40.0, "target_c": None, "opening_cmd_pct": 95.0},
            ],
        }

    s = EqualiseStrategy({"E1/a": -3.0, "E1/b": 0.0})
    out = s.decide(1060.0, {"E1": record(38.0, 50.0), "E2": record(42.0, 60.0)}, {})
    # entrances: mean 40, both valves throttled (most open 60 %): level trimmed up by 2 degC
    assert out.targets["E1"]["entrance"]["t_return_c"] == 42.0
    # households: offsets centred on the entrance (-1.5 / +1.5), valves open: no trim
    assert out.targets["E1"]["a"]["t_return_c"] == 38.5
    assert out.targets["E1"]["b"]["t_return_c"] == 41.5
