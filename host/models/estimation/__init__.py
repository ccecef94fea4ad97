"""Pipe friction parameter (PFP) estimation from measured heads and flows.

The host learns the real S (m/(m³/h)²) of every supply and return pipe from K hydraulic
conditions: the seed paper's linear method when every head is measured (:mod:`.full`), path
equations and an iterative fit when heads are measured only at the station and the entrances
(:mod:`.partial`), with identifiability, weights from sensor accuracy, robust fitting and
per-pipe uncertainty. See docs/estimation.md.
"""

from __future__ import annotations

__all__ = ["estimate_full", "estimate_partial", "PipeGraph", "SensorModel", "EstimationResult"]

from host.models.estimation.full import estimate_full
from host.models.estimation.graph import PipeGraph
from host.models.estimation.partial import estimate_partial
from host.models.estimation.result import EstimationResult
from host.models.estimation.weighting import SensorModel
