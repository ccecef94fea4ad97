"""Small hand-built networks for analytic tests (lumped S unless said otherwise)."""

from __future__ import annotations

from host.models.hydraulics.network import (
    Entrance,
    Household,
    Network,
    Node,
    Pipe,
    Pump,
    Side,
    Station,
)
from host.models.hydraulics.valves import Valve

#: A pump with h = 20 − 0.05·G² (G in m³/h) at rated speed: b = 0, so analytic answers.
PUMP = Pump((0.0, 10.0, 20.0), (20.0, 15.0, 0.0), 1.0)
#: A valve so large it adds (almost) nothing: S ≈ 1.1e-6 m/(m³/h)².
BIG_VALVE = Valve(kvs_m3h=3000.0, opening=1.0)


def nodes(*ids: str) -> tuple[Node, ...]:
    """Nodes at elevation 0."""
    return tuple(Node(i) for i in ids)


def lumped(pid: str, a: str, b: str, s: float, side: Side = Side.SUPPLY) -> Pipe:
    """A pipe with lumped S (m per (m³/h)²)."""
    return Pipe(pid, side, a, b, s_m_per_m3h2=s)


def entrance(eid: str, s: str, r: str, internal: float, valve: Valve = BIG_VALVE) -> Entrance:
    """An entrance with the given internal resistance."""
    return Entrance(eid, f"B-{eid}", s, r, valve, internal)


def station(pump: Pump | None = PUMP) -> Station:
    """Station from R0 to S0 holding 200 kPa at R0."""
    return Station("ST", "S0", "R0", pump, 55.0, 40.0, 200.0)


def network(
    node_ids: tuple[str, ...],
    pipes: tuple[Pipe, ...],
    entrances: tuple[Entrance, ...],
    households: tuple[Household, ...] = (),
    pump: Pump | None = PUMP,
) -> Network:
    """Assemble a network with the standard station."""
    return Network("test", station(pump), nodes(*node_ids), pipes, entrances, households)
