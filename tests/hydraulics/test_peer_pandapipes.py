"""pandapipes as a second, looser peer (its friction law has no transition zone)."""

from __future__ import annotations

import warnings

import numpy as np

from host.models.hydraulics.generate import generate_network
from host.models.hydraulics.solver import solve_system
from tests.peers.open import open_variant


def test_matches_pandapipes_on_a_small_network() -> None:
    from tests.peers.pandapipes_net import run_pandapipes, to_pandapipes

    on = open_variant(generate_network(100, seed=1))
    ours = solve_system(on.system)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = run_pandapipes(to_pandapipes(on), on)
    rel = np.abs(ours.flow_m3_s - peer.flow_m3_s) / np.maximum(np.abs(peer.flow_m3_s), 1e-6)
    # Different water properties and no Dunlop transition: agreement to 0.1 %, not 1e-4.
    assert np.max(rel) < 1e-3
