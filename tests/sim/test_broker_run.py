"""The simulator over a real Mosquitto: boards publish through their real link, the host
strategy sees only what crosses the broker, its targets reach the boards and are acked.

Board side: edge.connected with umqtt.simple's API backed by paho-mqtt
(sim/board_mqtt/paho_umqtt.py); broker: Debian's Mosquitto started by the test run."""

from dataclasses import replace

from shared import protocol
from sim.board_mqtt import paho_umqtt
from sim.broker_run import run_over_broker
from sim.host_strategy import EqualiseStrategy
from sim.scenario import load_scenario


def test_a_tiny_station_balances_over_the_broker(mosquitto, tmp_path):
    paho_umqtt.NETWORK.up = True
    scn = replace(load_scenario("tiny", days=1.5 / 24), control="equalise")
    strategy = EqualiseStrategy(period_s=1800.0)
    res = run_over_broker(
        scn, mosquitto.host, mosquitto.port, paho_umqtt.MQTTClient, str(tmp_path), strategy
    )
    assert res.uplink_counts[protocol.TELE] >= 2 * 60  # two boards, a record a minute
    assert res.uplink_counts[protocol.STATE] >= 2
    assert res.targets_sent >= 1
    assert any(a["of"] == "targets" and a["result"] == "applied" for a in res.acks)
    assert max(res.targets_version.values()) >= 1
