"""Field devices with their imperfections, seeded: what stands between the plant and a board.

One way to do each thing: valves, actuators, angle sensors and probes are edge.simhw's
(`SimValve`: travel time, backlash, hard stops; `SimAngle`: 12-bit steps and noise;
`SimProbe`: noise, bias, quantisation, forced faults). This module draws their parameters
per device from the scenario's seed and adds what simhw does not have:

- `DeviceSpec`: the scenario's device settings;
- `FaultSchedule`: occasional probe faults (open, short, power-on value, stuck) with a start
  and a duration, drawn per probe-day, applied to the probes as time passes;
- `HeatMeter`: an entrance heat meter's flow reading (class 2: a per-meter bias and noise),
  which the host may get from the heat company's metering system.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge import hal


@dataclass(frozen=True)
class DeviceSpec:
    """Device settings of a scenario (units in the names)."""

    stroke_s: float = 90.0
    backlash_pct: float = 1.0
    probe_noise_c: float = 0.05
    probe_bias_sd_c: float = 0.2
    probe_step_c: float = 0.0625
    pressure_noise_kpa: float = 0.5
    pressure_abs_error_kpa: float = 2.0  # standard deviation of each transducer's offset
    angle_noise_deg: float = 0.05
    probe_faults_per_day: float = 0.01  # per probe
    fault_duration_s: tuple[float, float] = (1800.0, 6 * 3600.0)
    meter_bias_sd: float = 0.01
    meter_noise: float = 0.01


_FAULT_CODES = (hal.F_OPEN, hal.F_SHORT, hal.F_POWER_ON, hal.F_DEVICE)


@dataclass(frozen=True)
class FaultEpisode:
    """Probe ``probe`` reports ``code`` from ``start_s`` for ``duration_s`` (``freeze`` for a
    stuck value instead of a fault code)."""

    probe: int
    start_s: float
    duration_s: float
    code: int
    freeze: bool


class FaultSchedule:
    """Seeded fault episodes for ``n_probes`` probes over ``duration_s``."""

    def __init__(
        self, n_probes: int, duration_s: float, spec: DeviceSpec, rng: np.random.Generator
    ):
        expected = spec.probe_faults_per_day * n_probes * duration_s / 86400.0
        n = int(rng.poisson(expected))
        self.episodes = [
            FaultEpisode(
                probe=int(rng.integers(0, n_probes)),
                start_s=float(rng.uniform(0.0, duration_s)),
                duration_s=float(rng.uniform(*spec.fault_duration_s)),
                code=int(_FAULT_CODES[int(rng.integers(0, len(_FAULT_CODES)))]),
                freeze=bool(rng.random() < 0.2),
            )
            for _ in range(n)
        ]

    def active(self, time_s: float) -> dict[int, FaultEpisode]:
        """Episodes in force at ``time_s``, by probe index."""
        return {
            e.probe: e for e in self.episodes if e.start_s <= time_s < e.start_s + e.duration_s
        }


class HeatMeter:
    """Flow readings of entrance heat meters: true flow times (1 + bias) plus noise."""

    def __init__(self, n: int, spec: DeviceSpec, rng: np.random.Generator):
        self.bias = rng.normal(0.0, spec.meter_bias_sd, n)
        self.noise = spec.meter_noise
        self._rng = rng

    def flow_m3h(self, true_flow_m3h: np.ndarray) -> np.ndarray:
        """One reading per meter."""
        g = np.asarray(true_flow_m3h, dtype=float)
        return np.maximum(
            g * (1.0 + self.bias) * (1.0 + self.noise * self._rng.standard_normal(g.shape)), 0.0
        )
