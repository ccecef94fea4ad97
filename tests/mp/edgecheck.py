"""Helpers for the dual-runtime edge tests (tests/mp/test_edge_*.py): temporary folders and
a simulated entrance board, the same on CPython and on the MicroPython unix port."""

import os

from edge import boarddef, simhw
from edge.app import App

_count = [0]
_made = []


def _remove_tree(path):
    for name in os.listdir(path):
        os.remove(path + "/" + name)
    os.rmdir(path)


def tmpdir():
    """A fresh empty folder; returned with a trailing slash, ready to prefix file names.

    Each test uses only its own folder, so the folders made before are removed here: at most
    one is left behind per process."""
    while _made:
        _remove_tree(_made.pop())
    try:
        import tempfile

        path = tempfile.mkdtemp(prefix="evenheat-edge-")
    except ImportError:  # MicroPython: no tempfile
        import time

        _count[0] += 1
        path = "/tmp/evenheat-edge-{}-{}".format(time.ticks_us(), _count[0])
        os.mkdir(path)
    _made.append(path)
    return path + "/"


def sim_entrance(n_valves=4, fs_root=None, ua=None, start_pct=50.0, **board_kw):
    """(SimBoard, board definition) for an entrance valve and n_valves - 1 households."""
    board = boarddef.validate(simhw.sim_board_def(n_valves, **board_kw))
    root = tmpdir() if fs_root is None else fs_root
    sb = simhw.SimBoard(
        board,
        ua=ua or [0.45, 0.35, 0.55, 0.5][:n_valves] + [0.5] * max(0, n_valves - 4),
        fs_root=root,
        start_pct=start_pct,
    )
    return sb, board


def fast_config(app, **changes):
    """A control period of 2 min and PI tuning fit for the simulated plant."""
    cfg = {"control_period_s": 120, "kp_pct_per_c": 5.0, "ti_s": 900.0, "collection_period_s": 60}
    cfg.update(changes)
    ok, reason = app.apply_config(cfg)
    assert ok, reason


def new_app(sb, board, **kw):
    return App(board, sb.hw, **kw)
