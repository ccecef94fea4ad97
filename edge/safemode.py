"""Safe mode after repeated crashes: a boot counter kept on flash.

At boot, `BootCounter.boot(reset_cause)` counts the boot as a crash when the previous run
ended before it marked itself stable, or when the watchdog reset the board; power-on starts
the count afresh. After `crash_limit` crashes in a row
the board boots in safe mode: valves to their fail-safe opening, no sensing or PI, only
configuration and the link (part 2), so a bad configuration or firmware bug cannot keep
resetting the board with valves moving. `stable()` (after `stable_ms` of running) writes
the counter back to zero. The file is written atomically (edge.persist).
"""

from edge import persist

CRASH_LIMIT = 3
STABLE_MS = 600000


class BootCounter:
    def __init__(self, path, events=None, crash_limit=CRASH_LIMIT):
        self.path = path
        self._events = events
        self.crash_limit = crash_limit
        self.crashes = 0
        self.boots = 0
        self.safe_mode = False
        self.marked_stable = False

    def boot(self, reset_cause):
        state = persist.load(self.path, {"crashes": 0, "boots": 0, "running": False}, self._events)
        crashes = state.get("crashes", 0)
        if reset_cause == "power_on":
            crashes = 0
        elif state.get("running", False) or reset_cause == "watchdog":
            crashes += 1  # the last run ended before it was marked stable, or hung
        self.crashes = crashes
        self.boots = state.get("boots", 0) + 1
        self.safe_mode = crashes >= self.crash_limit
        persist.save(self.path, {"crashes": crashes, "boots": self.boots, "running": True})
        if self.safe_mode and self._events is not None:
            self._events.emit(
                "safe_mode",
                "alarm",
                None,
                crashes,
                "{} crashes in a row (last reset: {})".format(crashes, reset_cause),
            )
        return self.safe_mode

    def stable(self):
        """The board ran long enough: the next reset is not a crash loop."""
        if not self.marked_stable:
            persist.save(self.path, {"crashes": 0, "boots": self.boots, "running": False})
            self.marked_stable = True
