"""The MQTT link's logic on CPython and the real MicroPython unix port.

Link (edge/link.py), outbox (edge/outbox.py) and desired state (edge/desired.py) run against
a scripted broker behind the umqtt.simple API (tests/mp/linkfakes.py) on a manual clock, so a
two-hour outage takes milliseconds. The same code meets a real Mosquitto in tests/edge_link.
"""

import json

from linkfakes import CFG, SITE, UNIT, FakeClient, LinkRig, SeqRand, rmtree, scratch_dir

from edge.link import Backoff, LinkConfig
from shared import protocol as p

Board = LinkRig


def topic(kind):
    return p.topic(SITE, UNIT, kind)


def targets(version, valves=("entrance",)):
    body = {}
    for v in valves:
        body[v] = {"t_return_c": 40.0}
    return p.encode(p.TARGETS, {"version": version, "ts_s": 1795000000, "targets": body})


def config(version, **fields):
    msg = {"version": version, "ts_s": 1795000000}
    msg.update(fields)
    return json.dumps(msg if "v" in msg else dict(msg, v=1)).encode()


def with_board(name, fn, rand=None):
    root = scratch_dir(name)
    try:
        fn(Board(root, rand=rand))
    finally:
        rmtree(root)


def test_connect_registers_will_publishes_retained_birth_and_subscribes():
    def check(b):
        b.run(200)
        assert b.link.connected
        client = FakeClient.instances[-1]
        will_topic, will_payload = p.last_will(SITE, UNIT)
        assert client.will == (will_topic, will_payload, True)
        assert client.user == "b12-e2" and client.password == "s3cret-pw"
        birth = p.decode(p.STATE, b.broker.retained[topic(p.STATE)])
        assert birth["status"] == "online" and birth["board"] == "esp32-devkit"
        assert sorted(client.subs) == sorted(p.board_subscriptions(SITE, UNIT))

    with_board("link-connect", check)


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap():
    backoff = Backoff(2, 300, 2, SeqRand([0.0, 0.999]))
    delays = [backoff.next_delay_ms() for _ in range(12)]
    ceilings = [
        2000,
        4000,
        8000,
        16000,
        32000,
        64000,
        128000,
        256000,
        300000,
        300000,
        300000,
        300000,
    ]
    assert len(delays) == len(ceilings)
    for i in range(len(delays)):
        d, c = delays[i], ceilings[i]
        assert c // 2 <= d <= c, (d, c)
    assert delays[0] == 1000 and delays[1] > 3990  # rand 0 -> half; rand 0.999 -> nearly all
    assert max(delays) <= 300000
    backoff.reset()
    assert backoff.next_delay_ms() <= 2000


def test_reconnect_delays_on_a_dead_broker_back_off_and_are_jittered():
    import random

    random.seed(7)

    def check(b):
        b.broker.up = False
        b.run(30 * 60 * 1000, step_ms=500)  # half an hour of a dead broker
        delays = b.link.delays_ms
        assert b.link.stats["attempts"] == len(delays)
        assert delays[0] < delays[3] < delays[6], delays  # grows
        assert max(delays) <= 300000  # capped
        assert len(set(delays)) == len(delays)  # jitter: no two alike
        b.broker.come_back()
        b.run(310 * 1000, step_ms=500)
        assert b.link.connected  # back within one capped delay

    with_board("link-backoff", check, rand=lambda: random.random())


def test_outage_records_wait_on_flash_and_replay_in_order_paced():
    def check(b):
        b.run(500)
        assert b.link.connected
        b.record()
        assert len(b.broker.topics("/tele")) == 1  # online: straight through
        b.broker.go_down()
        for _ in range(120):  # two hours, one record a minute
            b.record()
            b.run(60 * 1000, step_ms=1000)
        assert b.outbox.depth() == 120
        assert p.decode(p.STATE, b.broker.retained[topic(p.STATE)])["status"] == "offline"
        b.broker.come_back()
        before = len(b.broker.log)
        start = b.clock.now_ms
        while not b.link.connected:
            b.run(100)
        connected_at = b.clock.now_ms
        b.run(2000)  # two seconds after the reconnect: burst + 2 s at 5/s at most
        replayed_2s = len(b.broker.topics("/tele"))
        assert replayed_2s <= 1 + 10 + 10 + 1, replayed_2s
        b.run(60 * 1000)
        seqs = [m["seq"] for m in b.broker.payloads("/tele")]
        assert seqs == list(range(121)), seqs  # nothing lost, in order, no duplicates
        stamps = [m["ts_s"] for m in b.broker.payloads("/tele")]
        assert stamps == sorted(stamps) and stamps[-1] - stamps[1] == 119 * 60
        assert b.outbox.depth() == 0
        assert b.link.stats["replayed"] == 120
        assert connected_at - start <= 300000 and len(b.broker.log) > before

    with_board("link-outage", check)


def test_new_record_during_backlog_queues_behind_it():
    def check(b):
        b.broker.up = False
        b.run(100)
        for _ in range(5):
            b.record()
        b.broker.come_back()
        while not b.link.connected:
            b.run(100)
        b.record()  # online, but a backlog waits: goes behind it
        b.run(5000)
        assert [m["seq"] for m in b.broker.payloads("/tele")] == [0, 1, 2, 3, 4, 5]

    with_board("link-behind", check)


def test_publish_failure_keeps_the_record_and_reconnects():
    def check(b):
        b.run(200)
        b.broker.fail_publish_after = 0  # the next publish times out
        b.record()
        assert not b.link.connected
        assert b.outbox.depth() == 1
        b.broker.come_back()
        b.run(10000)
        assert [m["seq"] for m in b.broker.payloads("/tele")] == [0]

    with_board("link-pubfail", check)


def test_desired_targets_applied_acked_and_versions_respected():
    def check(b):
        b.run(200)
        b.broker.publish_retained(topic(p.TARGETS), targets(3, ("entrance", "f6-east")))
        b.run(300)
        acks = b.broker.payloads("/ack")
        assert acks[-1]["of"] == "targets" and acks[-1]["version"] == 3
        assert acks[-1]["result"] == "applied"
        assert b.applied == [3]
        b.broker.publish_retained(topic(p.TARGETS), targets(2))
        b.run(300)
        assert b.broker.payloads("/ack")[-1]["result"] == "refused"
        assert "older" in b.broker.payloads("/ack")[-1]["reason"]
        b.broker.publish_retained(topic(p.TARGETS), targets(4, ("garage",)))
        b.run(300)
        ack = b.broker.payloads("/ack")[-1]
        assert ack["result"] == "refused" and "garage" in ack["reason"]
        assert b.applied == [3] and b.versions[p.TARGETS] == 3

    with_board("link-targets", check)


def test_invalid_config_is_refused_with_the_protocol_reason():
    def check(b):
        b.run(200)
        b.broker.publish_retained(
            topic(p.CONFIG), config(7, opening_min_pct=80, opening_max_pct=20)
        )
        b.broker.publish_retained(topic(p.TARGETS), b"{not json")
        b.run(500)
        acks = b.broker.payloads("/ack")
        cfg_ack = [a for a in acks if a["of"] == "config"][-1]
        assert cfg_ack["result"] == "refused" and cfg_ack["version"] == 7
        assert cfg_ack["reason"].startswith("inconsistent")
        tgt_ack = [a for a in acks if a["of"] == "targets"][-1]
        assert tgt_ack["result"] == "refused" and tgt_ack["reason"].startswith("json")
        assert b.applied == [] and b.versions[p.CONFIG] == 0

    with_board("link-badcfg", check)


def test_config_changed_while_offline_is_applied_on_return_and_kept_over_a_reboot():
    root = scratch_dir("link-offline-cfg")
    try:
        b = Board(root)
        b.run(200)
        b.broker.publish_retained(topic(p.CONFIG), config(1, collection_period_s=60))
        b.run(300)
        b.broker.go_down()
        b.run(3600 * 1000, step_ms=1000)
        b.broker.retained[topic(p.CONFIG)] = config(2, collection_period_s=120)  # meanwhile
        b.broker.come_back()
        b.run(400 * 1000, step_ms=500)
        assert b.link.connected
        assert b.applied == [1, 2]
        acks = [a for a in b.broker.payloads("/ack") if a["of"] == "config"]
        assert (acks[-1]["version"], acks[-1]["result"]) == (2, "applied")
        # A reboot: version 2 is in force from flash before any broker is seen; the retained
        # copy arriving after the connect is acknowledged again, not applied twice.
        again = Board(root)
        assert again.versions[p.CONFIG] == 2
        again.broker.retained[topic(p.CONFIG)] = config(2, collection_period_s=120)
        again.run(500)
        assert again.applied == []
        ack = again.broker.payloads("/ack")[-1]
        assert (ack["version"], ack["result"]) == (2, "applied")
        assert p.decode(p.STATE, again.broker.retained[topic(p.STATE)])["config_version"] == 2
    finally:
        rmtree(root)


def test_keepalive_pings_and_the_password_is_never_described():
    def check(b):
        b.run(200)
        b.run(150 * 1000, step_ms=1000)
        assert FakeClient.instances[-1].pings >= 4  # every half keep-alive interval
        text = b.link.cfg.describe() + " ".join(b.link.errors)
        assert "s3cret-pw" not in text and "b12-e2:***@" in text

    with_board("link-ping", check)


def test_bad_unit_config_is_refused_with_the_key_named():
    from mpcheck import raises

    bad = dict(CFG)
    bad["broker"] = "host:99999"
    assert "port" in str(raises(ValueError, LinkConfig, bad))
    bad = dict(CFG)
    bad["backoff_cap_s"] = 0
    assert "backoff_cap_s" in str(raises(ValueError, LinkConfig, bad))
    bad = dict(CFG)
    del bad["password"]
    assert "password" in str(raises(ValueError, LinkConfig, bad))


def test_tls_settings_come_from_the_unit_config():
    import sys

    from edge.link import ssl_context

    plain = LinkConfig(dict(CFG, broker="broker.local"))
    assert plain.port == 1883 and ssl_context(plain) is None
    tls = LinkConfig(dict(CFG, broker="broker.local", tls=True))
    assert tls.port == 8883 and tls.describe().startswith("mqtts://")
    if sys.implementation.name == "micropython":  # the board's ssl module
        ctx = ssl_context(tls)
        assert hasattr(ctx, "wrap_socket")


def test_no_attempt_while_the_boards_own_network_is_down():
    def check(b):
        up = [False]
        b.link._may_connect = lambda: up[0]
        b.run(10000)
        assert b.link.stats["attempts"] == 0 and b.link.delays_ms == []
        up[0] = True
        b.run(1500)
        assert b.link.connected and b.link.stats["attempts"] == 1

    with_board("link-netdown", check)


def test_record_sequence_never_goes_backwards_across_reboots():
    from edge.connected import SeqCounter

    root = scratch_dir("seq")
    try:
        seq = SeqCounter(root + "/seq.json", block=10)
        first = [seq.take() for _ in range(13)]
        assert first == list(range(13))
        again = SeqCounter(root + "/seq.json", block=10)  # a reboot: the rest of the block
        assert again.take() == 20  # is skipped, never reused
        third = SeqCounter(root + "/seq.json", block=10)
        assert third.take() == 30
    finally:
        rmtree(root)


def test_first_attempt_after_boot_is_spread_over_boot_spread_s():
    root = scratch_dir("link-spread")
    try:
        b = Board(root, rand=SeqRand([0.7]), cfg=dict(CFG, boot_spread_s=10))
        b.run(6900)
        assert b.link.stats["attempts"] == 0
        b.run(300)
        assert b.link.connected and b.link.stats["attempts"] == 1
    finally:
        rmtree(root)


def test_time_sync_at_boot_then_periodically_with_a_drift_check():
    from edge.clock import ManualClock
    from edge.timesync import TimeSync

    clock = ManualClock(epoch_s=946684800)  # an RTC that booted at 2000-01-01
    server = {"offset_s": 848315200, "up": False}  # true time - board time

    def ntp_time_s():
        if not server["up"]:
            raise OSError(110)
        return clock.time_s() + server["offset_s"]

    def set_time_s(t_s):
        clock.epoch_s += t_s - clock.time_s()

    ts = TimeSync(clock, ntp_time_s, set_time_s, period_s=3600, retry_s=60, drift_limit_s=2)
    assert ts.poll() is None and not ts.synced and ts.failures == 1  # no network at boot
    clock.advance(30000)
    assert not ts.due()  # retried after retry_s, not in a tight loop
    server["up"] = True
    clock.advance(30000)
    ev = ts.poll()
    assert ts.synced and ev["event"] == "time_sync" and ev["severity"] == "info"
    assert clock.time_s() == 1795000000 + 60
    server["offset_s"] = 1  # a good crystal: 1 s in an hour, no event
    clock.advance(3600 * 1000)
    assert ts.poll() is None and ts.last_drift_s == 1
    server["offset_s"] = -7  # the RTC ran 7 s fast
    clock.advance(3600 * 1000)
    ev = ts.poll()
    assert ev["severity"] == "warning" and ev["value"] == -7 and ts.syncs == 3


def test_a_birth_field_the_contract_refuses_does_not_keep_the_board_offline():
    def check(b):
        b.birth = lambda: {"boot_reason": "x" * 99}  # too long for the state message
        b.link._birth = b.birth
        b.run(300)
        assert b.link.connected
        assert p.decode(p.STATE, b.broker.retained[topic(p.STATE)]) == {"v": 1, "status": "online"}
        assert b.link.errors[-1].startswith("birth: ProtocolError")

    with_board("link-birth", check)


def test_messages_for_another_unit_are_ignored():
    def check(b):
        b.run(200)
        b.link._on_message(p.topic(SITE, "other", p.TARGETS).encode(), targets(9))
        b.link._on_message(b"not/ours", b"{}")
        b.run(300)
        assert b.applied == [] and b.link.stats["refused_msgs"] == 2

    with_board("link-foreign", check)
