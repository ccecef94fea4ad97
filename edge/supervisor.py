"""The supervisor: feeds the hardware watchdog only while every task makes progress, and
keeps the heap figures.

`check()` runs as its own task (every second or so). It feeds the watchdog only when each
task has completed a run within `3 * period + grace_ms`; a task that hangs, or that fails
every time, stops the feeding and the watchdog resets the board (`watchdog_starved` is
emitted once, so the reason is in the event ring if the link gets it out first).
Every `heap_every` checks it also runs `gc.collect()` and records the free heap and the
lowest free heap seen.
"""

import gc

from edge import platform


class Supervisor:
    def __init__(self, clock, scheduler, watchdog, events=None, grace_ms=5000, heap_every=10):
        self._clock = clock
        self._sched = scheduler
        self._wdt = watchdog
        self._events = events
        self.grace_ms = grace_ms
        self.heap_free_b = 0
        self.heap_min_b = -1
        self.starving = ""
        self.feeds = 0
        self.heap_every = heap_every
        self._checks = 0

    def stalled_task(self):
        """Name of the first task without progress in time, or "" when all progress."""
        now = self._clock.ticks_ms()
        for task in self._sched.tasks:
            limit = 3 * task.period_ms + self.grace_ms
            if self._clock.ticks_diff(now, task.ok_ms) > limit:
                return task.name
        return ""

    def check(self):
        stalled = self.stalled_task()
        if stalled:
            if stalled != self.starving and self._events is not None:
                self._events.emit("watchdog_starved", "alarm", None, None, stalled)
            self.starving = stalled
        else:
            self.starving = ""
            if self._wdt is not None:
                self._wdt.feed()
            self.feeds += 1
        self._checks += 1
        if self._checks >= self.heap_every:
            self._checks = 0
            self.measure_heap()

    def measure_heap(self):
        if not platform.HAS_HEAP_INFO:
            return  # CPython: no heap figures, and a full collection is costly there
        gc.collect()
        free = platform.mem_free()
        self.heap_free_b = free
        if self.heap_min_b < 0 or free < self.heap_min_b:
            self.heap_min_b = free
