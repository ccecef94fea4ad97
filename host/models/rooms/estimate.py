"""Room temperature of every household of a station, with its standard error.

Method (docs/rooms.md): every flat obeys the balance of host.models.rooms.heat_balance,
t_room - t_out = r * dT_lm^n + g averaged over its recent past, with its own
radiator-to-envelope ratio r. The sensed flats tell r: for each of them r follows from its
measured room, its return and its entrance's supply. Flats of one household type share a
ratio (a top or gable flat may have radiators sized for its extra loss, or not: the data
decide), shrunk towards the station's level where a type has few sensed flats (a normal
prior of `prior_sd` in log-ratio: the fixed household-type table of old becomes data). The
offset g (internal gains) and the memory time constant are the pair, from a small grid,
that predicts the sensed flats best when each is left out in turn.

An unsensed flat's room is the root of its balance with its type's ratio. Its standard error
combines the leave-one-out scatter of the sensed flats (each predicted without itself, which
is what an unsensed flat is), the uncertainty of its type's ratio (large for a type no
sensed flat has), and an extra term where the flat has no return probe of its own (its
entrance's mixed return stands in): a poor estimate says so. A measured flat is its own
estimate, with the sensor's error. `se_type_c` is the part of the standard error that the
flats of one type share (its type's ratio): the scatter of single flats averages out over
many flats of a type, this part does not (host.control.strategy.room_led pools by type).

Pure logic: arrays in, arrays out. degC, K, hours.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from host.errors import EvenheatError
from host.models.rooms.heat_balance import (
    EXPONENT,
    memory_weights,
    ratio_from_room,
    room_temperature_c,
)

RELATIVE_LOSS: dict[str, float] = json.loads(
    (Path(__file__).with_name("household_types.json")).read_text()
)["relative_loss"]


class RoomEstimateError(EvenheatError, ValueError):
    """Inputs the estimator cannot use (shapes, too few sensed flats)."""

    reason = "no-estimate"


@dataclass(frozen=True)
class EstimatorSettings:
    """Tuning of the estimator (degC, K, h)."""

    prior_sd: float = 0.25  # log-ratio spread of a type about the station level
    min_sensed: int = 3  # fewer usable sensed flats than this: no estimate at all
    sensor_se_c: float = 0.3  # standard error of a measured room
    no_own_return_se_c: float = 1.5  # extra error when the entrance's mixed return stands in
    min_se_c: float = 0.2
    suspect_sigmas: float = 4.0  # a sensed flat this many robust sd off its prediction...
    suspect_min_k: float = 2.0  # ...and at least this far is a suspect sensor
    max_suspect_share: float = 0.25  # of the sensed flats, at most
    tau_h: tuple[float, ...] = (12.0, 24.0, 48.0)  # memory time constants tried
    offset_k: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0)  # gain offsets tried
    exponent: float = EXPONENT


def fill_gaps(series: np.ndarray) -> np.ndarray:
    """A history (time first; one series or one per column) with its gaps filled: a silent
    probe's bins carry its last value forward, the bins before its first value take that
    one. A column with no value at all stays NaN."""
    a = np.asarray(series, dtype=float)
    ok = np.isfinite(a)
    steps = np.arange(a.shape[0]).reshape((-1,) + (1,) * (a.ndim - 1))
    last = np.maximum.accumulate(np.where(ok, steps, -1), axis=0)
    first = np.argmax(ok, axis=0)
    idx = np.where(last >= 0, last, first)
    return np.take_along_axis(a, idx, axis=0)


@dataclass(frozen=True)
class StationHistory:
    """What the host knows of one station's households, oldest first on a uniform step.

    `t_supply_c`, `t_return_c`: (T, n) per household: its entrance's supply and its own
    return probe, NaN where it has none (then `t_entrance_return_c`, its entrance's mixed
    return, stands in); `t_out_c`: (T,); `t_room_c`: (n,) the plausible fresh measured room
    now, NaN where unsensed; `household_type` as in the registry ("" unknown).
    """

    t_supply_c: np.ndarray
    t_return_c: np.ndarray
    t_entrance_return_c: np.ndarray
    t_out_c: np.ndarray
    t_room_c: np.ndarray
    household_type: tuple[str, ...]
    step_s: float

    def __post_init__(self) -> None:
        n = len(self.household_type)
        t_out = np.asarray(self.t_out_c, dtype=float)
        steps = len(t_out)
        if steps < 1 or not np.all(np.isfinite(t_out)):
            raise RoomEstimateError("t_out_c must be a non-empty series of finite values")
        object.__setattr__(self, "t_out_c", t_out)
        for name in ("t_supply_c", "t_return_c", "t_entrance_return_c"):
            value = np.asarray(getattr(self, name), dtype=float)
            if value.shape != (steps, n):
                raise RoomEstimateError(f"{name} must be (steps, households) = ({steps}, {n})")
            object.__setattr__(self, name, value)
        room = np.asarray(self.t_room_c, dtype=float)
        if room.shape != (n,):
            raise RoomEstimateError(f"t_room_c must have one value per household ({n})")
        object.__setattr__(self, "t_room_c", room)
        if not self.step_s > 0:
            raise RoomEstimateError("step_s must be positive")


@dataclass(frozen=True)
class RoomEstimates:
    """Per household: the room temperature, its standard error, whether it was measured and
    how it was found ("measured", "heat-balance", "heat-balance-entrance", "none"), and the
    part of its standard error its type's flats share (0 for a measured room)."""

    t_room_c: np.ndarray
    se_c: np.ndarray
    measured: np.ndarray
    method: tuple[str, ...]
    se_type_c: np.ndarray
    fit: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Calibration:
    tau_h: float
    offset_k: float
    weights: np.ndarray
    types: _TypeModel
    loo_rms_c: float
    loo_resid_c: np.ndarray  # per sensed flat used: prediction without it less its reading
    log_r: np.ndarray  # per sensed flat used: its own log ratio


def _exposure(kind: str) -> float:
    """-ln(relative loss) of a household type: 0 for a middle flat, negative for exposed."""
    return -math.log(RELATIVE_LOSS.get(kind, 1.0))


class _TypeModel:
    """Log-ratios by household type: a station level, a slope on the type's exposure (how
    much of an exposed flat's extra loss its radiators leave uncovered, 0..1), and each
    type's deviation from that line, shrunk towards it by a normal prior of `prior_sd`."""

    def __init__(self, log_r: np.ndarray, types: list[str], prior_sd: float) -> None:
        x = np.array([_exposure(t) for t in types])
        n = len(log_r)
        if n >= 3 and np.ptp(x) > 0.05:
            slope = float(np.polyfit(x, log_r, 1)[0])
            self.slope = min(max(slope, 0.0), 1.0)
        else:
            self.slope = 0.5  # half covered: the middle of what radiators are sized by
        base = log_r - self.slope * x
        self.level = float(np.mean(base))
        groups: dict[str, list[float]] = {}
        for v, t in zip(base, types, strict=True):
            groups.setdefault(t, []).append(float(v))
        within = [v - np.mean(g) for g in groups.values() for v in g]
        dof = max(n - len(groups), 1)
        s2 = max(float(np.sum(np.square(within))) / dof, 1e-6)
        kappa = s2 / prior_sd**2  # how many flats the prior is worth
        self.var_level = s2 / n + (0.25 * float(np.var(x)) if n < 3 else 0.0)
        self.prior_var = prior_sd**2
        self.by_type: dict[str, tuple[float, float]] = {}
        for t, g in groups.items():
            k = len(g)
            dev = k * (float(np.mean(g)) - self.level) / (k + kappa)
            self.by_type[t] = (dev, s2 / (k + kappa))

    def predict(self, kind: str) -> tuple[float, float]:
        """(log ratio, its variance) of a household of this type."""
        line = self.level + self.slope * _exposure(kind)
        if kind in self.by_type:
            dev, var = self.by_type[kind]
            return line + dev, var + self.var_level
        return line, self.prior_var + self.var_level


def estimate_station(h: StationHistory, cfg: EstimatorSettings | None = None) -> RoomEstimates:
    """Estimate every household's room temperature from the sensed ones (see the module)."""
    cfg = cfg or EstimatorSettings()
    n = len(h.household_type)
    own = np.all(np.isfinite(h.t_return_c), axis=0)
    tr = np.where(own[None, :], h.t_return_c, h.t_entrance_return_c)
    ts = h.t_supply_c
    types = [t or "unknown" for t in h.household_type]
    water_ok = np.all(np.isfinite(ts) & np.isfinite(tr), axis=0)
    sensed = np.isfinite(h.t_room_c) & water_ok
    idx = np.flatnonzero(sensed & own)
    if len(idx) < cfg.min_sensed:
        idx = np.flatnonzero(sensed)
    if len(idx) < cfg.min_sensed:
        raise RoomEstimateError(
            f"{len(idx)} sensed flats with water temperatures (at least {cfg.min_sensed} needed)"
        )
    cal = _calibrate(h, ts, tr, idx, types, cfg)
    if cal is None:
        raise RoomEstimateError("the sensed flats give no positive radiator ratio")
    # A sensed flat its neighbours' physics cannot explain is a suspect sensor (on a window
    # sill, over a radiator, in the wrong flat): refit without it, estimate it like the rest.
    # Only where another sensed flat of its type speaks against it: a type's only sensed
    # flat is predicted from the other types' line alone, and a type the line gets wrong (the
    # top flats of an estate whose radiators cover their loss) is physics, not a fault. One
    # at a time: a bad sensor spoils its type-mates' predictions too, so of the flats too far
    # off, the one farthest from what the other types say of its type goes first.
    suspect = np.zeros(n, dtype=bool)
    for _ in range(max(1, int(cfg.max_suspect_share * len(idx)))):
        kinds_used = [types[i] for i in idx]
        peers = np.array([kinds_used.count(k) - 1 for k in kinds_used])
        odd = np.flatnonzero((peers >= 1) & (np.abs(cal.loo_resid_c) > cfg.suspect_min_k))
        if not len(odd) or len(idx) - 1 < cfg.min_sensed:
            break
        worst = int(odd[np.argmax([_off_line(cal.log_r, kinds_used, int(j), cfg) for j in odd])])
        keep = np.arange(len(idx)) != worst
        refit = _calibrate(h, ts, tr, idx[keep], types, cfg)
        if refit is None:
            break
        # judged by the fit without it: a bad sensor inflates every residual it is part of
        i = idx[worst]
        ratio = np.exp(refit.types.predict(types[i])[0])
        pred = room_temperature_c(
            ts[:, [i]], tr[:, [i]], h.t_out_c, refit.weights, ratio, refit.offset_k, cfg.exponent
        )
        scale = 1.4826 * float(np.median(np.abs(refit.loo_resid_c)))
        if abs(float(pred[0]) - h.t_room_c[i]) <= max(
            cfg.suspect_sigmas * scale, cfg.suspect_min_k
        ):
            break
        suspect[i] = True
        idx, cal = idx[keep], refit
    predicted = {t: cal.types.predict(t) for t in set(types)}
    log_ri = np.array([predicted[t][0] for t in types])
    var_i = np.array([predicted[t][1] for t in types])
    ri = np.exp(log_ri)
    ts_f = np.where(np.isfinite(ts), ts, 0.0)
    tr_f = np.where(np.isfinite(tr), tr, 0.0)
    est = room_temperature_c(ts_f, tr_f, h.t_out_c, cal.weights, ri, cal.offset_k, cfg.exponent)
    step = 0.05
    up = room_temperature_c(
        ts_f, tr_f, h.t_out_c, cal.weights, ri * np.exp(step), cal.offset_k, cfg.exponent
    )
    dt_dlogr = (up - est) / step
    extra = np.where(own, 0.0, cfg.no_own_return_se_c**2)
    se_type = np.abs(dt_dlogr) * np.sqrt(var_i)
    se = np.sqrt(cal.loo_rms_c**2 + se_type**2 + extra)
    se = np.maximum(se, cfg.min_se_c)
    measured = np.isfinite(h.t_room_c) & ~suspect
    est = np.where(water_ok, est, np.nan)
    se = np.where(water_ok, se, np.nan)
    t_room = np.where(measured, h.t_room_c, est)
    se = np.where(measured, cfg.sensor_se_c, se)
    se_type = np.where(measured, 0.0, np.where(water_ok, se_type, np.nan))
    method = tuple(
        "suspect-sensor"
        if suspect[i]
        else "measured"
        if measured[i]
        else "none"
        if not water_ok[i]
        else "heat-balance"
        if own[i]
        else "heat-balance-entrance"
        for i in range(n)
    )
    fit = {
        "sensed_used": len(idx),
        "suspect_sensors": int(suspect.sum()),
        "tau_h": cal.tau_h,
        "offset_k": cal.offset_k,
        "ratio_level": float(np.exp(cal.types.level)),
        "uncovered_share": cal.types.slope,
        "ratio_by_type": {
            k: float(np.exp(cal.types.predict(k)[0])) for k in sorted(cal.types.by_type)
        },
        "loo_rms_c": cal.loo_rms_c,
    }
    return RoomEstimates(t_room, se, measured, method, se_type, fit)


def _off_line(log_r: np.ndarray, kinds: list[str], j: int, cfg: EstimatorSettings) -> float:
    """How far sensed flat j's log ratio is from what the flats of the other types predict
    for its type."""
    other = [k for k in range(len(kinds)) if kinds[k] != kinds[j]]
    if len(other) < 2:
        return 0.0
    model = _TypeModel(log_r[other], [kinds[k] for k in other], cfg.prior_sd)
    return abs(float(log_r[j]) - model.predict(kinds[j])[0])


def _calibrate(
    h: StationHistory,
    ts: np.ndarray,
    tr: np.ndarray,
    idx: np.ndarray,
    types: list[str],
    cfg: EstimatorSettings,
) -> _Calibration | None:
    """The (memory, offset) pair of the grid whose leave-one-out prediction of the sensed
    flats is best, with the type ratios it gives."""
    steps = len(h.t_out_c)
    t_room = h.t_room_c[idx]
    kinds = [types[i] for i in idx]
    best: _Calibration | None = None
    for tau_h in cfg.tau_h:
        w = memory_weights(steps, h.step_s, tau_h)
        for g in cfg.offset_k:
            r = ratio_from_room(ts[:, idx], tr[:, idx], h.t_out_c, w, t_room, g, cfg.exponent)
            if not np.all(np.isfinite(r) & (r > 0)):
                continue
            log_r = np.log(r)
            loo_log = np.empty(len(idx))
            for j in range(len(idx)):
                keep = np.arange(len(idx)) != j
                model = _TypeModel(
                    log_r[keep], [kinds[k] for k in np.flatnonzero(keep)], cfg.prior_sd
                )
                loo_log[j] = model.predict(kinds[j])[0]
            pred = room_temperature_c(
                ts[:, idx], tr[:, idx], h.t_out_c, w, np.exp(loo_log), g, cfg.exponent
            )
            resid = pred - t_room
            rms = float(np.sqrt(np.mean(resid**2)))
            if best is None or rms < best.loo_rms_c:
                model = _TypeModel(log_r, kinds, cfg.prior_sd)
                best = _Calibration(tau_h, g, w, model, rms, resid, log_r)
    return best
