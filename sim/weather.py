"""Outdoor temperature for simulations: from a CSV file, or a seeded synthetic winter.

The synthetic winter has what matters for balancing: cold spells lasting days (an AR(1)
process on the daily mean), a diurnal swing (coldest near 05:00, warmest near 14:00) and a
little hourly noise. The same seed gives the same winter.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SECONDS_PER_DAY = 86400.0


class WeatherError(ValueError):
    """A weather file or request that cannot be used."""


@dataclass(frozen=True)
class Weather:
    """Outdoor temperature samples: `time_s` strictly increasing, `t_out_c` at those times."""

    time_s: np.ndarray
    t_out_c: np.ndarray

    def __post_init__(self) -> None:
        if self.time_s.shape != self.t_out_c.shape or self.time_s.ndim != 1:
            raise WeatherError("time_s and t_out_c must be 1-D arrays of the same length")
        if len(self.time_s) < 2:
            raise WeatherError("weather needs at least two samples")
        if not np.all(np.diff(self.time_s) > 0):
            raise WeatherError("weather times must be strictly increasing")
        if not np.all(np.isfinite(self.t_out_c)):
            raise WeatherError("outdoor temperatures must be finite")

    @property
    def duration_s(self) -> float:
        return float(self.time_s[-1] - self.time_s[0])

    def at(self, time_s: float | np.ndarray) -> float | np.ndarray:
        """Outdoor temperature at time_s (linear interpolation, held at the ends)."""
        return np.interp(time_s, self.time_s, self.t_out_c)


def synthetic_winter(
    days: float,
    seed: int,
    step_s: float = 3600.0,
    mean_c: float = -2.0,
    spell_sd_c: float = 4.0,
    spell_days: float = 4.0,
    diurnal_amplitude_c: float = 4.0,
    noise_sd_c: float = 0.3,
) -> Weather:
    """A reproducible winter of `days` days sampled every `step_s` seconds.

    Daily means follow an AR(1) process with stationary standard deviation `spell_sd_c` and a
    correlation time of `spell_days`; on top sits a sinusoidal diurnal swing.
    """
    if days <= 0 or step_s <= 0:
        raise WeatherError("days and step_s must be positive")
    rng = np.random.default_rng(seed)
    n_days = int(math.ceil(days)) + 2
    phi = math.exp(-1.0 / spell_days)
    daily = np.empty(n_days)
    daily[0] = mean_c + rng.normal(0.0, spell_sd_c)
    shocks = rng.normal(0.0, spell_sd_c * math.sqrt(1 - phi * phi), n_days)
    for i in range(1, n_days):
        daily[i] = mean_c + phi * (daily[i - 1] - mean_c) + shocks[i]
    time_s = np.arange(0.0, days * SECONDS_PER_DAY + step_s / 2, step_s)
    day_centres_s = (np.arange(n_days) - 0.5) * SECONDS_PER_DAY  # daily mean at noon
    base = np.interp(time_s, day_centres_s + SECONDS_PER_DAY, daily)
    hour = (time_s % SECONDS_PER_DAY) / 3600.0
    diurnal = diurnal_amplitude_c * np.cos(2 * math.pi * (hour - 14.0) / 24.0)
    noise = rng.normal(0.0, noise_sd_c, len(time_s))
    return Weather(time_s, base + diurnal + noise)


def load_csv(path: Path | str) -> Weather:
    """Read a CSV with columns `time_s` and `t_out_c` (header required)."""
    path = Path(path)
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            missing = {"time_s", "t_out_c"} - set(reader.fieldnames or [])
            if missing:
                raise WeatherError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
            times, temps = [], []
            for line, row in enumerate(reader, start=2):
                try:
                    times.append(float(row["time_s"]))
                    temps.append(float(row["t_out_c"]))
                except (TypeError, ValueError):
                    raise WeatherError(f"{path}:{line}: not a number") from None
    except OSError as exc:
        raise WeatherError(f"{path}: {exc.strerror}") from None
    try:
        return Weather(np.array(times), np.array(temps))
    except WeatherError as exc:
        raise WeatherError(f"{path}: {exc}") from None
