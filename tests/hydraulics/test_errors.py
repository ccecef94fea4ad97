"""Error cases: each names its cause, never a bare LinAlgError or a partial result."""

from __future__ import annotations

from dataclasses import replace

import pytest

from host.models.hydraulics.errors import (
    DisconnectedError,
    HydraulicError,
    ImpossibleOperatingPointError,
    NoPumpError,
)
from host.models.hydraulics.network import Pump
from host.models.hydraulics.results import solve_network
from host.models.hydraulics.valves import Valve
from tests.hydraulics.nets import entrance, lumped, network


def simple(**kw: object) -> object:
    return network(
        ("S0", "S1", "R0"),
        (lumped("a", "S0", "S1", 0.05),),
        (entrance("E", "S1", "R0", 0.4),),
        **kw,
    )


def test_disconnected_part() -> None:
    net = network(
        ("S0", "S1", "R0", "X1", "X2"),
        (lumped("a", "S0", "S1", 0.05), lumped("x", "X1", "X2", 0.05)),
        (entrance("E", "S1", "R0", 0.4), entrance("F", "X1", "X2", 0.4)),
    )
    with pytest.raises(DisconnectedError) as err:
        solve_network(net)
    assert set(err.value.node_ids) == {"X1", "X2"}
    assert "X1" in str(err.value)


def test_no_pump() -> None:
    with pytest.raises(NoPumpError, match="no pump"):
        solve_network(simple(pump=None))


def test_stopped_pump() -> None:
    net = simple()
    with pytest.raises(NoPumpError, match="stopped"):
        solve_network(net.with_pump_speed(0.0))


def test_every_entrance_closed_is_dead_headed() -> None:
    net = network(
        ("S0", "R0"),
        (),
        (
            entrance("E", "S0", "R0", 0.4, Valve(4.0, opening=0.0)),
            entrance("F", "S0", "R0", 0.4, Valve(4.0, opening=0.0)),
        ),
    )
    with pytest.raises(ImpossibleOperatingPointError, match="closed"):
        solve_network(net)


def test_operating_point_beyond_the_pump_curve() -> None:
    # A nearly free loop asks for more than the curve's last point: run-out.
    weak = Pump((0.0, 1.0, 2.0), (20.0, 18.0, 12.0), 1.0)
    net = network(("S0", "R0"), (), (entrance("E", "S0", "R0", 0.001),), pump=weak)
    with pytest.raises(ImpossibleOperatingPointError, match="beyond the pump curve"):
        solve_network(net)


def test_errors_share_one_root() -> None:
    for cls in (DisconnectedError, NoPumpError, ImpossibleOperatingPointError):
        assert issubclass(cls, HydraulicError)


def test_household_under_entrance_with_all_households_closed() -> None:
    from host.models.hydraulics.network import Household

    net = network(
        ("S0", "R0"),
        (),
        (entrance("E", "S0", "R0", 0.4),),
        (Household("h", "E", 30.0, Valve(1.0, opening=0.0)),),
    )
    with pytest.raises(ImpossibleOperatingPointError):
        solve_network(net)
    opened = replace(net, households=(Household("h", "E", 30.0, Valve(1.0, opening=0.5)),))
    assert solve_network(opened).success
