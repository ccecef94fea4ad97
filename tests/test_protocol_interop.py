"""The protocol between runtimes and through a real Mosquitto broker.

Boards encode with MicroPython, the host decodes with CPython (and back); every message kind
crosses a real broker with its QoS and retain flag; retained desired state reaches a late
subscriber; a board that vanishes is reported offline by its last will.
"""

import json
from pathlib import Path

import pytest

from shared import protocol as p
from tests.micropython import run_script
from tests.mqtt_client import TestClient

EXAMPLES = json.loads(Path("docs/protocol-examples.json").read_text())

MP_ENCODER = """
import json, sys
from shared import protocol as p
examples = json.load(open("docs/protocol-examples.json"))
for kind in p.KINDS:
    print(kind + "\\t" + p.encode(kind, examples[kind]).decode())
"""

MP_DECODER = """
import json, sys
from shared import protocol as p
for line in open(sys.argv[1]):
    kind, payload = line.rstrip("\\n").split("\\t", 1)
    try:
        msg = p.decode(kind, payload.encode())
        print("OK", kind, json.dumps(msg))
    except p.ProtocolError as exc:
        print("REFUSED", kind, exc.reason)
"""


def test_micropython_encodes_what_cpython_decodes(tmp_path):
    script = tmp_path / "encode.py"
    script.write_text(MP_ENCODER)
    proc = run_script(script)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(p.KINDS)
    for line in lines:
        kind, payload = line.split("\t", 1)
        assert p.decode(kind, payload.encode()) == EXAMPLES[kind]


def test_cpython_encodes_what_micropython_decodes_and_both_refuse_the_same(tmp_path):
    rows = [(kind, p.encode(kind, EXAMPLES[kind]).decode()) for kind in p.KINDS]
    bad_config = dict(EXAMPLES["desired/config"], opening_min_pct=90, opening_max_pct=10)
    rows.append((p.CONFIG, json.dumps(bad_config)))
    rows.append((p.TELE, '{"v": 1, "ts_s": 1}'))
    rows.append((p.ACK, '{"v": 1, "ts_s": 1, "of": "config", "version": 2, "result": "maybe"}'))
    data = tmp_path / "payloads.tsv"
    data.write_text("".join(f"{kind}\t{payload}\n" for kind, payload in rows))
    script = tmp_path / "decode.py"
    script.write_text(MP_DECODER)
    proc = run_script(script, str(data))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert len(out) == len(rows)
    for (kind, payload), line in zip(rows, out, strict=True):
        try:
            expected = "OK " + kind + " " + json.dumps(p.decode(kind, payload.encode()))
        except p.ProtocolError as exc:
            expected = f"REFUSED {kind} {exc.reason}"
        if line.startswith("OK"):
            assert json.loads(line.split(" ", 2)[2]) == json.loads(expected.split(" ", 2)[2])
        else:
            assert line == expected
    assert sum(line.startswith("REFUSED") for line in out) == 3


@pytest.fixture
def host_side(mosquitto):
    client = TestClient(mosquitto.host, mosquitto.port)
    yield client
    client.close()


def test_every_kind_crosses_mosquitto_with_its_qos_and_retain(mosquitto, host_side):
    site, unit = "interop", "b1-e1"
    host_side.subscribe(f"{p.ROOT}/{site}/#")  # returns after the SUBACK
    board = TestClient(mosquitto.host, mosquitto.port)
    try:
        for kind in p.KINDS:
            board.publish(
                p.topic(site, unit, kind),
                p.encode(kind, EXAMPLES[kind]),
                qos=p.QOS[kind],
                retain=p.RETAIN[kind],
            )
        seen = {}
        for _ in p.KINDS:
            msg = host_side.receive()
            got_site, got_unit, kind = p.parse_topic(msg.topic)
            assert (got_site, got_unit) == (site, unit)
            assert msg.qos == p.QOS[kind]
            seen[kind] = p.decode(kind, msg.payload)
        assert seen == {kind: EXAMPLES[kind] for kind in p.KINDS}
    finally:
        for kind in p.KINDS:  # clear retained messages for other tests
            if p.RETAIN[kind]:
                board.publish(p.topic(site, unit, kind), b"", retain=True)
        board.close()


def test_retained_desired_state_reaches_a_board_that_connects_later(mosquitto):
    site, unit = "interop", "late-board"
    host = TestClient(mosquitto.host, mosquitto.port)
    targets = dict(EXAMPLES["desired/targets"], version=42)
    host.publish(p.topic(site, unit, p.TARGETS), p.encode(p.TARGETS, targets), retain=True)
    host.publish(
        p.topic(site, unit, p.CONFIG), p.encode(p.CONFIG, EXAMPLES["desired/config"]), retain=True
    )
    board = TestClient(mosquitto.host, mosquitto.port)
    try:
        for name in p.board_subscriptions(site, unit):
            board.subscribe(name)
        got = {}
        for _ in range(2):
            msg = board.receive()
            assert msg.retain
            kind = p.parse_topic(msg.topic)[2]
            got[kind] = p.decode(kind, msg.payload)
        assert got[p.TARGETS]["version"] == 42
        assert got[p.CONFIG] == EXAMPLES["desired/config"]
    finally:
        for kind in p.DOWNLINK:
            host.publish(p.topic(site, unit, kind), b"", retain=True)
        board.close()
        host.close()


def test_last_will_reports_a_vanished_board_offline(mosquitto, host_side):
    site, unit = "interop", "dying-board"
    state_topic = p.topic(site, unit, p.STATE)
    host_side.subscribe(state_topic)
    board = TestClient(mosquitto.host, mosquitto.port, will=p.last_will(site, unit))
    board.publish(state_topic, p.encode(p.STATE, EXAMPLES["state"]), retain=True)
    assert p.decode(p.STATE, host_side.receive().payload)["status"] == "online"
    board.drop_connection()
    msg = host_side.receive(timeout_s=15)
    assert p.decode(p.STATE, msg.payload) == {"v": 1, "status": "offline"}
    late = TestClient(mosquitto.host, mosquitto.port)
    try:
        late.subscribe(state_topic)
        retained = late.receive()
        assert retained.retain and p.decode(p.STATE, retained.payload)["status"] == "offline"
    finally:
        late.publish(state_topic, b"", retain=True)
        late.close()
