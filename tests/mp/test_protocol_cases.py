"""Protocol contract cases, run under CPython (pytest) and the real MicroPython unix port.

Every documented example must round-trip; every malformed, truncated, oversized, wrong-type,
out-of-range or non-finite payload must be refused with the documented reason code.
"""

from mpcheck import load_json, raises

from shared import protocol as p

EXAMPLES = load_json("docs/protocol-examples.json")


def copy(obj):
    """A deep copy through JSON (no copy module on every MicroPython port)."""
    import json

    return json.loads(json.dumps(obj))


def reason_of(kind, msg):
    return raises(p.ProtocolError, p.validate, kind, msg).reason


def test_every_kind_has_a_documented_example():
    for kind in p.KINDS:
        assert kind in EXAMPLES, kind


def test_examples_round_trip_through_encode_and_decode():
    for kind in p.KINDS:
        data = p.encode(kind, EXAMPLES[kind])
        assert type(data) is bytes
        assert len(data) <= p.MAX_PAYLOAD_BYTES
        assert p.decode(kind, data) == EXAMPLES[kind]


def test_encode_adds_the_schema_version_without_touching_the_caller_dict():
    msg = copy(EXAMPLES["ack"])
    del msg["v"]
    data = p.encode(p.ACK, msg)
    assert "v" not in msg
    assert p.decode(p.ACK, data)["v"] == p.SCHEMA_VERSION


def test_decode_accepts_bytes_bytearray_and_str():
    data = p.encode(p.STATE, EXAMPLES["state"])
    for payload in (data, bytearray(data), data.decode("utf-8")):
        assert p.decode(p.STATE, payload)["status"] == "online"


def test_unknown_fields_are_tolerated_for_forward_compatibility():
    msg = copy(EXAMPLES["tele"])
    msg["future_field"] = {"anything": [1, 2]}
    msg["valves"][0]["new_probe_c"] = 12.5
    assert p.decode(p.TELE, p.encode(p.TELE, msg))["future_field"] == {"anything": [1, 2]}


def test_missing_required_fields_are_refused_with_their_name():
    for kind, field in (
        (p.TELE, "seq"),
        (p.TELE, "ts_s"),
        (p.TARGETS, "version"),
        (p.ACK, "result"),
        (p.EVENT, "event"),
        (p.STATE, "status"),
    ):
        msg = copy(EXAMPLES[kind])
        del msg[field]
        err = raises(p.ProtocolError, p.validate, kind, msg)
        assert err.reason == "missing", (kind, field, err.reason)
        assert field in err.detail


def test_nested_missing_field_names_its_path():
    msg = copy(EXAMPLES["tele"])
    del msg["valves"][1]["opening_cmd_pct"]
    err = raises(p.ProtocolError, p.validate, p.TELE, msg)
    assert err.reason == "missing"
    assert err.detail == "valves[1].opening_cmd_pct"


def test_wrong_types_are_refused():
    cases = (
        (p.TELE, "seq", "4711"),
        (p.TELE, "seq", 4711.0),
        (p.TELE, "seq", True),
        (p.TELE, "valves", {"id": "x"}),
        (p.TELE, "time_synced", 1),
        (p.CONFIG, "precision_c", "0.3"),
        (p.CONFIG, "precision_c", True),
        (p.TARGETS, "targets", []),
        (p.STATE, "fw", 1),
    )
    for kind, field, value in cases:
        msg = copy(EXAMPLES[kind])
        msg[field] = value
        assert reason_of(kind, msg) == "type", (kind, field, value)


def test_out_of_range_values_are_refused():
    cases = (
        (p.CONFIG, "control_period_s", 5),
        (p.CONFIG, "opening_max_pct", 100.5),
        (p.CONFIG, "precision_c", 0.0),
        (p.TELE, "seq", -1),
        (p.TELE, "ts_s", p.MAX_TS_S + 1),
        (p.TARGETS, "version", 0),
    )
    for kind, field, value in cases:
        msg = copy(EXAMPLES[kind])
        msg[field] = value
        assert reason_of(kind, msg) == "range", (kind, field, value)
    msg = copy(EXAMPLES["desired/targets"])
    msg["targets"]["f6-west"]["manual_opening_pct"] = 101.0
    err = raises(p.ProtocolError, p.validate, p.TARGETS, msg)
    assert err.reason == "range" and "manual_opening_pct" in err.detail
    msg["targets"]["f6-west"]["manual_opening_pct"] = None  # null: no manual opening
    p.validate(p.TARGETS, msg)
    msg = copy(EXAMPLES["tele"])
    msg["valves"][0]["t_return_c"] = 400.0
    err = raises(p.ProtocolError, p.validate, p.TELE, msg)
    assert err.reason == "range" and "valves[0].t_return_c" in err.detail


def test_non_finite_numbers_are_refused():
    for value in (float("nan"), float("inf"), float("-inf")):
        msg = copy(EXAMPLES["tele"])
        msg["valves"][0]["t_return_c"] = value
        assert reason_of(p.TELE, msg) == "nan"
        assert raises(p.ProtocolError, p.encode, p.TELE, msg).reason == "nan"
    # 1e999 parses to infinity on both runtimes and must not slip through.
    data = p.encode(p.CONFIG, EXAMPLES["desired/config"]).replace(b"0.3", b"1e999")
    assert raises(p.ProtocolError, p.decode, p.CONFIG, data).reason == "nan"


def test_nan_literals_in_json_are_refused():
    data = p.encode(p.TELE, EXAMPLES["tele"]).replace(b"41.6", b"NaN")
    # CPython's json parses the literal (then validation says "nan"); MicroPython's refuses it.
    assert raises(p.ProtocolError, p.decode, p.TELE, data).reason in ("nan", "json")


def test_null_is_allowed_only_where_a_sensor_may_fail():
    msg = copy(EXAMPLES["tele"])
    msg["entrance"]["flow_m3h"] = None
    p.validate(p.TELE, msg)
    msg["valves"][0]["opening_cmd_pct"] = None
    assert reason_of(p.TELE, msg) == "type"


def test_enumerations_and_identifiers_are_checked():
    msg = copy(EXAMPLES["ack"])
    msg["result"] = "maybe"
    assert reason_of(p.ACK, msg) == "value"
    msg = copy(EXAMPLES["tele"])
    msg["valves"][0]["id"] = "bad/id"
    assert reason_of(p.TELE, msg) == "value"
    msg["valves"][0]["id"] = "x" * 33
    assert reason_of(p.TELE, msg) == "range"
    msg = copy(EXAMPLES["desired/targets"])
    msg["targets"]["#"] = {"t_return_c": 40}
    assert reason_of(p.TARGETS, msg) == "value"


def test_inconsistent_fields_are_refused():
    msg = copy(EXAMPLES["desired/config"])
    msg["opening_min_pct"] = 80
    msg["opening_max_pct"] = 20
    assert reason_of(p.CONFIG, msg) == "inconsistent"
    msg = copy(EXAMPLES["desired/config"])
    msg["alarm_t_high_c"] = 70  # above very-high
    assert reason_of(p.CONFIG, msg) == "inconsistent"
    msg = copy(EXAMPLES["desired/config"])
    msg["collection_period_s"] = 1200
    msg["control_period_s"] = 600
    assert reason_of(p.CONFIG, msg) == "inconsistent"
    msg = copy(EXAMPLES["tele"])
    msg["valves"][1]["id"] = msg["valves"][0]["id"]
    assert reason_of(p.TELE, msg) == "inconsistent"
    msg = copy(EXAMPLES["ack"])
    msg["result"] = "refused"
    assert reason_of(p.ACK, msg) == "missing"
    msg["reason"] = "opening_min_pct above opening_max_pct"
    p.validate(p.ACK, msg)


def test_schema_version_is_required_and_checked():
    msg = copy(EXAMPLES["state"])
    del msg["v"]
    assert reason_of(p.STATE, msg) == "version"
    for bad in (2, 0, "1", True, 1.0):
        msg["v"] = bad
        assert reason_of(p.STATE, msg) == "version", bad


def test_malformed_and_truncated_payloads_are_refused():
    good = p.encode(p.TELE, EXAMPLES["tele"])
    for cut in (0, 1, 10, len(good) // 2, len(good) - 1):
        assert raises(p.ProtocolError, p.decode, p.TELE, good[:cut]).reason == "json", cut
    for junk in (b"[1, 2, 3]", b"42", b"null", b'"text"', b"{'single': 1}", b"{}x"):
        assert raises(p.ProtocolError, p.decode, p.TELE, junk).reason in ("json", "type"), junk
    assert raises(p.ProtocolError, p.decode, p.TELE, b"\xff\xfe{}").reason == "encoding"


def test_oversized_payloads_are_refused_before_parsing():
    big = b'{"v": 1, "pad": "' + b"x" * p.MAX_PAYLOAD_BYTES + b'"}'
    assert raises(p.ProtocolError, p.decode, p.TELE, big).reason == "size"
    msg = copy(EXAMPLES["event"])
    msg["detail"] = "y" * 150
    msg["padding"] = "z" * p.MAX_PAYLOAD_BYTES
    assert raises(p.ProtocolError, p.encode, p.EVENT, msg).reason == "size"


def test_too_many_valves_are_refused():
    msg = copy(EXAMPLES["tele"])
    template = msg["valves"][0]
    msg["valves"] = []
    for i in range(p.MAX_VALVES + 1):
        valve = dict(template)
        valve["id"] = "v{}".format(i)
        msg["valves"].append(valve)
    assert reason_of(p.TELE, msg) == "range"
    msg["valves"].pop()
    data = p.encode(p.TELE, msg)  # a full board still fits in one payload
    assert len(data) <= p.MAX_PAYLOAD_BYTES


def test_unknown_kind_is_refused():
    assert raises(p.ProtocolError, p.decode, "desired/whatever", b"{}").reason == "kind"
    assert raises(p.ProtocolError, p.validate, "tele2", {"v": 1}).reason == "kind"


def test_topics_are_built_and_parsed():
    name = p.topic("estate-7", "b12-e2", p.TARGETS)
    assert name == "evenheat/v1/estate-7/b12-e2/desired/targets"
    assert p.parse_topic(name) == ("estate-7", "b12-e2", p.TARGETS)
    assert p.parse_topic(name.encode()) == ("estate-7", "b12-e2", p.TARGETS)
    for kind in p.KINDS:
        assert p.parse_topic(p.topic("s", "u", kind))[2] == kind


def test_foreign_topics_are_refused():
    for name, reason in (
        ("other/v1/s/u/tele", "topic"),
        ("evenheat/v2/s/u/tele", "topic"),
        ("evenheat/v1/s/tele", "topic"),
        ("evenheat/v1/s/u/telemetry", "kind"),
        ("evenheat/v1/s/u+/tele", "topic"),
        ("evenheat/v1//u/tele", "topic"),
    ):
        assert raises(p.ProtocolError, p.parse_topic, name).reason == reason, name
    assert raises(p.ProtocolError, p.topic, "s", "a/b", p.TELE).reason == "value"
    assert raises(p.ProtocolError, p.topic, "s", "u", "nope").reason == "kind"


def test_subscriptions_and_last_will():
    assert p.board_subscriptions("s", "u") == [
        "evenheat/v1/s/u/desired/targets",
        "evenheat/v1/s/u/desired/config",
        "evenheat/v1/s/u/desired/station",
    ]
    assert "evenheat/v1/+/+/tele" in p.host_subscriptions()
    assert len(p.host_subscriptions("s")) == len(p.UPLINK)
    will_topic, will_payload = p.last_will("s", "u")
    assert will_topic == "evenheat/v1/s/u/state"
    assert p.decode(p.STATE, will_payload)["status"] == "offline"


def test_delivery_rules_per_kind():
    for kind in p.KINDS:
        assert p.QOS[kind] == 1
    assert p.RETAIN[p.STATE] and p.RETAIN[p.TARGETS] and p.RETAIN[p.CONFIG]
    assert not (p.RETAIN[p.TELE] or p.RETAIN[p.EVENT] or p.RETAIN[p.ACK])


def test_error_is_a_value_error_with_reason_and_detail():
    err = raises(ValueError, p.decode, p.TELE, b"")
    assert isinstance(err, p.ProtocolError)
    assert err.reason in p.REASONS
    assert str(err).startswith(err.reason)


def test_room_readings_are_validated_like_every_other_field():
    good = copy(EXAMPLES["tele"])
    assert p.validate(p.TELE, good)["rooms"][1]["battery_pct"] == 76.0
    cases = (
        (("rooms", 0, "t_room_c"), "21.0", "type"),
        (("rooms", 0, "t_room_c"), 95.0, "range"),
        (("rooms", 0, "t_room_c"), float("nan"), "nan"),
        (("rooms", 1, "battery_pct"), 101.0, "range"),
        (("rooms", 1, "rssi_dbm"), 3.0, "range"),
        (("rooms", 0, "sensor"), "room/1", "value"),
        (("rooms", 0, "sensor_ok"), 1, "type"),
        (("rooms", 1, "ts_s"), 1763800001, "inconsistent"),  # newer than its record
        (("rooms", 1, "sensor"), "panel-f6-east", "inconsistent"),  # repeated
        (("entrance", "t_outdoor_c"), -70.0, "range"),
    )
    for path, value, reason in cases:
        msg = copy(good)
        obj = msg
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value
        assert reason_of(p.TELE, msg) == reason, (path, value)
    msg = copy(good)
    del msg["rooms"][0]["t_room_c"]
    err = raises(p.ProtocolError, p.validate, p.TELE, msg)
    assert (err.reason, err.detail) == ("missing", "rooms[0].t_room_c")
    msg = copy(good)
    msg["rooms"][0]["t_room_c"] = None  # a failed sensor is null
    assert p.validate(p.TELE, msg)["rooms"][0]["t_room_c"] is None
    msg["rooms"] = [{"sensor": "s%d" % i, "t_room_c": 20.0} for i in range(p.MAX_ROOMS + 1)]
    assert reason_of(p.TELE, msg) == "range"


def test_a_record_may_carry_rooms_only():
    msg = copy(EXAMPLES["tele"])
    msg["valves"] = []
    del msg["entrance"]
    assert p.decode(p.TELE, p.encode(p.TELE, msg))["rooms"][0]["sensor"] == "panel-f6-east"
