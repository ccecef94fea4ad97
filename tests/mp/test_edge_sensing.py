"""Sensing: median filter and plausibility on simulated probes (dual-runtime)."""

from edge import hal
from edge.clock import ManualClock
from edge.events import EventLog
from edge.sensing import Channel
from edge.simhw import SimProbe

SAMPLE_MS = 5000


def _rig(value=40.0, kind="temperature", noise=0.0):
    clock = ManualClock()
    source = [value]
    probe = SimProbe(source, 0, noise=noise, step=0.0)
    events = EventLog(clock)
    ch = Channel("t_ret", probe, kind, events=events)
    return clock, source, probe, ch, events


def _samples(clock, ch, n):
    for _ in range(n):
        ch.sample(clock.ticks_ms(), clock)
        clock.advance(SAMPLE_MS)


def test_channel_is_stale_until_enough_good_samples():
    clock, _, _, ch, _ = _rig()
    assert not ch.ok and ch.fault_name == "stale"
    _samples(clock, ch, 2)
    assert not ch.ok
    _samples(clock, ch, 1)
    assert ch.ok and ch.fault == hal.OK
    assert ch.value == 40.0


def test_median_rejects_a_single_spike():
    clock, source, _, ch, _ = _rig()
    _samples(clock, ch, 5)
    source[0] = 40.8  # within the rate limit, so it is accepted but outvoted
    _samples(clock, ch, 1)
    source[0] = 40.0
    _samples(clock, ch, 1)
    assert ch.value == 40.0 and ch.ok


def test_median_follows_noise_free_steps_and_averages_noise():
    clock, source, probe, ch, _ = _rig(noise=0.3)
    _samples(clock, ch, 20)
    assert abs(ch.value - 40.0) < 0.3
    source[0] = 40.5
    _samples(clock, ch, 5)
    assert abs(ch.value - 40.5) < 0.3


def test_open_and_shorted_probe_mark_the_channel_bad_after_debounce():
    for code, name in ((hal.F_OPEN, "open"), (hal.F_SHORT, "short"), (hal.F_DEVICE, "device")):
        clock, _, probe, ch, events = _rig()
        _samples(clock, ch, 5)
        probe.force_fault = code
        _samples(clock, ch, 2)
        assert ch.ok  # two bad samples are tolerated
        _samples(clock, ch, 1)
        assert not ch.ok and ch.fault_name == name
        assert "sensor_" + name in events.names()
        probe.force_fault = hal.OK
        _samples(clock, ch, 3)
        assert ch.ok
        assert events.names()[-1] == "sensor_ok"


def test_ds18b20_power_on_value_is_not_a_temperature():
    clock, _, probe, ch, _ = _rig()
    _samples(clock, ch, 5)
    probe.force_fault = hal.F_POWER_ON
    _samples(clock, ch, 3)
    assert not ch.ok and ch.fault_name == "power_on"
    assert ch.value == 40.0  # the last good value is kept, never 85


def test_out_of_range_reading_is_rejected():
    clock, source, _, ch, _ = _rig()
    _samples(clock, ch, 5)
    source[0] = 140.0
    _samples(clock, ch, 3)
    assert not ch.ok and ch.fault_name == "range"


def test_impossible_rate_of_change_is_rejected():
    clock, source, _, ch, _ = _rig()
    _samples(clock, ch, 5)
    source[0] = 55.0  # 15 K in 5 s
    _samples(clock, ch, 2)
    assert ch.ok and ch.value == 40.0  # rejected, not filtered in
    _samples(clock, ch, 1)
    assert not ch.ok and ch.fault_name == "rate"
    # a real change stays: after going bad the filter restarts on the new level
    _samples(clock, ch, 3)
    assert ch.ok and ch.value == 55.0


def test_stuck_value_is_detected():
    clock, _, probe, ch, _ = _rig()
    ch.stuck_ms = 60000
    probe.freeze = True
    _samples(clock, ch, 12)
    assert ch.ok
    _samples(clock, ch, 4)
    assert not ch.ok and ch.fault_name == "stuck"


def test_pressure_channel_has_its_own_range():
    clock, source, _, ch, _ = _rig(value=400.0, kind="pressure")
    _samples(clock, ch, 3)
    assert ch.ok and ch.value == 400.0
    source[0] = 3000.0
    _samples(clock, ch, 3)
    assert not ch.ok
