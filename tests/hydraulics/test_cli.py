"""The ``evenheat solve`` subcommand, run in-process."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

from host.cli.solve import register

NETWORKS = Path(__file__).resolve().parents[2] / "sim" / "networks"


def run(argv: list[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="evenheat")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    code = args.func(args, out, err)
    return code, out.getvalue(), err.getvalue()


def test_solve_prints_summary_and_writes_json(tmp_path: Path) -> None:
    target = tmp_path / "sol.json"
    code, out, err = run(["solve", str(NETWORKS / "tiny.json"), "--json", str(target)])
    assert code == 0, err
    assert "converged in" in out and "pump:" in out and "E3" in out
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert doc["success"] and set(doc["entrances"]) == {"E1", "E2", "E3"}
    assert doc["entrances"]["E1"]["flow_m3h"] > 0


def test_solve_reports_file_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"station": {}}', encoding="utf-8")
    code, out, err = run(["solve", str(bad)])
    assert code == 1 and out == ""
    assert err.startswith("Error: ") and "station.id" in err
