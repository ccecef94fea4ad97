"""Named errors of the hydraulics package.

Every failure the solver, the loader or the inverse problem can meet has its own class, so a
caller can tell a bad file from a network that cannot run from a numerical breakdown. None of
them is ever a bare ``LinAlgError`` or a silent partial result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from host.errors import EvenheatError


class HydraulicError(EvenheatError):
    """Root of every error raised by :mod:`host.models.hydraulics`."""

    reason = "hydraulics"


@dataclass(frozen=True)
class Problem:
    """One problem found in a network file: where it is and what is wrong.

    ``location`` is a JSON-pointer-like path such as ``pipes[3] (id "S12").to``.
    """

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class NetworkFileError(HydraulicError):
    """A network file has one or more problems; ``problems`` lists all of them."""

    def __init__(self, problems: Sequence[Problem], source: str = "network") -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.source = source
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s):\n{lines}")


class DisconnectedError(HydraulicError):
    """Part of the network has no path to a node of known head (the reference)."""

    def __init__(self, node_ids: Sequence[str]) -> None:
        self.node_ids: tuple[str, ...] = tuple(node_ids)
        shown = ", ".join(self.node_ids[:10]) + (" ..." if len(self.node_ids) > 10 else "")
        super().__init__(
            f"{len(self.node_ids)} node(s) are disconnected from the station / reference "
            f"head: {shown}"
        )


class NoPumpError(HydraulicError):
    """Nothing drives flow: no pump, a stopped pump, and no head difference or demand."""


class ImpossibleOperatingPointError(HydraulicError):
    """The pump cannot run where the network asks it to (dead-headed, reversed, run-out)."""


class NotConvergedError(HydraulicError):
    """Newton did not reach the tolerance; raised by callers that need a converged solve."""


class UnreachableFlowError(HydraulicError):
    """Wanted flows cannot be reached with the pump as it is (see the inverse result)."""
