"""Entry point on a board. The board's own /main.py is two lines:

    import edge.main
    edge.main.main()

Order of work (MicroPython's constrained.rst): emergency exception buffer, the board
definition, the boot counter, hardware, then the program. A broken board definition gets
its error (naming the field) printed and kept as an event, no actuator pin is configured,
so every motor stays unpowered, and the board idles with the watchdog fed until it is
reflashed or reconfigured (the part 2 link will publish the error). An unexpected exception
in the main loop is recorded in boot.json's crash count by the next boot, and the board resets.
"""

BOARD_FILE = "board.json"
FS_ROOT = ""


def main(board_file=BOARD_FILE, fs_root=FS_ROOT):
    import micropython

    micropython.alloc_emergency_exception_buf(100)
    import machine

    from edge import boarddef
    from edge.clock import BoardClock
    from edge.events import EventLog

    clock = BoardClock()
    events = EventLog(clock)
    try:
        app, _board_link = build(board_file, fs_root, clock, events)
    except boarddef.BoardError as exc:
        print(exc)
        events.emit("board_invalid", "alarm", None, None, str(exc))
        _idle_safe(clock, exc)
        return
    hw = app.hw
    try:
        while True:
            clock.sleep_ms(min(app.poll(), 100))
    except Exception as exc:  # the last line of defence: stop motors, report, reset
        hw.safe_state()
        import sys

        show = getattr(sys, "print_exception", None)  # MicroPython's traceback printer
        if show is not None:
            show(exc)
        else:
            print(repr(exc))
        machine.reset()


def build(board_file, fs_root, clock, events):
    """The running board: (app, board_link). Raises boarddef.BoardError before touching any
    pin when the board definition is broken.

    board_link is the MQTT side (edge.connected) when flash.sh wrote unit.json, else None:
    the board then balances alone on its local configuration.
    """
    import machine

    from edge import boarddef, connected, hwbuild, platform
    from edge.app import App
    from edge.safemode import BootCounter

    board = boarddef.load(board_file)
    wdt = machine.WDT(timeout=board["watchdog_ms"])
    boot = BootCounter(fs_root + "boot.json", events)
    safe = boot.boot(platform.reset_cause())
    hw = hwbuild.build(board, clock)
    hw.watchdog = wdt
    hw.fs_root = fs_root
    app = App(board, hw, events, safe_mode=safe, boot=boot)
    return app, connected.attach(app, board, fs_root)


def _idle_safe(clock, reason):
    """No valid board definition: touch no pin, print the reason now and then."""
    while True:
        clock.sleep_ms(60000)
        print(reason)
