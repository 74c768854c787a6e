#!/usr/bin/env bash
# Runs nfcapd (nfdump's IPFIX/NetFlow collector) in the background on the
# collector port the payload gives the exporter, writing flow files to FLOW_DIR,
# its pid to FLOW_DIR.pid and its start-up output to FLOW_DIR.log (after start-up
# it logs to syslog).
#
#   start-collector.sh [start|stop|status]
#
# Environment, with defaults:
#   COLLECTOR_PORT  the payload's start_args.collector_port (49280)
#   BIND            (all addresses)   address to listen on
#   FLOW_DIR        /var/cache/nfdump/ipfix-flow-exporter
#   ROTATE_SECS     60    nfcapd starts a new file this often; nfdump -R reads closed files
# start and stop wait up to 10 s for nfcapd.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

COLLECTOR_PORT=${COLLECTOR_PORT:-$(payload_value .start_args.collector_port)}
BIND=${BIND:-}
FLOW_DIR=$(realpath -m "$FLOW_DIR")
PID_FILE=$FLOW_DIR.pid
LOG_FILE=$FLOW_DIR.log
wait_secs=10

# The pid of our running nfcapd, or nothing.
running_pid() {
    local pid
    [ -r "$PID_FILE" ] || return 0
    pid=$(tr -dc '0-9' <"$PID_FILE")
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = nfcapd ]; then
        printf '%s\n' "$pid"
    fi
}

port_bound() {
    [ -n "$(ss -Hlun "sport = :$COLLECTOR_PORT" 2>/dev/null)" ]
}

start() {
    local pid version flow_args deadline
    pid=$(running_pid)
    if [ -n "$pid" ]; then
        say "nfcapd already running (pid $pid), flows in $FLOW_DIR"
        return 0
    fi
    need nfcapd nfdump
    need ss iproute2
    if port_bound; then
        die "udp port $COLLECTOR_PORT is already in use: $(ss -Hlunp "sport = :$COLLECTOR_PORT" | head -1)"
    fi
    mkdir -p "$FLOW_DIR"
    rm -f "$PID_FILE"
    # nfdump 1.6 (Ubuntu 22.04): -l DIR, and -T all for every extension;
    # 1.7 (Debian 12, Ubuntu 24.04): -w DIR, extensions always on.
    version=$(nfcapd -V 2>&1 | sed -n 's/.*Version: *\([0-9][0-9.]*\).*/\1/p' | head -1)
    case $version in
    1.[0-6].*) flow_args=(-l "$FLOW_DIR" -T all) ;;
    *) flow_args=(-w "$FLOW_DIR") ;;
    esac
    say "starting nfcapd ${version:-?} on udp ${BIND:-*}:$COLLECTOR_PORT, flows in $FLOW_DIR"
    # The daemon keeps the descriptors it was given: never our stdout, or
    # whoever reads it (vagrant, a test) waits for nfcapd to exit.
    if ! nfcapd -D -P "$PID_FILE" -p "$COLLECTOR_PORT" ${BIND:+-b "$BIND"} \
        -t "$ROTATE_SECS" "${flow_args[@]}" </dev/null >>"$LOG_FILE" 2>&1; then
        tail -n 5 "$LOG_FILE" >&2
        die "nfcapd failed to start (log: $LOG_FILE)"
    fi
    deadline=$((SECONDS + wait_secs))
    until pid=$(running_pid) && [ -n "$pid" ] && port_bound; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 5 "$LOG_FILE" >&2
            die "nfcapd did not come up within ${wait_secs}s (log: $LOG_FILE, then syslog: journalctl -t nfcapd)"
        fi
        sleep 0.1
    done
    say "nfcapd running (pid $pid)"
}

stop() {
    local pid deadline
    pid=$(running_pid)
    if [ -z "$pid" ]; then
        say "nfcapd is not running"
        rm -f "$PID_FILE"
        return 0
    fi
    # On SIGTERM nfcapd closes the current file, so nfdump -R sees every flow.
    kill -TERM "$pid"
    deadline=$((SECONDS + wait_secs))
    while [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = nfcapd ]; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            warn "nfcapd (pid $pid) ignored SIGTERM for ${wait_secs}s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    rm -f "$PID_FILE"
    say "nfcapd stopped, flows in $FLOW_DIR"
}

case ${1:-start} in
start) start ;;
stop) stop ;;
status)
    pid=$(running_pid)
    if [ -n "$pid" ]; then
        say "nfcapd running (pid $pid) on udp port $COLLECTOR_PORT, flows in $FLOW_DIR"
    else
        say "nfcapd is not running (start: udp port $COLLECTOR_PORT, flows in $FLOW_DIR)"
        exit 3
    fi
    ;;
*) die "usage: $0 [start|stop|status]" ;;
esac
