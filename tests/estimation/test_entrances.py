"""Entrance valves of known opening: the joint supply + return + entrance path system.

Data: the hydraulics package's closed-loop solver (host.models.hydraulics.results.solve_network) on
generated tree networks (the generator's loop pipes removed) whose entrance valves move
between conditions; the recorded openings go into the conditions. The true network differs
from the network file the estimator reads where the test says so (building resistances, the
valves' Kvs). For the 1e-9 checks the solver's zero-flow regularisation (a 1e-10 m head-loss
error per link, ~1e-8 relative on a service pipe losing a few mm) is switched down to 1e-20 m.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import host.models.hydraulics.solver as hsolver
from host.cli.main import main as cli_main
from host.models.estimation.adapter import estimate_network
from host.models.estimation.conditions import write_conditions
from host.models.estimation.entrances import EntranceDataError
from host.models.estimation.report import estimate_to_dict
from host.models.estimation.weighting import SensorModel
from host.models.hydraulics.network import Network
from host.models.hydraulics.writer import save_network
from tests.estimation.hydraulic_data import (
    conditions_from_solver,
    lumped_network,
    station_and_entrances,
)

EXACT = 1e-9


@pytest.fixture
def exact_solver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hsolver, "REGULARISATION_HEAD_M", 1e-20)


def _tree(seed: int, n_nodes: int = 120) -> tuple[Network, np.ndarray]:
    net, s = lumped_network(n_nodes, seed, spread=0.3)
    keep = [j for j, p in enumerate(net.pipes) if "-L" not in p.id]
    return dataclasses.replace(net, pipes=tuple(net.pipes[j] for j in keep)), s[keep]


def _truth(
    net: Network, seed: int, internal_spread: float = 0.0, kvs_scale: float = 1.0
) -> Network:
    """The plant: buildings ×U(1 ± spread) and every valve's Kvs × kvs_scale."""
    rng = np.random.default_rng(seed)
    ents = tuple(
        dataclasses.replace(
            e,
            internal_s_m_per_m3h2=e.internal_s_m_per_m3h2
            * float(rng.uniform(1 - internal_spread, 1 + internal_spread)),
            valve=dataclasses.replace(e.valve, kvs_m3h=e.valve.kvs_m3h * kvs_scale),
        )
        for e in net.entrances
    )
    return dataclasses.replace(net, entrances=ents)


def _true_s(net: Network, truth: Network, s_pipe: np.ndarray) -> dict[str, float]:
    out = {p.id: float(v) for p, v in zip(net.pipes, s_pipe, strict=True)}
    out.update({e.id: e.internal_s_m_per_m3h2 for e in truth.entrances})
    return out


def _check_exact(est, true_s: dict[str, float]) -> int:
    """Every identified pipe, entrance and group matches the truth; returns how many."""
    results = [r for _, r in est.sides] + ([est.entrances.result] if est.entrances else [])
    n = 0
    for res in results:
        for j, pid in enumerate(res.pipe_ids):
            if res.identifiable[j] and not res.reason[j].startswith(("known", "building")):
                assert abs(res.s_m_per_m3h2[j] / true_s[pid] - 1) < EXACT, pid
                n += 1
        for g in res.groups:
            if g.identifiable:
                total = sum(true_s[p] for p in g.pipe_ids)
                assert abs(g.s_m_per_m3h2 / total - 1) < EXACT, g
                n += 1
    return n


def _supply_subset(net: Network, seed: int, fraction: float = 0.5) -> set[str]:
    rng = np.random.default_rng(seed)
    return {e.supply_node for e in net.entrances if rng.random() < fraction}


@pytest.mark.parametrize("seed", [3, 5])
def test_supply_heads_only_internal_mode_exact(exact_solver: None, seed: int) -> None:
    """Heads at the station and some entrance supply nodes only: the return side, blind on
    its own, is estimated through the entrances; buildings come out in series with the pipes
    no sensor separates them from, all exact."""
    net, s_pipe = _tree(seed)
    truth = _truth(net, seed, internal_spread=0.4)
    heads = {net.station.supply_node, net.station.return_node} | _supply_subset(net, seed)
    cond = conditions_from_solver(truth, 6, seed, heads_at=heads, record_openings=True)
    est = estimate_network(net, cond)  # auto: openings given → internal
    assert est.entrances is not None and est.entrances.mode == "internal"
    sides = dict(est.sides)
    assert sides["return"].method == "partial-tree+entrances"
    true_s = _true_s(net, truth, s_pipe)
    assert _check_exact(est, true_s) > 40
    before = dict(estimate_network(net, cond, entrances="off").sides)
    assert not before["return"].identifiable.any()  # the return side alone sees nothing
    ret = sides["return"]
    assert ret.identifiable.sum() + sum(g.identifiable for g in ret.groups) >= 2
    # the supply side loses nothing
    assert sides["supply"].identifiable.sum() >= before["supply"].identifiable.sum()
    ent = est.entrances.result
    measured = {e.id for e in net.entrances if e.supply_node in heads}
    for e in net.entrances:
        # the building is in series with its return service pipe, and with its supply
        # service pipe when its supply node has no head (a one-entrance building: with the
        # building's service pipes too)
        grp = next(g for g in ent.groups if e.id in g.pipe_ids)
        assert grp.kind == "series" and grp.identifiable
        assert f"R-{e.id}" in grp.pipe_ids
        assert (f"S-{e.id}" in grp.pipe_ids) == (e.id not in measured)
        assert "series" in ent.reason[ent.pipe_ids.index(e.id)]
    # a building's supply and return service pipes carry the same flow in every condition
    twins = [
        g for g in ent.groups if len(g.pipe_ids) == 2 and g.pipe_ids[0][2:] == g.pipe_ids[1][2:]
    ]
    assert all(g.kind == "series" for g in twins)
    data = estimate_to_dict(est)
    assert data["entrances"]["mode"] == "internal" and data["entrances"]["valve_factor"] is None
    assert {"id", "s_m_per_m3h2", "identifiable"} <= set(data["entrances"]["entrances"][0])


def test_factor_mode_exact(exact_solver: None) -> None:
    """Every valve passes 0.8× its nominal Kvs: c = 1/0.8² = 1.5625, found to 1e-9 with the
    buildings from the file."""
    seed = 7
    net, s_pipe = _tree(seed)
    truth = _truth(net, seed, kvs_scale=0.8)
    heads = {net.station.supply_node, net.station.return_node} | _supply_subset(net, seed)
    cond = conditions_from_solver(truth, 6, seed, heads_at=heads, record_openings=True)
    est = estimate_network(net, cond, entrances="factor")
    ent = est.entrances
    assert ent is not None and ent.factor_identifiable, ent.factor_reason
    assert abs(ent.factor / 1.5625 - 1) < EXACT
    assert ent.factor_low < ent.factor < ent.factor_high
    assert _check_exact(est, _true_s(net, truth, s_pipe)) > 40
    assert all(r == "building S from the network file (given)" for r in ent.result.reason)


def test_both_heads_measured_changes_no_pipe_and_gives_buildings(exact_solver: None) -> None:
    """Heads at both sides of every entrance: each side is estimated as without entrances
    (identical numbers) and every building's S comes straight from its entrance."""
    seed = 11
    net, s_pipe = _tree(seed)
    truth = _truth(net, seed, internal_spread=0.4)
    cond = conditions_from_solver(
        truth, 4, seed, heads_at=station_and_entrances(net), record_openings=True
    )
    est = estimate_network(net, cond)
    off = estimate_network(net, cond, entrances="off")
    for (side, res), (_, ref) in zip(est.sides, off.sides, strict=True):
        assert res.method == ref.method == "partial-tree", side
        np.testing.assert_array_equal(res.s_m_per_m3h2, ref.s_m_per_m3h2)
        np.testing.assert_array_equal(res.identifiable, ref.identifiable)
    ent = est.entrances.result
    assert ent.identifiable.all(), ent.message
    _check_exact(est, _true_s(net, truth, s_pipe))


def test_openings_never_change(exact_solver: None) -> None:
    """Constant openings, three pump speeds (proportional conditions): the valve factor only
    scales S_valve·G², which the pipes and buildings in series with the valves absorb: not
    identifiable, and the report says why. One entrance with both heads measured pins it."""
    seed = 3
    net, _ = _tree(seed)
    truth = _truth(net, seed, kvs_scale=0.9)
    heads = {net.station.supply_node, net.station.return_node} | _supply_subset(net, seed)
    kw = {"record_openings": True, "constant_openings": True, "pump_speeds": [1.0, 0.85, 0.7]}
    cond = conditions_from_solver(truth, 3, seed, heads_at=heads, **kw)
    est = estimate_network(net, cond, entrances="factor")
    ent = est.entrances
    assert not ent.factor_identifiable
    assert "openings never change" in ent.factor_reason
    report = [r for _, res in est.sides for r in res.reason] + list(ent.result.reason)
    assert any("coupled with the valve factor (openings never change)" in r for r in report)
    assert any("scale one flow distribution" in r for r in report)
    # one entrance with both heads: c = 1/0.9² directly, even with constant openings
    e0 = net.entrances[0]
    cond2 = conditions_from_solver(
        truth, 3, seed, heads_at=heads | {e0.supply_node, e0.return_node}, **kw
    )
    ent2 = estimate_network(net, cond2, entrances="factor").entrances
    assert ent2.factor_identifiable, ent2.factor_reason
    assert abs(ent2.factor * 0.81 - 1) < EXACT
    # internal mode: that entrance's building comes out directly, with the valve's error in it
    # (S_int + (c − 1)·S_valve at its fixed opening: keep c = 1 only for trusted valve data)
    ent_i = estimate_network(net, cond2, entrances="internal").entrances.result
    s_v = e0.valve.s_m_per_m3h2(net.mean_density_kg_m3, float(cond2.opening[e0.id][0]))
    expect = e0.internal_s_m_per_m3h2 + (1 / 0.81 - 1) * s_v
    assert ent_i.identifiable[0] and abs(ent_i.s_m_per_m3h2[0] / expect - 1) < EXACT


def test_looped_side_is_estimated_alone() -> None:
    """A looped network: no joint path system (not implemented for loops). Both sides are
    estimated as without entrances; entrances with both heads give their building, the
    others say why they have no equation."""
    net, s_pipe = lumped_network(60, 4, spread=0.3)
    rng = np.random.default_rng(4)
    ret = {e.return_node for e in net.entrances if rng.random() < 0.5}
    heads = station_and_entrances(net) - {e.return_node for e in net.entrances} | ret
    cond = conditions_from_solver(net, 8, 4, heads_at=heads, record_openings=True)
    est = estimate_network(net, cond)
    off = estimate_network(net, cond, entrances="off")
    for (_, res), (_, ref) in zip(est.sides, off.sides, strict=True):
        assert res.method == ref.method and res.method.startswith("partial-loop")
        np.testing.assert_array_equal(res.s_m_per_m3h2, ref.s_m_per_m3h2)
    ent = est.entrances.result
    for j, e in enumerate(net.entrances):
        if e.return_node in ret:
            assert ent.identifiable[j]
            assert abs(ent.s_m_per_m3h2[j] / e.internal_s_m_per_m3h2 - 1) < 1e-6
        else:
            assert "no head at its return node" in ent.reason[j]
            assert "needs that side to be a tree" in ent.reason[j]


def test_missing_opening_in_explicit_mode_is_named() -> None:
    net, _ = _tree(3, 60)
    cond = conditions_from_solver(net, 2, 3, record_openings=True)
    gone = net.entrances[1].id
    cond = dataclasses.replace(cond, opening={k: v for k, v in cond.opening.items() if k != gone})
    with pytest.raises(EntranceDataError, match=f"entrance '{gone}': no opening rows"):
        estimate_network(net, cond, entrances="internal")
    # auto: that entrance just gets no equation, and says so
    est = estimate_network(net, cond)
    ent = est.entrances.result
    assert ent.reason[ent.pipe_ids.index(gone)] == "no opening recorded: no entrance equation"
    bad = dict(cond.opening)
    bad[net.entrances[0].id] = np.array([0.5, 1.2])
    with pytest.raises(EntranceDataError, match="condition 'c1': opening 1.2 of entrance"):
        estimate_network(net, dataclasses.replace(cond, opening=bad))


def _cli_case(tmp_path: Path) -> tuple[Path, Path, Path]:
    net, _ = _tree(3, 60)
    heads = {net.station.supply_node, net.station.return_node} | _supply_subset(net, 3)
    cond = conditions_from_solver(net, 4, 3, heads_at=heads, record_openings=True)
    # the file's pressure sensors are the ones the conditions give heads for
    sensors = tuple(m for m in net.measurements if m.kind != "pressure" or m.at in heads)
    net = dataclasses.replace(net, measurements=sensors)
    net_path, cond_path = tmp_path / "net.json", tmp_path / "cond.csv"
    save_network(net, net_path)
    write_conditions(cond_path, cond)
    out = tmp_path / "est.json"
    return net_path, cond_path, out


def test_cli_prints_entrances(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    net_path, cond_path, out = _cli_case(tmp_path)
    rc = cli_main(["estimate", str(net_path), str(cond_path), "--json", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "entrances, building S without the valve, mode internal" in captured.out
    assert "entrance / group" in captured.out
    import json

    data = json.loads(out.read_text())
    assert data["entrances"]["mode"] == "internal"
    assert data["sides"]["return"]["method"] == "partial-tree+entrances"
    assert any(g["identifiable"] for g in data["entrances"]["groups"])


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        ("range", "opening 1.3 outside 0..1"),
        ("drop", "no opening for entrance"),
    ],
)
def test_cli_bad_opening_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture, edit: str, needle: str
) -> None:
    net_path, cond_path, out = _cli_case(tmp_path)
    lines = cond_path.read_text().splitlines()
    k = next(i for i, ln in enumerate(lines) if ",opening," in ln)
    if edit == "range":
        parts = lines[k].split(",")
        parts[-1] = "1.3"
        lines[k] = ",".join(parts)
    else:
        del lines[k]
    cond_path.write_text("\n".join(lines) + "\n")
    out.write_text("previous result\n")
    rc = cli_main(["estimate", str(net_path), str(cond_path), "--json", str(out)])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.startswith("Error: ") and needle in err and "line " in err, err
    if edit == "range":
        assert f"line {k + 1}: opening 1.3" in err
    assert out.read_text() == "previous result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cond.csv", "est.json", "net.json"]


def test_noisy_joint_system_keeps_the_supply_side_and_its_intervals() -> None:
    """5 mm head and 0.5 % flow noise: the joint system's entrance equations add information,
    so the supply side must come out at least 10 % more accurate than estimated alone, with
    intervals that keep their coverage. The station's heads enter every row, so their errors
    are unknowns of their own (generalised least squares); with the rows weighted as
    independent the gain was nil (3.69 % against 3.71 % mean error; 3.03 % now)."""
    seed = 3
    net, s_pipe = _tree(seed)
    truth = _truth(net, seed, internal_spread=0.4)
    heads = {net.station.supply_node, net.station.return_node} | _supply_subset(net, seed)
    cond = conditions_from_solver(truth, 8, seed, heads_at=heads, record_openings=True)
    true_s = _true_s(net, truth, s_pipe)
    sensors = SensorModel(head_abs_m=0.005, flow_rel=0.005)
    stats = {}
    for mode in ("off", "internal"):
        errs, inside = [], []
        for trial in range(3):
            rng = np.random.default_rng(50 + trial)
            noisy = dataclasses.replace(
                cond,
                head_m={
                    k: v + 0.005 * rng.standard_normal(v.shape) for k, v in cond.head_m.items()
                },
                flow_m3h={
                    k: v * (1 + 0.005 * rng.standard_normal(v.shape))
                    for k, v in cond.flow_m3h.items()
                },
            )
            sup = dict(estimate_network(net, noisy, sensors, entrances=mode).sides)["supply"]
            items = [
                (sup.s_m_per_m3h2[j], sup.s_low[j], sup.s_high[j], true_s[pid])
                for j, pid in enumerate(sup.pipe_ids)
                if sup.identifiable[j]
            ] + [
                (g.s_m_per_m3h2, g.s_low, g.s_high, sum(true_s[p] for p in g.pipe_ids))
                for g in sup.groups
                if g.identifiable
            ]
            errs += [abs(est / tru - 1) for est, _, _, tru in items]
            inside += [lo <= tru <= hi for _, lo, hi, tru in items]
        stats[mode] = (float(np.mean(errs)), float(np.mean(inside)), len(errs))
    assert stats["internal"][2] >= stats["off"][2] > 60
    assert stats["internal"][0] <= 0.9 * stats["off"][0], stats
    assert stats["internal"][1] >= 0.9, stats
