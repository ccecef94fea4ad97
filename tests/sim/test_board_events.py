"""A run's `board_events` counts every event the boards emitted, not only what is left in
each board's 32-event ring (simulated boards, in process)."""

from __future__ import annotations

from dataclasses import replace

from sim.host_strategy import HostDecision
from sim.runner import run
from sim.scenario import load_scenario


class Alternate:
    """Moves every entrance target between 40 and 41 degC every period."""

    period_s = 900.0

    def __init__(self) -> None:
        self.calls = 0

    def decide(self, now_s, records, meter_flow_m3h):
        self.calls += 1
        t = 40.0 + self.calls % 2
        return HostDecision({unit: {"entrance": {"t_return_c": t}} for unit in records})


def test_every_target_application_is_counted_beyond_the_ring():
    scn = load_scenario("tiny", days=0.5)
    strategy = Alternate()
    result = run(replace(scn, control="local"), strategy=strategy)
    boards = len(scn.estate.network.entrances)
    assert strategy.calls == 48
    assert result.board_events["targets_applied"] == 48 * boards  # > 32 per board
    assert result.board_events["boot"] == boards
