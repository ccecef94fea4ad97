"""Board time from NTP: at boot, then periodically, with a drift check.

Telemetry carries `time_synced: false` until the first successful sync, so the host knows a
record's `ts_s` may be wrong (a board that booted without network counts from its RTC's
power-on value). Each sync measures the drift (NTP time minus board time, seconds) before it
sets the clock; a drift above `drift_limit_s` on a periodic sync is worth an event: the RTC
crystal is off, or something stepped the clock.

(`edge/clock.py` is the injectable clock the whole program reads; this module only sets it.)

Sources are injected: on a board `board_sources(host)` uses `ntptime` and `machine.RTC`; tests
pass functions. Failures never raise: they are counted and retried after `retry_s`.
"""


class TimeSync:
    """NTP synchronisation on the injectable clock.

    clock:        edge.clock clock (ticks_ms, ticks_diff, time_s)
    ntp_time_s:   ntp_time_s() -> int Unix seconds from the time server (raises OSError)
    set_time_s:   set_time_s(t) sets the board's wall clock
    period_s:     resync interval after a success
    retry_s:      retry interval after a failure
    drift_limit_s: drift that makes an event
    """

    def __init__(self, clock, ntp_time_s, set_time_s, period_s=3600, retry_s=60, drift_limit_s=2):
        self.clock = clock
        self._ntp = ntp_time_s
        self._set = set_time_s
        self.period_ms = int(period_s * 1000)
        self.retry_ms = int(retry_s * 1000)
        self.drift_limit_s = drift_limit_s
        self.synced = False
        self.last_drift_s = None
        self.syncs = 0
        self.failures = 0
        self._due_ms = clock.ticks_ms()  # at boot: now

    def due(self):
        return self.clock.ticks_diff(self.clock.ticks_ms(), self._due_ms) >= 0

    def poll(self):
        """Sync when due. Returns an event dict for the caller to send, or None."""
        if not self.due():
            return None
        try:
            ntp_s = int(self._ntp())
        except Exception:  # noqa: BLE001 - no network, no server, a timeout: try again later
            self.failures += 1
            self._due_ms = self.clock.ticks_add(self.clock.ticks_ms(), self.retry_ms)
            return None
        drift_s = ntp_s - self.clock.time_s()
        self._set(ntp_s)
        first = not self.synced
        self.synced = True
        self.syncs += 1
        self.last_drift_s = drift_s
        self._due_ms = self.clock.ticks_add(self.clock.ticks_ms(), self.period_ms)
        if first:
            return {
                "event": "time_sync",
                "severity": "info",
                "value": drift_s,
                "detail": "clock set from NTP",
            }
        if abs(drift_s) > self.drift_limit_s:
            return {
                "event": "time_sync",
                "severity": "warning",
                "value": drift_s,
                "detail": "clock drifted {} s since the last sync".format(drift_s),
            }
        return None


def board_sources(host=None):
    """(ntp_time_s, set_time_s) for a MicroPython board: ntptime and the RTC."""
    import time

    import machine
    import ntptime

    if host:
        ntptime.host = host

    def ntp_time_s():
        t = ntptime.time()
        # ntptime counts from the port's epoch; time.gmtime(0) tells which.
        return t if time.gmtime(0)[0] == 1970 else t + 946684800

    def set_time_s(t_s):
        epoch_t = t_s if time.gmtime(0)[0] == 1970 else t_s - 946684800
        tm = time.gmtime(epoch_t)
        machine.RTC().datetime((tm[0], tm[1], tm[2], tm[6] + 1, tm[3], tm[4], tm[5], 0))

    return ntp_time_s, set_time_s
