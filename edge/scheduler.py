"""A cooperative scheduler of periodic tasks, with the progress record the watchdog needs.

`add(name, period_ms, fn)` registers a task; `poll()` runs every task that is due and
returns the milliseconds until the next one is due, so the main loop can sleep that long (on a
board) or the simulator can advance its clock that far. A task function may return a number
to ask for its next run sooner or later than its period (the positioner runs every 100 ms
while a valve moves, every second otherwise).

Each task boundary catches `Exception`: the error is counted, reported as an event
(`task_error`, first occurrences only) and the task runs again next period. `ok_ms` is the
time of each task's last successful run, which the supervisor checks before feeding the
watchdog.
"""


class Task:
    def __init__(self, name, period_ms, fn, now_ms):
        self.name = name
        self.period_ms = period_ms
        self.fn = fn
        self.due_ms = now_ms
        self.ok_ms = now_ms
        self.runs = 0
        self.errors = 0
        self.last_error = ""


class Scheduler:
    def __init__(self, clock, events=None):
        self._clock = clock
        self._events = events
        self.tasks = []  # type: list

    def add(self, name, period_ms, fn, first_in_ms=0):
        task = Task(name, period_ms, fn, self._clock.ticks_ms())
        task.due_ms = self._clock.ticks_add(task.due_ms, first_in_ms)
        self.tasks.append(task)
        return task

    def get(self, name):
        for task in self.tasks:
            if task.name == name:
                return task
        return None

    def set_period(self, name, period_ms):
        task = self.get(name)
        if task is not None and task.period_ms != period_ms:
            task.period_ms = period_ms
            task.due_ms = self._clock.ticks_add(self._clock.ticks_ms(), period_ms)

    def poll(self):
        clock = self._clock
        now = clock.ticks_ms()
        wait = 60000
        for task in self.tasks:
            if clock.ticks_diff(task.due_ms, now) <= 0:
                next_ms = task.period_ms
                try:
                    asked = task.fn()
                    task.runs += 1
                    task.ok_ms = now
                    if asked is not None:
                        next_ms = asked
                except Exception as exc:  # a task boundary: count, report, carry on
                    task.errors += 1
                    task.last_error = repr(exc)
                    if self._events is not None and task.errors <= 3:
                        self._events.emit(
                            "task_error",
                            "warning",
                            None,
                            task.errors,
                            task.name + ": " + task.last_error,
                        )
                task.due_ms = clock.ticks_add(now, next_ms)
            left = clock.ticks_diff(task.due_ms, now)
            if left < wait:
                wait = left
        return max(wait, 0)
