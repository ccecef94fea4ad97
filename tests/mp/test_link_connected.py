"""The connected board (edge/connected.py = edge.app + link + desired state + outbox) on
CPython and the MicroPython unix port, with simulated hardware and the scripted broker.

The real-broker version of these checks is tests/edge_link/test_connected_board.py.
"""

import json

from edgecheck import new_app, sim_entrance
from linkfakes import FakeBroker, FakeClient, SeqRand, rmtree, scratch_dir

from edge.connected import ConnectedBoard
from shared import protocol as p

UNIT = {
    "site": "estate-9",
    "unit": "e7",
    "broker": "broker.local:1883",
    "boot_spread_s": 0,
    "backoff_first_s": 2,
}


def board(root):
    sb, definition = sim_entrance(3, fs_root=root + "/")
    app = new_app(sb, definition)
    app.apply_config({"collection_period_s": 60, "control_period_s": 120})
    broker = FakeBroker()
    FakeClient.broker = broker
    conn = ConnectedBoard(
        app, UNIT, client_class=FakeClient, rand=SeqRand([0.3, 0.8]), link_period_ms=500
    )
    return sb, app, conn, broker


def topic(kind):
    return p.topic(UNIT["site"], UNIT["unit"], kind)


def in_scratch(test):
    def run():
        root = scratch_dir("connected")
        try:
            test(*board(root))
        finally:
            rmtree(root)

    return run


@in_scratch
def test_records_events_and_desired_state_through_an_outage(sb, app, conn, broker):
    sb.run(app, 5 * 60 * 1000)
    tele = broker.payloads("/tele")
    assert len(tele) >= 4 and tele[-1]["valves"][0]["id"] == "entrance"
    assert tele[-1]["time_synced"] is False  # no NTP source given
    birth = p.decode(p.STATE, broker.retained[topic(p.STATE)])
    assert birth["board"] == "sim-entrance" and birth["fw"] == "0.1.0"

    broker.go_down()
    sb.run(app, 60 * 60 * 1000)  # an hour offline
    assert conn.outbox.depth() >= 60
    broker.retained[topic(p.CONFIG)] = p.encode(
        p.CONFIG,
        {"version": 4, "ts_s": 1795000000, "collection_period_s": 30, "control_period_s": 60},
    )
    broker.retained[topic(p.TARGETS)] = p.encode(
        p.TARGETS, {"version": 9, "ts_s": 1795000000, "targets": {"hh1": {"t_return_c": 37.5}}}
    )
    broker.come_back()
    sb.run(app, 10 * 60 * 1000)
    assert conn.outbox.depth() == 0
    assert app.config["version"] == 4 and app.config["collection_period_s"] == 30
    assert app.targets_version == 9 and app.targets["hh1"]["t_return_c"] == 37.5
    acks = [(a["of"], a["version"], a["result"]) for a in broker.payloads("/ack")]
    assert ("config", 4, "applied") in acks and ("targets", 9, "applied") in acks
    state = p.decode(p.STATE, broker.retained[topic(p.STATE)])
    assert state["config_version"] == 4 and state["targets_version"] == 9
    records = broker.payloads("/tele") + broker.payloads("/event")
    seqs = sorted(r["seq"] for r in records)
    assert seqs == list(range(len(seqs)))  # one sequence, nothing lost, nothing twice
    tele_seqs = [t["seq"] for t in broker.payloads("/tele")]
    assert tele_seqs == sorted(tele_seqs)  # backfilled in order
    names = [e["event"] for e in broker.payloads("/event")]
    assert "boot" in names and "config_applied" in names


@in_scratch
def test_refused_desired_state_changes_nothing(sb, app, conn, broker):
    sb.run(app, 60 * 1000)
    broker.publish_retained(
        topic(p.TARGETS),
        p.encode(
            p.TARGETS,
            {"version": 3, "ts_s": 1795000000, "targets": {"nowhere": {"t_return_c": 40.0}}},
        ),
    )
    bad = {"v": 1, "version": 5, "ts_s": 1795000000, "control_period_s": 5}
    broker.publish_retained(topic(p.CONFIG), json.dumps(bad).encode())
    sb.run(app, 5000)
    acks = {a["of"]: a for a in broker.payloads("/ack")}
    assert acks["targets"]["result"] == "refused" and "nowhere" in acks["targets"]["reason"]
    assert acks["config"]["result"] == "refused"
    assert (
        acks["config"]["reason"].startswith("range")
        and "control_period_s" in acks["config"]["reason"]
    )
    assert app.targets_version == 0 and app.config["version"] == 0
