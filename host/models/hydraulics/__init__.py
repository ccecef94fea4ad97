"""Hydraulics of one secondary heating network: file format, steady-state solver, inverse.

Pipeline: network file (:mod:`.loader`) → model (:mod:`.network`) → solver arrays
(:mod:`.system`) → global gradient Newton (:mod:`.solver`) → results in the file's units
(:mod:`.results`). :mod:`.inverse` finds valve openings for wanted flows, :mod:`.generate`
makes realistic seeded networks, :mod:`.peers` converts to EPANET/pandapipes for tests and
benchmarks. Units and formats: docs/network-format.md.
"""

from host.models.hydraulics.errors import (
    DisconnectedError,
    HydraulicError,
    ImpossibleOperatingPointError,
    NetworkFileError,
    NoPumpError,
    NotConvergedError,
    Problem,
    UnreachableFlowError,
)
from host.models.hydraulics.generate import generate_network
from host.models.hydraulics.inverse import InverseResult, valve_openings
from host.models.hydraulics.loader import load_network, network_from_dict
from host.models.hydraulics.network import Network
from host.models.hydraulics.results import NetworkSolution, solve_network
from host.models.hydraulics.solver import SolveResult, SolverOptions, Status
from host.models.hydraulics.writer import network_to_dict, save_network

__all__ = [
    "DisconnectedError",
    "HydraulicError",
    "ImpossibleOperatingPointError",
    "InverseResult",
    "Network",
    "NetworkFileError",
    "NetworkSolution",
    "NoPumpError",
    "NotConvergedError",
    "Problem",
    "SolveResult",
    "SolverOptions",
    "Status",
    "UnreachableFlowError",
    "generate_network",
    "load_network",
    "network_from_dict",
    "network_to_dict",
    "save_network",
    "solve_network",
    "valve_openings",
]
