"""Firmware benchmark: heap and time of one control cycle with 33 valves, on MicroPython.

Run with the project's CPython: `.venv/bin/python bench/firmware.py [--cycles N]`. It starts
the real MicroPython unix port (tests.micropython.run_script) on this same file, which then
builds the board program (edge.app.App) for a simulated entrance with the entrance valve and
32 household valves and measures:

- heap in use after a control cycle (gc.collect(), then gc.mem_alloc()): the whole program,
  and the part the board program itself holds (after minus before building it);
- heap growth over N control cycles (default 10,000), again after gc.collect();
- garbage one cycle leaves for the collector (mem_alloc before and after, no collection);
- time per control cycle (ticks_us), and the same for the peer: the same control cycle
  written as a plain per-valve scalar loop (read the channel, PI with deadband, limits, rate
  limit and anti-windup, command the positioner), checked to give the same openings.

The vectorised cycle runs on the ulab stand-in here (edge/ulab_standin.py, pure Python), not
on real ulab on an ESP32, where the array operations are C loops: the times are those of the
unix port on this machine and the ratio says nothing about ulab's speed. Heap on the 64-bit
unix port is roughly twice what the same objects take on a 32-bit ESP32.
"""

import sys

N_VALVES = 33
GOAL_HEAP_B = 40 * 1024


def _scalar_cycle(app, state, dt_s):
    """The peer: the control cycle as one loop over valves with Python floats."""
    cfg = app.config
    kp = float(cfg["kp_pct_per_c"])
    ki = kp / float(cfg["ti_s"]) * dt_s
    prec = float(cfg["precision_c"])
    lo_lim = float(cfg["opening_min_pct"])
    hi_lim = float(cfg["opening_max_pct"])
    rate = float(cfg["rate_limit_pct"])
    integral, output, target, ff, failsafe = state
    for i in range(app.n):
        ch = app._probe[i]
        pos = app.positioners[i]
        prev = output[i]
        if not ch.ok:
            output[i] = failsafe[i]
        elif pos.ok():
            e = target[i] - ch.value
            p = kp * e
            if e * e <= prec * prec:
                integral[i] = prev - ff[i] - p
            else:
                lo = min(max(prev - rate, lo_lim), hi_lim)
                hi = min(max(prev + rate, lo_lim), hi_lim)
                i_new = integral[i] + ki * e
                i_new = min(max(i_new, lo_lim - ff[i] - p), hi_lim - ff[i] - p)
                integral[i] = i_new
                output[i] = min(max(ff[i] + p + i_new, lo), hi)
        pos.command(output[i])


def _set_inputs(app, k):
    app.clock.advance(app.config["control_period_s"] * 1000)
    # deterministic return temperatures around the targets, one probe failing now and then
    for i in range(app.n):
        ch = app._probe[i]
        ch.value = 40.0 + ((k * 7 + i * 13) % 41 - 20) * 0.1
        ch.ok = (k + i) % 97 != 0


def run_on_micropython(cycles):
    import gc
    import json
    import time

    from edge import boarddef, simhw
    from edge.app import App

    gc.collect()
    base_b = gc.mem_alloc()  # the interpreter and the imported modules' bytecode
    board = boarddef.validate(simhw.sim_board_def(N_VALVES))
    sb = simhw.SimBoard(board, fs_root="/tmp/evenheat-bench-")
    gc.collect()
    hw_b = gc.mem_alloc()  # the board definition and the simulated hardware and plant
    app = App(board, sb.hw)
    app.state_every = 1 << 30  # flash writes are I/O, not the control cycle
    for ch in app._probe:
        ch.ok = True
    app._control()
    gc.collect()
    after_one_b = gc.mem_alloc()
    before = gc.mem_alloc()
    _set_inputs(app, 1)
    app._control()
    garbage_b = gc.mem_alloc() - before
    gc.collect()
    t0 = time.ticks_us()
    for k in range(cycles):
        _set_inputs(app, k)
        app._control()
    vec_us = time.ticks_diff(time.ticks_us(), t0) / cycles
    gc.collect()
    after_n_b = gc.mem_alloc()
    for k in range(cycles):  # growth that keeps going would show again here
        _set_inputs(app, k)
        app._control()
    gc.collect()
    after_2n_b = gc.mem_alloc()

    # the scalar peer, from the same starting state, on the same inputs
    bal = app.balancer
    state = (
        [float(x) for x in bal.integral],
        [float(x) for x in bal.output],
        [float(x) for x in bal.target],
        [float(x) for x in bal.ff],
        [float(x) for x in bal.failsafe],
    )
    dt_s = float(app.config["control_period_s"])
    check = 200
    for k in range(check):  # same openings?
        _set_inputs(app, k)
        app._control()
        _scalar_cycle(app, state, dt_s)
    worst = 0.0
    for i in range(app.n):
        worst = max(worst, abs(float(bal.output[i]) - state[1][i]))
    gc.collect()
    t0 = time.ticks_us()
    for k in range(cycles):
        _set_inputs(app, k)
        _scalar_cycle(app, state, dt_s)
    sca_us = time.ticks_diff(time.ticks_us(), t0) / cycles
    print(
        json.dumps(
            {
                "valves": app.n,
                "cycles": cycles,
                "heap_in_use_after_cycle_b": after_one_b,
                "heap_modules_b": base_b,
                "heap_board_and_simhw_b": hw_b - base_b,
                "heap_program_b": after_one_b - hw_b,
                "heap_growth_b": after_n_b - after_one_b,
                "heap_growth_second_b": after_2n_b - after_n_b,
                "garbage_per_cycle_b": garbage_b,
                "vector_cycle_us": vec_us,
                "scalar_cycle_us": sca_us,
                "max_opening_difference_pct": worst,
            }
        )
    )


def main(argv):
    import argparse
    import json
    import time
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.micropython import run_script

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=10000)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    proc = run_script(Path(__file__), "--mp", str(args.cycles), heap="2M", timeout_s=1800)
    if proc.returncode != 0:
        print(proc.stdout + proc.stderr, file=sys.stderr)
        return 1
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    wall_s = time.perf_counter() - t0
    kib = 1024.0
    print(
        "Firmware control cycle on MicroPython (unix port, ulab stand-in), "
        "{} valves, {} cycles".format(r["valves"], r["cycles"])
    )
    print(
        "  heap in use after a control cycle  {:8.1f} KiB (whole interpreter heap)".format(
            r["heap_in_use_after_cycle_b"] / kib
        )
    )
    print(
        "  of which interpreter + module code {:8.1f} KiB (frozen in flash on a board)".format(
            r["heap_modules_b"] / kib
        )
    )
    print(
        "  of which board dict + sim hardware {:8.1f} KiB".format(
            r["heap_board_and_simhw_b"] / kib
        )
    )
    print(
        "  of which the board program (App)   {:8.1f} KiB (goal <= {:.0f} KiB: {})".format(
            r["heap_program_b"] / kib,
            GOAL_HEAP_B / kib,
            "met" if r["heap_program_b"] <= GOAL_HEAP_B else "NOT met",
        )
    )
    print(
        "  heap change over {} cycles, then {} more  {:+d} B, {:+d} B".format(
            r["cycles"], r["cycles"], r["heap_growth_b"], r["heap_growth_second_b"]
        )
    )
    print(
        "  garbage left per cycle             {:8.1f} KiB".format(r["garbage_per_cycle_b"] / kib)
    )
    print("  time per cycle, vectorised (stand-in) {:8.0f} us".format(r["vector_cycle_us"]))
    print("  time per cycle, scalar peer           {:8.0f} us".format(r["scalar_cycle_us"]))
    print(
        "  ratio vectorised / scalar             {:8.2f}".format(
            r["vector_cycle_us"] / r["scalar_cycle_us"]
        )
    )
    print("  same openings: max difference {:.2e} %".format(r["max_opening_difference_pct"]))
    print(f"  wall time {wall_s:.1f} s")
    return 0


if __name__ == "__main__":
    if sys.implementation.name == "micropython":
        run_on_micropython(int(sys.argv[2]) if len(sys.argv) > 2 else 10000)
    else:
        sys.exit(main(sys.argv[1:]))
