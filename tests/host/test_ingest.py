"""Ingest against a real Mosquitto: storing, dedup, backfill, refusals, and fuzzing."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host.service.mqtt_link import Delivery
from host.service.runtime import Service
from shared import protocol as p
from tests.host.helpers import TS0, make_config, new_site, tele, tele_bytes, wait_until
from tests.mqtt_client import TestClient


@pytest.fixture
def board(mosquitto):
    client = TestClient(mosquitto.host, mosquitto.port)
    yield client
    client.close()


def stored(svc: Service, site: str, unit: str = "b1") -> list[int]:
    return [seq for seq, _ in svc.storage.message_seqs(site, unit)]


def test_telemetry_is_stored_with_its_records(service, board, site):
    board.publish(p.topic(site, "b1", p.TELE), tele_bytes(1, n_households=12))
    wait_until(lambda: service.ingest.metrics.stored_records == 13, what="13 records")
    rows = service.storage.query(site, "b1", "entrance", "flow_m3h", 0, 2**40)
    assert rows == [(TS0, 3.2)]
    assert service.storage.query(site, "b1", "h11", "t_return_c", 0, 2**40) == [(TS0, 39.0)]
    assert service.boards.online(site, "b1")


def test_duplicates_and_backfill_land_once_and_in_order(service, board, site):
    topic = p.topic(site, "b1", p.TELE)
    # Live records 10..14, then the outbox replays 5..9 (older ts_s, 40 days earlier),
    # and QoS 1 redelivers 12 and 7.
    for seq in range(10, 15):
        board.publish(topic, tele_bytes(seq, TS0 + 60 * seq))
    backfill = [(seq, TS0 - 40 * 86400 + 60 * seq) for seq in range(5, 10)]
    for seq, ts in backfill:
        board.publish(topic, tele_bytes(seq, ts))
    board.publish(topic, tele_bytes(12, TS0 + 720))
    board.publish(topic, tele_bytes(7, backfill[2][1]))
    wait_until(lambda: service.ingest.metrics.refused_total() == 2, what="2 replays refused")
    assert stored(service, site) == list(range(5, 15))
    series = service.storage.query(site, "b1", "entrance", "t_return_c", 0, 2**40)
    assert [t for t, _ in series] == sorted(
        [ts for _, ts in backfill] + [TS0 + 60 * s for s in range(10, 15)]
    )
    assert service.storage.refusals() == {(site, "b1", "replayed"): 2}
    assert service.ingest.metrics.refused[(site, "b1", "replayed")] == 2


def test_bad_messages_are_refused_and_counted_and_the_service_goes_on(service, board, site):
    topic = p.topic(site, "b1", p.TELE)
    oversized = b'{"v":1,"pad":"' + b"x" * p.MAX_PAYLOAD_BYTES + b'"}'
    out_of_range = json.dumps(tele(3, t_c=400.0)).encode()
    cases = {
        "json": (topic, b"{not json"),
        "size": (topic, oversized),
        "range": (topic, out_of_range),
        "encoding": (topic, b"\xff\xfe"),
        "unknown-unit": (p.topic(site, "nobody", p.TELE), tele_bytes(1)),
        "clock": (topic, tele_bytes(4, int(time.time()) + 3 * 86400)),
    }
    for topic_, payload in cases.values():
        board.publish(topic_, payload)
    board.publish(topic, tele_bytes(9))
    wait_until(lambda: 9 in stored(service, site), what="the good record after the bad ones")
    wait_until(lambda: service.ingest.metrics.refused_total() == len(cases))
    refusals = service.storage.refusals()
    assert {r for (_, _, r) in refusals} == set(cases)
    assert refusals[(site, "nobody", "unknown-unit")] == 1
    assert stored(service, site) == [9]
    text = service.metrics_text()
    assert f'evenheat_refused_total{{site="{site}",unit="b1",reason="size"}} 1' in text


# ------------------------------------------------------------------------ fuzzing ----
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
_valve = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["entrance", "h1", "h2", "", "x" * 40, "bad id"]),
        "t_return_c": st.none() | st.floats(-50, 200) | st.integers(-50, 200),
        "opening_cmd_pct": st.floats(-10, 110) | st.booleans(),
    },
    optional={"sensor_ok": st.booleans() | st.none(), "valve_ok": st.booleans()},
)
_tele = st.fixed_dictionaries(
    {
        "v": st.sampled_from([1, 1, 1, 2, "1"]),
        "ts_s": st.integers(-5, p.MAX_TS_S + 5),
        "seq": st.integers(-5, 60),
        "valves": st.lists(_valve, max_size=4),
    },
    optional={
        "entrance": st.dictionaries(
            st.sampled_from(["t_supply_c", "flow_m3h"]), st.floats(allow_nan=True) | st.none()
        ),
        "junk": _json,
    },
)
_payload = st.one_of(
    _tele.map(lambda m: json.dumps(m).encode()),
    _json.map(lambda m: json.dumps(m).encode()),
    st.binary(max_size=64),
)
_topic = st.sampled_from(
    ["tele", "tele", "event", "state", "ack", "desired/config", "bogus", "tele/x"]
)


@settings(
    max_examples=150,
    deadline=None,
    database=None,  # no example database in the working tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(batch=st.lists(st.tuples(_topic, _payload), min_size=1, max_size=6))
def test_fuzzed_payloads_never_crash_ingest_or_store_anything_invalid(fuzz_service, batch):
    svc, site = fuzz_service
    before = svc.ingest.metrics
    deliveries = []
    for i, (kind, payload) in enumerate(batch):
        topic = f"{p.ROOT}/{site}/b1/{kind}"
        deliveries.append(Delivery(1, i + 1, 1, topic, payload, False, time.time()))
    n_before = sum(before.received.values()) if before.received else 0
    stored_before = sum(before.stored_messages.values()) + before.refused_total()
    svc.ingest.process(deliveries)
    m = svc.ingest.metrics
    assert sum(m.received.values()) == n_before + len(batch)
    # every delivery is counted exactly once: stored or refused
    assert sum(m.stored_messages.values()) + m.refused_total() == stored_before + len(batch)
    for seq, ts in svc.storage.message_seqs(site, "b1"):
        assert 0 <= seq <= p.MAX_SEQ and 0 <= ts <= time.time() + 86400
    for _, value in svc.storage.query(site, "b1", "entrance", "t_return_c", 0, 2**40):
        assert value is None or -20 <= value <= 150


@settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(batch=st.lists(st.tuples(st.sampled_from(p.UPLINK), _payload), min_size=1, max_size=4))
def test_fuzzed_payloads_through_the_broker_are_all_accounted_for(service, board, site, batch):
    """Every message on a topic the host subscribes to is stored or refused, none lost."""
    m = service.ingest.metrics
    before = sum(m.stored_messages.values()) + m.refused_total()
    for kind, payload in batch:
        board.publish(f"{p.ROOT}/{site}/b1/{kind}", payload)
    wait_until(
        lambda: sum(m.stored_messages.values()) + m.refused_total() == before + len(batch),
        timeout_s=5,
        what="every fuzzed message stored or refused",
    )
    assert service.link.connected.is_set()


@pytest.fixture(scope="module")
def fuzz_service(tmp_path_factory, mosquitto):
    """Ingest without starting the link: the fuzzer calls process() directly."""
    site = new_site()
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz')}/fuzz.db"
    svc = Service(make_config(mosquitto, url, site))
    svc.storage.add_unit(site, "b1")
    yield svc, site
    svc.storage.close()


def test_alarms_raise_and_clear_from_telemetry_through_the_broker(service, board, site):
    topic = p.topic(site, "b1", p.TELE)
    # Entrance 66 degC: high and very high (55, 65); households 65: high and very high
    # (50, 60). min_duration_s is 0 in the test config.
    board.publish(topic, tele_bytes(1, TS0, t_c=66.0))
    wait_until(lambda: len(service.storage.alarms(open_only=True)) == 6, what="alarms")
    open_ = {(a["point"], a["kind"]) for a in service.storage.alarms(open_only=True)}
    assert open_ == {(pt, k) for pt in ("entrance", "h0", "h1") for k in ("t_high", "t_very_high")}
    board.publish(topic, tele_bytes(2, TS0 + 60, t_c=66.0))  # still high: no duplicates
    board.publish(topic, tele_bytes(3, TS0 + 120, t_c=40.0))
    wait_until(lambda: not service.storage.alarms(open_only=True), what="all cleared")
    assert len(service.storage.alarms()) == 6
