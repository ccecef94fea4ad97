"""Summary metrics of a run, from the plant's true values (ground truth, never the host's).

Accumulated every plant step after the warm-up:

- spread of entrance return temperatures: of their means over the window (max - min and
  standard deviation), and the time mean of the instantaneous max - min;
- room temperatures: percentiles of each household's mean, share of households whose mean
  is below 18 °C, share of household-hours below 18 °C;
- degree-hours below ``T_COLD_C`` (18 °C) and above ``T_HOT_C`` (22 °C, the top of 20 ± 2),
  in K·h summed over households; share of household-time with a window open;
- heat sent by the station, given by radiators, lost through open windows and by the mains;
  pump electricity; mean pump flow, head and speed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.plant import EnergyLedger, PlantOutputs

T_COLD_C = 18.0
T_HOT_C = 22.0
J_PER_MWH = 3.6e9
J_PER_KWH = 3.6e6


class MetricsAccumulator:
    """Running sums over the evaluation window."""

    def __init__(self, n_entrances: int, n_households: int):
        self.time_s = 0.0
        self.ent_return = np.zeros(n_entrances)
        self.room = np.zeros(n_households)
        self.cold_s = np.zeros(n_households)
        self.under_kh = 0.0
        self.over_kh = 0.0
        self.window_s = 0.0
        self.spread_s = 0.0
        self.pump_flow = 0.0
        self.pump_head = 0.0
        self.pump_speed = 0.0
        self.ledger_start: EnergyLedger | None = None

    def add(self, out: PlantOutputs, dt_s: float) -> None:
        """Count one plant step."""
        t = out.t_room_c
        r = out.t_return_entrance_c
        self.time_s += dt_s
        self.ent_return += r * dt_s
        self.room += t * dt_s
        self.cold_s += (t < T_COLD_C) * dt_s
        self.under_kh += float(np.sum(np.maximum(T_COLD_C - t, 0.0))) * dt_s / 3600.0
        self.over_kh += float(np.sum(np.maximum(t - T_HOT_C, 0.0))) * dt_s / 3600.0
        self.window_s += float(np.mean(out.window_open)) * dt_s
        self.spread_s += float(np.ptp(r)) * dt_s
        self.pump_flow += out.flows.pump_flow_m3h * dt_s
        self.pump_head += out.flows.pump_head_m * dt_s
        self.pump_speed += out.pump_speed * dt_s

    def summary(self, ledger: EnergyLedger) -> dict[str, Any]:
        """The metrics over the window; energies are the ledger's change over it."""
        t = max(self.time_s, 1e-9)
        start = self.ledger_start or EnergyLedger()
        d = {k: getattr(ledger, k) - getattr(start, k) for k in vars(ledger)}
        ent = self.ent_return / t
        room = self.room / t
        return {
            "window_h": self.time_s / 3600.0,
            "entrance_return_spread_c": float(np.ptp(ent)),
            "entrance_return_sd_c": float(np.std(ent)),
            "entrance_return_spread_instant_c": self.spread_s / t,
            "room_mean_c": float(np.mean(room)),
            "room_p5_c": float(np.percentile(room, 5)),
            "room_p50_c": float(np.percentile(room, 50)),
            "room_p95_c": float(np.percentile(room, 95)),
            "room_min_c": float(np.min(room)),
            "room_max_c": float(np.max(room)),
            "share_below_18": float(np.mean(room < T_COLD_C)),
            "share_hours_below_18": float(np.mean(self.cold_s) / t),
            "share_above_22": float(np.mean(room > T_HOT_C)),
            "degree_hours_under_18_kh": self.under_kh,
            "degree_hours_over_22_kh": self.over_kh,
            "window_open_share": self.window_s / t,
            "heat_station_mwh": d["station_j"] / J_PER_MWH,
            "heat_radiators_mwh": d["radiator_j"] / J_PER_MWH,
            "heat_windows_mwh": d["window_loss_j"] / J_PER_MWH,
            "heat_mains_loss_mwh": d["mains_loss_j"] / J_PER_MWH,
            "pump_electricity_kwh": d["pump_electricity_j"] / J_PER_KWH,
            "pump_flow_mean_m3h": self.pump_flow / t,
            "pump_head_mean_m": self.pump_head / t,
            "pump_speed_mean": self.pump_speed / t,
        }


def energy_balance(ledger: EnergyLedger) -> dict[str, float]:
    """Relative residuals of the two balances over a whole run.

    flats: radiators + gains = losses + storage (exact for the implicit step: round-off);
    network: station = mains losses + radiators (+ the change of heat in transit, which the
    delay lines hold but do not count: small against a day's heat).
    """
    flats = ledger.radiator_j + ledger.gains_j - ledger.flat_loss_j - ledger.flat_storage_j
    net = ledger.station_j - ledger.mains_loss_j - ledger.radiator_j
    return {
        "flats_residual_rel": flats / max(ledger.radiator_j, 1e-9),
        "network_residual_rel": net / max(ledger.station_j, 1e-9),
    }


def return_deviation_c(t_return_c: np.ndarray, flow_m3h: np.ndarray) -> float:
    """The balancing check's spread: the largest |return - station mean| over the entrances,
    the mean weighted by entrance flow (±1 °C means every entrance within 1 K of it)."""
    r = np.asarray(t_return_c, dtype=float)
    g = np.maximum(np.asarray(flow_m3h, dtype=float), 0.0)
    mean = float(np.sum(r * g) / np.sum(g)) if np.sum(g) > 0 else float(np.mean(r))
    return float(np.max(np.abs(r - mean)))


def convergence(series: Any, hours: tuple[float, ...]) -> list[dict[str, float]]:  # noqa: ANN401
    """Instantaneous figures of a run's series (runner.Series) at these hours (the nearest
    record at or before each; past the end, the last): the deviation spread above, max - min
    of entrance returns, share of households below 18 °C, coldest and mean room."""
    out = []
    t = series.time_s
    for h in hours:
        k = int(np.searchsorted(t, h * 3600.0 + 1e-6) - 1)
        k = min(max(k, 0), len(t) - 1)
        room = series.t_room_c[k].astype(float)
        ret = series.t_return_entrance_c[k]
        out.append(
            {
                "hour": float(t[k]) / 3600.0,
                "deviation_c": return_deviation_c(ret, series.entrance_flow_m3h[k]),
                "spread_c": float(np.ptp(ret)),
                "share_below_18": float(np.mean(room < T_COLD_C)),
                "room_min_c": float(np.min(room)),
                "room_mean_c": float(np.mean(room)),
            }
        )
    return out
