"""`evenheat sim --scenario NAME` runs and prints the summary."""

import json

from host.cli.main import main


def test_sim_command_prints_the_summary_and_writes_outputs(tmp_path, capsys):
    code = main(["sim", "--scenario", "tiny", "--days", "0.1", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "entrance return spread" in out and "below 18" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["scenario"] == "tiny" and summary["steps"] == 144
    assert (tmp_path / "series.npz").exists()


def test_unknown_scenario_is_an_error(capsys):
    assert main(["sim", "--scenario", "nowhere"]) == 1
    assert "Error:" in capsys.readouterr().err
