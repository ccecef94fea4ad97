"""Board definitions (boards/*.json) load and validate; broken ones name the field
(dual-runtime)."""

import json

from mpcheck import load_json, raises, repo_path

from edge import boarddef
from edge.simhw import sim_board_def

BOARDS = ("esp32-devkit", "olimex-esp32-poe", "pico-w")


def _board(name):
    return load_json("boards/" + name + ".json")


def test_every_shipped_board_validates():
    for name in BOARDS:
        b = boarddef.load(repo_path("boards/" + name + ".json"))
        assert b["board"] == name
        assert b["valves"] and b["valves"][0]["id"] == "entrance"
        assert 0 <= b["failsafe_opening_pct"] <= 100


def test_pico_watchdog_within_the_rp2040_limit():
    b = _board("pico-w")
    assert b["port"] == "rp2" and b["watchdog_ms"] <= 8388
    b["watchdog_ms"] = 9000
    err = raises(boarddef.BoardError, boarddef.validate, b)
    assert err.field == "watchdog_ms"


def _broken(name, mutate):
    b = _board(name)
    mutate(b)
    return raises(boarddef.BoardError, boarddef.validate, b)


def test_broken_definitions_name_the_field():
    def input_only_motor(b):
        b["valves"][0]["actuator"]["in1"] = 36

    err = _broken("esp32-devkit", input_only_motor)
    assert err.field == "valves[0].actuator.in1" and "input-only" in str(err)

    def pin_twice(b):
        b["valves"][0]["actuator"]["in2"] = b["valves"][0]["actuator"]["in1"]

    err = _broken("esp32-devkit", pin_twice)
    assert err.field == "valves[0].actuator.in2" and "already used" in str(err)

    def missing_probe(b):
        b["valves"][0]["return_probe"] = "nowhere"

    assert _broken("pico-w", missing_probe).field == "valves[0].return_probe"

    def flash_pin(b):
        b["buses"]["ow0"]["pin"] = 6

    assert _broken("esp32-devkit", flash_pin).field == "buses.ow0.pin"

    def no_adc(b):
        b["sensors"]["p_supply"]["pin"] = 2

    assert _broken("pico-w", no_adc).field == "sensors.p_supply.pin"

    def bad_rom(b):
        for s in b["sensors"].values():
            if s["type"] == "ds18b20":
                s["rom"] = "10ff000000000000"

    assert "DS18B20" in str(_broken("esp32-devkit", bad_rom))

    def no_stroke(b):
        del b["valves"][0]["stroke_s"]

    err = _broken("olimex-esp32-poe", no_stroke)
    assert err.field == "valves[0].stroke_s" and "missing" in str(err)

    def unknown_type(b):
        b["valves"][0]["feedback"]["type"] = "hall"

    assert _broken("pico-w", unknown_type).field == "valves[0].feedback.type"

    def failsafe_out_of_range(b):
        b["failsafe_opening_pct"] = 120

    assert _broken("pico-w", failsafe_out_of_range).field == "failsafe_opening_pct"


def test_unreadable_file_is_a_board_error():
    path = repo_path("boards/README.md")
    err = raises(boarddef.BoardError, boarddef.load, path)
    assert err.field == "file"
    err = raises(boarddef.BoardError, boarddef.load, repo_path("boards/none.json"))
    assert err.field == "file"


def test_simulated_board_definition_validates_and_survives_json():
    b = json.loads(json.dumps(sim_board_def(33)))
    assert len(boarddef.validate(b)["valves"]) == 33
    b["valves"].append(dict(b["valves"][0], id="one-too-many"))
    assert raises(boarddef.BoardError, boarddef.validate, b).field == "valves"


def test_one_as5600_per_i2c_bus_and_reserved_pins_respected():
    def second_encoder(b):
        b["valves"][1]["feedback"] = {"type": "as5600", "bus": "i2c0"}

    err = _broken("pico-w", second_encoder)
    assert err.field == "valves[1].feedback.bus" and "AS5600" in str(err)

    def ethernet_pin(b):
        b["valves"][0]["actuator"]["in1"] = 23

    err = _broken("olimex-esp32-poe", ethernet_pin)
    assert "reserved_pins.ethernet" in str(err)
    b = _board("pico-w")
    boarddef.validate(b)
    boarddef.validate(b)  # validating twice is harmless
