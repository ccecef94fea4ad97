"""The estimator's result object, shaped like scipy's OptimizeResult (but frozen).

Per pipe: the estimate ``s_m_per_m3h2`` (NaN where the data cannot determine it), a standard
error, a 95 % interval and an ``identifiable`` flag with the reason when it is False. Pipes that
are identifiable only together (parallel pipes, a loop meeting the network at two nodes, pipes
in series without a sensor in between) are reported as :class:`Group` with their equivalent S.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from host.models.estimation.graph import BoolArray, FloatArray

#: Two-sided 95 % normal quantile used for every interval.
Z95 = 1.959963984540054
#: Singular values below this fraction of the largest count as zero (rank test).
RANK_RTOL = 1e-9
#: A pipe (group) whose largest head loss is below this many head-loss σ is not identifiable.
SNR_MIN = 2.0
#: Relative standard error of S above which an estimate is reported as not identifiable.
MAX_REL_SE = 0.5

#: Progress callback: (fraction done 0..1, stage) → None.
Progress = Callable[[float, str], None]


class Status(int, Enum):
    """How the estimate ended."""

    UNIQUE = 0  #: every unknown pipe or group is identified
    PARTIAL = 1  #: some pipes only as groups or not at all (see ``reason``)
    FAILED = 2  #: nothing could be estimated (see ``message``)

    @classmethod
    def of(cls, n_unidentified: int, n_unknowns: int) -> Status:
        """The status for n_unidentified of n_unknowns pipes or groups left unidentified."""
        if n_unidentified == 0:
            return cls.UNIQUE
        return cls.FAILED if n_unidentified == n_unknowns else cls.PARTIAL


@dataclass(frozen=True)
class Group:
    """Pipes whose S is identifiable only together.

    kind : "series" (same flow, sum of S identifiable), "parallel" (same two end nodes or a
    loop meeting the network at two nodes: the equivalent S between ``end_nodes``) or
    "coupled" (no equivalent value: more data needed).
    """

    name: str
    kind: str
    pipe_ids: tuple[str, ...]
    end_nodes: tuple[str, ...]
    s_m_per_m3h2: float
    s_low: float
    s_high: float
    identifiable: bool
    reason: str = ""


@dataclass(frozen=True)
class EstimationResult:
    """Friction parameters of one sub-network from K conditions.

    Attributes
    ----------
    pipe_ids : tuple of str, shape (b,)
    s_m_per_m3h2, s_se, s_low, s_high : ndarray, shape (b,)
        Estimate, standard error and 95 % interval of S in m/(m³/h)²; NaN where unknown.
    identifiable : ndarray of bool, shape (b,)
    reason : tuple of str, shape (b,)
        Why a pipe is not identifiable individually ("" when it is).
    groups : tuple of Group
    rank, n_unknowns : int
        Numerical rank and column count of the linear system actually solved.
    condition_number : float
    n_conditions, min_conditions : int
        Conditions used and the fewest this network and sensor set can need.
    chi2_per_dof : float
        Weighted residual sum per degree of freedom (≈ 1 when the sensor model is right).
    suspect_sensors : tuple of str
        Sensors the robust fit down-weighted in most conditions.
    suggestions : tuple of str
        What extra data would make the missing parts identifiable.
    """

    method: str
    success: bool
    status: Status
    message: str
    pipe_ids: tuple[str, ...]
    s_m_per_m3h2: FloatArray
    s_se: FloatArray
    s_low: FloatArray
    s_high: FloatArray
    identifiable: BoolArray
    reason: tuple[str, ...]
    groups: tuple[Group, ...] = ()
    rank: int = 0
    n_unknowns: int = 0
    condition_number: float = float("nan")
    n_conditions: int = 0
    min_conditions: int = 0
    chi2_per_dof: float = float("nan")
    n_iter: int = 0
    suspect_sensors: tuple[str, ...] = ()
    suggestions: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    def s_of(self, pipe_id: str) -> float:
        """Estimate of one pipe by id."""
        return float(self.s_m_per_m3h2[self.pipe_ids.index(pipe_id)])


def s_interval_from_y(
    y: FloatArray, y_se: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """S, its standard error and a 95 % interval from y = S^(-1/2) and se(y).

    The interval is mapped from y's symmetric interval (S = 1/y² is monotone), so it is
    asymmetric in S and its upper end is infinite when y's interval reaches zero.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(y > 0, 1.0 / y**2, np.nan)
        se = np.where(y > 0, 2.0 * y_se / np.abs(y) ** 3, np.nan)
        hi_y = y + Z95 * y_se
        lo_y = y - Z95 * y_se
        low = np.where(hi_y > 0, 1.0 / hi_y**2, np.nan)
        high = np.where(lo_y > 0, 1.0 / lo_y**2, np.inf)
    high = np.where(np.isnan(s), np.nan, high)
    low = np.where(np.isnan(s), np.nan, low)
    return s, se, low, high
