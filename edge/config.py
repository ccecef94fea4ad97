"""Configuration and targets: defaults, validation and merging.

Field names and ranges are the protocol's (shared/protocol.py, desired/config and
desired/targets), so a desired-state message from the host maps 1:1 onto what is stored here:

  collection_period_s  telemetry record period          control_period_s  PI period
  precision_c          deadband on return temperature   kp_pct_per_c, ti_s  PI tuning
  opening_min_pct, opening_max_pct  output limits       failsafe_opening_pct  bad probe
  rate_limit_pct       largest change per control period

Targets: valve id -> {"t_return_c": degC, "opening_ff_pct": % or None,
"manual_opening_pct": % or None} (a manual opening set by an operator suspends the valve's
PI loop; t_return_c is the target it resumes with once a later entry leaves it out).
Validation reuses `shared.protocol.validate`; a refusal raises ConfigError naming the field.
"""

from shared import protocol

CONFIG_FIELDS = (
    "collection_period_s",
    "control_period_s",
    "precision_c",
    "kp_pct_per_c",
    "ti_s",
    "opening_min_pct",
    "opening_max_pct",
    "failsafe_opening_pct",
    "rate_limit_pct",
)

DEFAULTS = {
    "collection_period_s": 60,
    "control_period_s": 300,
    "precision_c": 0.5,
    "kp_pct_per_c": 4.0,
    "ti_s": 1800.0,
    "opening_min_pct": 5.0,
    "opening_max_pct": 100.0,
    "failsafe_opening_pct": 40.0,
    "rate_limit_pct": 5.0,
}

DEFAULT_T_RETURN_C = 40.0
ENTRANCE_VALVE = "entrance"
ENTRANCE_ABOVE_HOUSEHOLDS_K = 5.0


class ConfigError(ValueError):
    """A configuration or targets update that was refused; nothing was changed."""

    def __init__(self, reason, detail=""):
        super().__init__(reason + (": " + detail if detail else ""))
        self.reason = reason
        self.detail = detail


def _check(kind, msg):
    """protocol.validate, with its refusal turned into a ConfigError."""
    error = None
    try:
        protocol.validate(kind, msg)
    except protocol.ProtocolError as exc:
        error = ConfigError(exc.reason, exc.detail)
    if error is not None:  # raised here: MicroPython has no exception chaining
        raise error


def defaults(board):
    """Default configuration of a board: DEFAULTS with the board's fail-safe opening."""
    cfg = dict(DEFAULTS)
    cfg["failsafe_opening_pct"] = board["failsafe_opening_pct"]
    cfg["version"] = 0
    return cfg


def merged(current, changes):
    """current updated with the known fields of changes, validated; current is untouched."""
    cfg = dict(current)
    for name in CONFIG_FIELDS:
        if name in changes:
            cfg[name] = changes[name]
    if "version" in changes:
        cfg["version"] = changes["version"]
    msg = {"v": protocol.SCHEMA_VERSION, "version": max(1, cfg.get("version", 0)), "ts_s": 0}
    for name in CONFIG_FIELDS:
        msg[name] = cfg[name]
    _check(protocol.CONFIG, msg)
    return cfg


def default_targets(board):
    """Targets from the board definition's "targets", else DEFAULT_T_RETURN_C, and for the
    entrance valve of a board that also drives household valves ENTRANCE_ABOVE_HOUSEHOLDS_K
    more: the household valves throttle, the entrance valve stays open instead of throttling
    the same water a second time (rooms then recover as fast as the households allow)."""
    out = {}
    local = board.get("targets", {})
    valves = board["valves"] + board.get("rs485", {}).get("valves", [])
    households = len(valves) > 1
    for valve in valves:
        vid = valve["id"]
        t = local.get(vid, {})
        default = DEFAULT_T_RETURN_C
        if households and vid == ENTRANCE_VALVE:
            default += ENTRANCE_ABOVE_HOUSEHOLDS_K
        out[vid] = {
            "t_return_c": t.get("t_return_c", default),
            "opening_ff_pct": t.get("opening_ff_pct"),
        }
    return out


def merged_targets(current, changes, valve_ids):
    """current targets updated with changes ({id: {...}}), validated; current is untouched."""
    for vid in changes:
        if vid not in valve_ids:
            raise ConfigError("value", "targets.{}: no valve with this id".format(vid))
    msg = {"v": protocol.SCHEMA_VERSION, "version": 1, "ts_s": 0, "targets": changes}
    _check(protocol.TARGETS, msg)
    out = {}
    for vid in current:
        out[vid] = dict(current[vid])
    for vid in changes:
        # an entry replaces the valve's whole target: leaving manual_opening_pct out of it
        # (or null) releases a manual opening; a valve without an entry keeps what it had
        out[vid] = {
            "t_return_c": changes[vid]["t_return_c"],
            "opening_ff_pct": changes[vid].get("opening_ff_pct"),
            "manual_opening_pct": changes[vid].get("manual_opening_pct"),
        }
    return out
