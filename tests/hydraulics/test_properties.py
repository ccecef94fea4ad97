"""Property test: any openings and pump speed give a converged, balanced solve or a named error."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from host.models.hydraulics.errors import ImpossibleOperatingPointError
from host.models.hydraulics.loader import load_network
from host.models.hydraulics.results import solve_network
from tests.hydraulics.helpers import assert_invariants
from tests.hydraulics.test_loader import NETWORKS

TINY = load_network(NETWORKS / "tiny.json")
opening = st.sampled_from([0.0, 1e-3, 0.01]) | st.floats(0.0, 1.0)


@settings(max_examples=60, deadline=None)
@given(
    entrances=st.lists(opening, min_size=3, max_size=3),
    households=st.lists(opening, min_size=3, max_size=3),
    speed=st.floats(0.2, 1.3),
)
def test_any_state_solves_or_names_the_cause(
    entrances: list[float], households: list[float], speed: float
) -> None:
    net = TINY.with_openings(
        dict(zip(("E1", "E2", "E3"), entrances, strict=True)),
        dict(zip(("E3-1", "E3-2", "E3-3"), households, strict=True)),
    ).with_pump_speed(speed)
    try:
        sol = solve_network(net)
    except ImpossibleOperatingPointError as exc:
        assert "closed" in str(exc) or "dead-headed" in str(exc) or "beyond" in str(exc)
        return
    assert_invariants(sol.solve)
    assert sol.pump_head_m > 0.0
