"""Runs under the real MicroPython unix port: the board's link against a real Mosquitto.

Usage: micropython mp_link_script.py HOST PORT DEAD_PORT UNIT WORKDIR
(with sim/board_mqtt on MICROPYPATH, standing in for umqtt.simple).

1. connect (last will, retained birth, subscribe), send 5 records straight through, take the
   retained desired state the host left (acks);
2. lose the connection abruptly (socket closed, no DISCONNECT: the broker sends the will) and
   have the broker unreachable (DEAD_PORT) for 30 simulated minutes: 30 records to the outbox,
   reconnect attempts backing off with jitter;
3. reach the broker again: reconnect, resubscribe, replay the outbox in order, paced.
Prints one `RESULT {json}` line with the link's numbers.
"""

import gc
import json
import sys
import time

from linkfakes import CFG, LinkRig
from umqtt.simple import MQTTClient

from edge.link import default_rand


def main(host, port, dead_port, unit, workdir):
    cfg = dict(CFG, broker=host + ":" + port, unit=unit, socket_timeout_s=2)
    cfg.pop("user")
    cfg.pop("password")
    rig = LinkRig(workdir, rand=default_rand, cfg=cfg, client_class=MQTTClient)
    gc.collect()
    heap_start_b = gc.mem_alloc()

    def run(ms, step_ms=100):
        end = rig.clock.now_ms + ms
        while rig.clock.now_ms < end:
            rig.link.poll()
            rig.clock.advance(step_ms)
            time.sleep_ms(1)

    t0 = time.ticks_ms()
    while not rig.link.connected:
        run(100)
    for _ in range(5):
        rig.record()
        run(1000)
    run(3000)
    acks_before_outage = rig.link.stats["published"]
    rig.link.cfg.port = int(dead_port)
    rig.link.client.sock.close()  # the network drops: no DISCONNECT
    for _ in range(30):
        rig.record()
        run(60 * 1000, step_ms=1000)
    depth = rig.outbox.depth()
    delays = list(rig.link.delays_ms)
    rig.link.cfg.port = int(port)
    back = rig.clock.now_ms
    while True:
        rig.link.poll()  # connects, then replays its first burst in the same poll
        if rig.link.connected:
            break
        rig.clock.advance(1000)
        time.sleep_ms(1)
    reconnect_ms = rig.clock.now_ms - back
    replay_start = rig.clock.now_ms
    while rig.outbox.depth():
        run(100)
    replay_ms = rig.clock.now_ms - replay_start
    run(1000)
    gc.collect()
    heap_end_b = gc.mem_alloc()
    rig.link.close()
    print(
        "RESULT "
        + json.dumps(
            {
                "depth": depth,
                "delays_ms": delays,
                "reconnect_ms": reconnect_ms,
                "replay_ms": replay_ms,
                "stats": rig.link.stats,
                "applied": rig.applied,
                "acks": rig.desired.last_acks,
                "published_before_outage": acks_before_outage,
                "real_ms": time.ticks_diff(time.ticks_ms(), t0),
                "heap_start_b": heap_start_b,
                "heap_end_b": heap_end_b,
            }
        )
    )


main(*sys.argv[1:6])
