"""Benchmark: pipe friction estimation against generic nonlinear least-squares calibration.

For every size, one generated network (host.models.hydraulics.generate, seeded) gets true
lumped S = nominal Darcy S × U(0.7, 1.3) per pipe. K conditions: the entrance flows come from the
hydraulics package's closed-loop solver with every entrance valve at a new random opening
(the flow *distribution* changes, not only the total); the supply side's pipe flows and heads
are then re-solved with the estimator's forward model to ~1e-13, so "0 % noise" really is
noise-free. The supply sub-network is estimated (the return side mirrors it).

Noise cases, applied to the same data for both methods:
- ``rel x %``: head losses and flows × (1 + N(0, x %)) (the Energies 2020 setting);
- ``abs x mm``: N(0, x) added to every head, flows × (1 + N(0, 0.5 %)).

Methods:
- ours, full measurement: host.models.estimation.full (the seed paper's linear method, weighted,
  robust, then the loop pipes' maximum-likelihood refinement), given the design S as the
  network file gives them (the peer starts from the same values);
- peer: scipy.optimize.least_squares ("trf"; ``tr_solver="lsmr"`` above 500 pipes, where an
  SVD per step would dominate) on log S, residuals = whitened head losses of
  every pipe, forward model = host.models.estimation.forward (flows and heads for given S and
  outflows), started from the nominal (design) S. The peer gets an exact analytic Jacobian
  (implicit-function sensitivities), which makes it faster than the usual finite differences;
- ours, station + entrances only, on the tree variant (loop pipes removed): the path method
  (host.models.estimation.partial), the setting of the Energies 2020 paper.

Errors are |S_est/S_true − 1| over the pipes that are individually identifiable without noise
and whose largest head loss exceeds 10 σ of the head-loss error (the same set for both).

Run: .venv/bin/python bench/estimation.py [--sizes 20,200,2000] [--k 10] [--big 10000]
     [--parts full,partial,big]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from host.models.estimation.adapter import condition_arrays, nominal_s, split_network  # noqa: E402
from host.models.estimation.conditions import Conditions  # noqa: E402
from host.models.estimation.forward import head_sensitivity, solve_flows  # noqa: E402
from host.models.estimation.full import dh_from_heads, estimate_full  # noqa: E402
from host.models.estimation.graph import PipeGraph  # noqa: E402
from host.models.estimation.partial import estimate_partial  # noqa: E402
from host.models.estimation.weighting import SensorModel  # noqa: E402
from host.models.hydraulics.generate import generate_network  # noqa: E402
from host.models.hydraulics.network import Network  # noqa: E402
from host.models.hydraulics.results import solve_network  # noqa: E402

NOISES = (
    ("0 %", 0.0, 0.0),
    ("rel 0.5 %", 0.005, 0.0),
    ("rel 1 %", 0.01, 0.0),
    ("abs 5 mm", 0.0, 0.005),
    ("abs 2 cm", 0.0, 0.02),
)


@dataclass
class Case:
    graph: PipeGraph
    s_true: np.ndarray
    s_nominal: np.ndarray
    q: np.ndarray  # (K, n)
    flow: np.ndarray  # (K, b)
    head: np.ndarray  # (K, n)


def make_case(n_nodes: int, seed: int, k_n: int, tree: bool = False) -> Case:
    net = generate_network(n_nodes, seed=seed)
    if tree:
        net = dataclasses.replace(net, pipes=tuple(p for p in net.pipes if "-L" not in p.id))
    rng = np.random.default_rng(seed)
    s_nom_all = nominal_s(net)
    s_all = s_nom_all * rng.uniform(0.7, 1.3, len(net.pipes))
    lumped: Network = dataclasses.replace(
        net,
        pipes=tuple(
            dataclasses.replace(
                p, s_m_per_m3h2=float(v), length_m=None, diameter_mm=None, roughness_mm=None
            )
            for p, v in zip(net.pipes, s_all, strict=True)
        ),
    )
    sols = [
        solve_network(
            lumped.with_openings({e.id: float(rng.uniform(0.2, 1.0)) for e in net.entrances})
        )
        for _ in range(k_n)
    ]
    cond = Conditions(
        tuple(f"c{k}" for k in range(k_n)),
        tuple("2026-11-22T00:00:00+00:00" for _ in sols),
        {},
        {
            e.id: np.array([s.entrance_flow_m3h[i] for s in sols])
            for i, e in enumerate(net.entrances)
        },
    )
    sup, _ = split_network(lumped, {n.id for n in net.nodes})
    _, q = condition_arrays(sup, cond, [e.id for e in net.entrances])
    s_true = s_all[sup.pipe_index]
    fr = solve_flows(sup.graph, s_true, q, 60.0)
    return Case(sup.graph, s_true, s_nom_all[sup.pipe_index], q, fr.flow_m3h, fr.head_m)


def noisy(case: Case, rel: float, abs_m: float, rng: np.random.Generator):
    dh = case.s_true * np.abs(case.flow) * case.flow
    if abs_m > 0:
        heads = case.head + abs_m * rng.standard_normal(case.head.shape)
        dh = dh_from_heads(case.graph, heads)
        q = case.q * (1 + 0.005 * rng.standard_normal(case.q.shape))
        sensors = SensorModel(head_abs_m=abs_m, flow_rel=0.005)
    else:
        dh = dh * (1 + rel * rng.standard_normal(dh.shape))
        q = case.q * (1 + rel * rng.standard_normal(case.q.shape))
        sensors = SensorModel(
            head_abs_m=1e-7, flow_rel=max(rel, 1e-9), flow_abs_m3h=1e-9, dh_rel=max(rel, 1e-9)
        )
    return dh, q, sensors


def scipy_peer(case: Case, dh: np.ndarray, q: np.ndarray, sensors: SensorModel):
    g = case.graph
    sig = np.sqrt(sensors.dh_var(dh))
    nodes = np.arange(g.n_nodes)

    def fwd(x: np.ndarray):
        s = np.exp(x)
        return s, solve_flows(g, s, q, 0.0)

    def fun(x: np.ndarray) -> np.ndarray:
        s, fr = fwd(x)
        return ((s * np.abs(fr.flow_m3h) * fr.flow_m3h - dh) / sig).ravel()

    def jac(x: np.ndarray) -> np.ndarray:
        s, fr = fwd(x)
        rows = []
        for k in range(q.shape[0]):
            jp = head_sensitivity(g, s, fr.flow_m3h[k], nodes)  # dP/dS
            jdh = jp[g.pipe_from] - jp[g.pipe_to]  # d(P_from − P_to)/dS
            rows.append(jdh * s[None, :] / sig[k][:, None])
        return np.vstack(rows)

    t0 = time.perf_counter()
    x0 = np.log(case.s_nominal)
    # bounds: within a factor 100 of the design values (without them the peer wanders off to
    # S of 1e-21 and 1e27 on pipes the data cannot see, where no forward model converges)
    res = least_squares(
        fun,
        x0,
        jac=jac,
        method="trf",
        x_scale="jac",
        max_nfev=60,
        # large problems: the iterative trust-region solver (an SVD per step would dominate)
        tr_solver="lsmr" if g.n_pipes > 500 else "exact",
        bounds=(x0 - np.log(100.0), x0 + np.log(100.0)),
    )
    return np.exp(res.x), time.perf_counter() - t0, res.nfev


def scored(case: Case, ident0: np.ndarray, abs_m: float) -> np.ndarray:
    dh = case.s_true * np.abs(case.flow) * case.flow
    strong = np.max(np.abs(dh), axis=0) > 10 * np.sqrt(2) * abs_m
    return ident0 & strong


def err(s_est: np.ndarray, case: Case, mask: np.ndarray) -> tuple[float, float]:
    rel = np.abs(s_est[mask] / case.s_true[mask] - 1)
    rel = np.where(np.isfinite(rel), rel, 1.0)
    return float(np.mean(rel)), float(np.max(rel))


def coverage(res, case: Case) -> str:
    """Share of the pipes reported identified whose 95 % interval holds the true S: all of
    them, and (in brackets) the loop pipes alone."""
    ok = res.identifiable & np.isfinite(res.s_low) & np.isfinite(res.s_high)
    inside = (res.s_low <= case.s_true) & (case.s_true <= res.s_high)
    loops = ok & case.graph.in_loop
    cover_l = f"{np.mean(inside[loops]):.3f}" if np.any(loops) else "-"
    return f"{np.mean(inside[ok]):.3f} ({cover_l})"


def run_full(sizes: list[int], k_n: int, seed: int, peer_max: int) -> None:
    print("\n### Full measurement (every head): ours vs scipy least_squares on log S\n")
    print(
        "| pipes | K | noise | scored | ours mean | ours worst | ours 95 % cover (loops) "
        "| ours s | scipy mean | scipy worst | scipy s (nfev) | time scipy/ours "
        "| mean err scipy/ours |"
    )
    print("|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for n_pipes in sizes:
        case = make_case(2 * n_pipes, seed, k_n)
        g = case.graph
        res0 = estimate_full(g, case.s_true * np.abs(case.flow) * case.flow, case.q)
        ident0 = res0.identifiable & np.isfinite(res0.s_m_per_m3h2)
        for label, rel, abs_m in NOISES:
            rng = np.random.default_rng(seed + 7)
            dh, q, sensors = noisy(case, rel, abs_m, rng)
            t0 = time.perf_counter()
            res = estimate_full(g, dh, q, sensors, s_design=case.s_nominal)
            t_ours = time.perf_counter() - t0
            mask = scored(case, ident0, abs_m)
            m_o, w_o = err(res.s_m_per_m3h2, case, mask)
            cover = coverage(res, case)
            if g.n_pipes <= peer_max:
                s_p, t_p, nfev = scipy_peer(case, dh, q, sensors)
                m_p, w_p = err(s_p, case, mask)
                peer = (
                    f"{m_p:.2e} | {w_p:.2e} | {t_p:.3f} ({nfev}) | {t_p / t_ours:.0f} | "
                    f"{m_p / max(m_o, 1e-16):.1f}"
                )
            else:
                peer = "- | - | - | - | -"
            print(
                f"| {g.n_pipes} | {k_n} | {label} | {int(mask.sum())} | {m_o:.2e} | "
                f"{w_o:.2e} | {cover} | {t_ours:.4f} | {peer} |",
                flush=True,
            )


def run_partial(sizes: list[int], k_n: int, seed: int) -> None:
    print(
        "\n### Station + entrance heads on the tree variant: path method (Energies 2020 setting)\n"
    )
    print("| pipes | groups | K | noise | scored groups | mean err | worst err | 95 % cover | s |")
    print("|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for n_pipes in sizes:
        case = make_case(2 * n_pipes, seed, k_n, tree=True)
        g = case.graph
        meas = g.outflow_node.copy()
        meas[g.reference] = True
        gp = dataclasses.replace(g, head_measured=meas)
        h_true = case.head.copy()
        h_true[:, ~meas] = np.nan
        res0 = estimate_partial(gp, h_true, case.q)
        # truth per group: singles and series sums, from the noise-free run's grouping
        groups = [
            (np.array([gp.pipe_index[p] for p in grp.pipe_ids]), grp.name)
            for grp in res0.groups
            if grp.kind == "series" and grp.identifiable
        ]
        singles = np.flatnonzero(res0.identifiable & np.isfinite(res0.s_m_per_m3h2))
        for label, rel, abs_m in NOISES:
            rng = np.random.default_rng(seed + 11)
            path = h_true[:, [0]] - h_true
            if abs_m > 0:
                h = h_true + abs_m * rng.standard_normal(h_true.shape)
                sensors = SensorModel(head_abs_m=abs_m, flow_rel=0.005)
                q = case.q * (1 + 0.005 * rng.standard_normal(case.q.shape))
            else:
                h = h_true[:, [0]] - path * (1 + rel * rng.standard_normal(path.shape))
                sensors = SensorModel(
                    head_abs_m=1e-7,
                    flow_rel=max(rel, 1e-9),
                    flow_abs_m3h=1e-9,
                    dh_rel=max(rel, 1e-9),
                )
                q = case.q * (1 + rel * rng.standard_normal(case.q.shape))
            t0 = time.perf_counter()
            res = estimate_partial(gp, h, q, sensors)
            t = time.perf_counter() - t0
            est = {grp.name: grp.s_m_per_m3h2 for grp in res.groups}
            band = {grp.name: (grp.s_low, grp.s_high) for grp in res.groups}
            errs = [abs(res.s_m_per_m3h2[j] / case.s_true[j] - 1) for j in singles]
            inside = [
                bool(res.s_low[j] <= case.s_true[j] <= res.s_high[j])
                for j in singles
                if res.identifiable[j]
            ]
            inside += [
                bool(band[name][0] <= case.s_true[idx].sum() <= band[name][1])
                for idx, name in groups
                if name in band and np.isfinite(est[name])
            ]
            errs += [
                abs(est.get(name, np.nan) / case.s_true[idx].sum() - 1) for idx, name in groups
            ]
            # the head-loss threshold of the scoring rule, per group
            dh = case.s_true * np.abs(case.flow) * case.flow
            keep = [np.max(np.abs(dh[:, j])) > 10 * np.sqrt(2) * abs_m for j in singles]
            keep += [
                np.max(np.abs(dh[:, idx].sum(axis=1))) > 10 * np.sqrt(2) * abs_m
                for idx, _ in groups
            ]
            e = np.array(
                [x if np.isfinite(x) else 1.0 for x, k in zip(errs, keep, strict=True) if k]
            )
            print(
                f"| {g.n_pipes} | {res.n_unknowns} | {k_n} | {label} | {e.size} | "
                f"{e.mean():.2e} | {e.max():.2e} | {np.mean(inside):.3f} | {t:.4f} |",
                flush=True,
            )


def run_big(n_pipes: int, seed: int) -> None:
    print(f"\n### {n_pipes:,} pipes, full measurement, ours only\n")
    print(
        "| pipes | loops | K | noise | build graph s | estimate s | mean err | worst err "
        "| 95 % cover (loops) |"
    )
    print("|---:|---:|---:|---|---:|---:|---:|---:|---|")
    for k_n, (label, rel, abs_m) in ((2, NOISES[0]), (10, NOISES[2]), (10, NOISES[3])):
        case = make_case(2 * n_pipes, seed, k_n)
        g = case.graph
        t0 = time.perf_counter()
        g2 = PipeGraph(
            g.node_ids,
            g.pipe_ids,
            g.pipe_from,
            g.pipe_to,
            g.reference,
            g.head_measured,
            g.outflow_node,
        )
        _ = g2.loop_basis
        t_build = time.perf_counter() - t0
        dh, q, sensors = noisy(case, rel, abs_m, np.random.default_rng(seed))
        t0 = time.perf_counter()
        res = estimate_full(g2, dh, q, sensors, s_design=case.s_nominal)
        t_est = time.perf_counter() - t0
        ok = res.identifiable
        m, w = err(res.s_m_per_m3h2, case, ok)
        print(
            f"| {g.n_pipes} | {g.n_loops} | {k_n} | {label} | {t_build:.3f} | {t_est:.3f} | "
            f"{m:.2e} | {w:.2e} | {coverage(res, case)} |",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="20,200,2000")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--big", type=int, default=10000)
    ap.add_argument("--peer-max", type=int, default=2500, help="largest size for the peer")
    ap.add_argument("--parts", default="full,partial,big", help="which tables to run")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    parts = set(args.parts.split(","))
    if "full" in parts:
        run_full(sizes, args.k, args.seed, args.peer_max)
    if "partial" in parts:
        run_partial(sizes, args.k, args.seed)
    if args.big and "big" in parts:
        run_big(args.big, args.seed)


if __name__ == "__main__":
    main()
