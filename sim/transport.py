"""Transport of heat through the mains and risers: plug-flow delay and a little heat loss.

Water reaching entrance e left the station ``tau_e = sum over the pipes p of its path of
V_p / |Q_p|`` seconds ago and cooled towards the ground on the way: with ``Lambda_e = sum
UA_p / (|m_p| c)`` the temperature that arrives is ``T_g + (T_sent - T_g) * exp(-Lambda_e)``
(each pipe an exponential cooler at its own flow; exact for steady flow in a tree). Return
water from every entrance travels back the same way and mixes at the station by flow.
Risers add the delay of their own volume at the entrance's flow (they are inside the heated
building, so their small loss is counted as heat to the building: none here).

Histories are ring buffers sampled every plant step; delays are read by linear interpolation
and capped at ``MAX_DELAY_S``. Paths follow the tree from the station (on a looped network
the first pipe found into each node is used: an approximation).
"""

from __future__ import annotations

import math

import numpy as np

from host.models.hydraulics.network import Network, Side
from shared.units import CP_WATER_J_KG_K, RHO_WATER_50C_KG_M3

#: Longest delay kept (s): anything slower is stagnant water for our purposes.
MAX_DELAY_S = 4 * 3600.0
#: Ground temperature around buried pipes (°C).
T_GROUND_C = 5.0


class TransportError(ValueError):
    """A network whose paths from the station cannot be traced."""


def pipe_loss_w_mk(diameter_m: np.ndarray) -> np.ndarray:
    """Heat loss per metre and kelvin of an older, thinly insulated buried pipe (W/(m·K))."""
    return 0.25 + 2.0 * diameter_m


def path_matrices(network: Network) -> tuple[np.ndarray, np.ndarray]:
    """(P_supply, P_return), shape (n_entrances, n_pipes): 1 where a pipe is on the path
    between the station and the entrance."""
    st = network.station
    into: dict[str, int] = {}
    out_of: dict[str, int] = {}
    for k, p in enumerate(network.pipes):
        if p.side is Side.SUPPLY:
            into.setdefault(p.to_node, k)
        else:
            out_of.setdefault(p.from_node, k)
    n_e, n_p = len(network.entrances), len(network.pipes)
    ps, pr = np.zeros((n_e, n_p)), np.zeros((n_e, n_p))
    for i, e in enumerate(network.entrances):
        _walk(network, e.supply_node, st.supply_node, into, "from_node", ps[i], e.id)
        _walk(network, e.return_node, st.return_node, out_of, "to_node", pr[i], e.id)
    return ps, pr


def _walk(
    network: Network,
    node: str,
    goal: str,
    step: dict[str, int],
    next_end: str,
    row: np.ndarray,
    entrance: str,
) -> None:
    """Mark in ``row`` the pipes from ``node`` to ``goal`` following ``step``."""
    for _ in range(len(network.pipes) + 1):
        if node == goal:
            return
        if node not in step:
            break
        k = step[node]
        row[k] = 1.0
        node = getattr(network.pipes[k], next_end)
    raise TransportError(f"no path between the station and entrance {entrance}")


class DelayLine:
    """Ring buffer of a quantity (scalar or per-entrance) sampled every ``dt_s``."""

    def __init__(self, dt_s: float, initial: np.ndarray | float, max_delay_s: float = MAX_DELAY_S):
        self.dt_s = dt_s
        self.n = int(math.ceil(max_delay_s / dt_s)) + 2
        x = np.asarray(initial, dtype=float)
        self.buf = np.repeat(x[None, ...], self.n, axis=0)
        self.head = 0

    def push(self, value: np.ndarray | float) -> None:
        """Append the value at the current time."""
        self.head = (self.head + 1) % self.n
        self.buf[self.head] = value

    def delayed(self, delay_s: np.ndarray) -> np.ndarray:
        """Value ``delay_s`` ago (per element for a per-entrance line)."""
        k = np.clip(np.asarray(delay_s, dtype=float) / self.dt_s, 0.0, self.n - 2.0)
        i0 = np.floor(k).astype(np.int64)
        frac = k - i0
        a = (self.head - i0) % self.n
        b = (self.head - i0 - 1) % self.n
        if self.buf.ndim == 1:
            return (1.0 - frac) * self.buf[a] + frac * self.buf[b]
        cols = np.arange(self.buf.shape[1])
        return (1.0 - frac) * self.buf[a, cols] + frac * self.buf[b, cols]


class Mains:
    """Delay and cooling between the station and every entrance, both ways."""

    def __init__(self, network: Network):
        self.ps, self.pr = path_matrices(network)
        length = np.array([p.length_m or 0.0 for p in network.pipes])
        diam = np.array([(p.diameter_mm or 0.0) / 1000.0 for p in network.pipes])
        self.volume_m3 = np.pi / 4.0 * diam**2 * length
        self.ua_w_k = pipe_loss_w_mk(diam) * length * (diam > 0)
        self.tau_supply_s = np.zeros(len(network.entrances))
        self.tau_return_s = np.zeros(len(network.entrances))
        self.decay_supply = np.ones(len(network.entrances))
        self.decay_return = np.ones(len(network.entrances))

    def update_flows(self, pipe_flow_m3_s: np.ndarray) -> None:
        """Recompute delays and cooling factors for the pipe flows of a new solve."""
        q = np.maximum(np.abs(pipe_flow_m3_s), 1e-9)
        tau = np.minimum(self.volume_m3 / q, MAX_DELAY_S)
        lam = self.ua_w_k / (q * RHO_WATER_50C_KG_M3 * CP_WATER_J_KG_K)
        self.tau_supply_s = self.ps @ tau
        self.tau_return_s = self.pr @ tau
        self.decay_supply = np.exp(-(self.ps @ lam))
        self.decay_return = np.exp(-(self.pr @ lam))
