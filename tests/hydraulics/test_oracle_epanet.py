"""EPANET (through WNTR) as an independent oracle on open Darcy–Weisbach networks."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from host.models.hydraulics.generate import generate_network
from host.models.hydraulics.solver import solve_system
from tests.hydraulics.helpers import assert_invariants
from tests.peers.open import EPANET_GRAVITY_M_S2, open_variant

#: Flows below this (m³/s, 3.6 l/h) are compared absolutely, not relatively.
FLOW_FLOOR_M3_S = 1e-6


@pytest.mark.parametrize(("n_nodes", "seed"), [(100, 1), (600, 2), (2000, 3)])
def test_matches_epanet(
    n_nodes: int, seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.peers.epanet import run_wntr, to_wntr

    monkeypatch.chdir(tmp_path)
    net = generate_network(n_nodes, seed=seed)
    on = open_variant(
        net, supply_head_m=35.0, return_head_m=20.0, gravity_m_s2=EPANET_GRAVITY_M_S2
    )
    ours = solve_system(on.system)
    assert_invariants(ours)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # WNTR: "Changing the headloss formula"
        epa = run_wntr(to_wntr(on), on, tmp_path)
    rel = np.abs(ours.flow_m3_s - epa.flow_m3_s) / np.maximum(
        np.abs(epa.flow_m3_s), FLOW_FLOOR_M3_S
    )
    worst = int(np.argmax(rel))
    assert rel[worst] < 1e-4, (
        on.system.link_ids[worst],
        ours.flow_m3_s[worst],
        epa.flow_m3_s[worst],
    )
    assert np.max(np.abs(ours.head_m - epa.head_m)) < 1e-3
    assert os.listdir(tmp_path)  # EPANET wrote its files in tmp_path, not the repo
