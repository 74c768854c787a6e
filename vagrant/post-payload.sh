#!/usr/bin/env bash
# Sends the payload to l3afd's REST API, made to fit this machine:
#   add     POST /l3af/configs/v1/add     l3af/payload.json
#   delete  POST /l3af/configs/v1/delete  l3af/delete_payload.json
# host_name becomes this host's name (l3afd refuses programs for another host),
# iface the interface of the default route and ipv4_address its address (a
# label on the metrics); everything else is sent as written.
#
#   post-payload.sh [add|delete]
#
# Environment, with defaults:
#   L3AFD_API     127.0.0.1:7080  [l3af-configs] restapi-addr in vagrant/l3afd.cfg
#   PAYLOAD, DELETE_PAYLOAD       l3af/payload.json, l3af/delete_payload.json
#   HOST_NAME     $(hostname)
#   IFACE         the interface of the IPv4 default route (else the payload's)
#   IPV4_ADDRESS  IFACE's first IPv4 address (else the payload's)
# While l3afd is not answering yet (or restarting), it retries every 2 s for 3 minutes.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

need curl curl
need jq jq
action=${1:-add}
case $action in
add) file=$PAYLOAD ;;
delete) file=$DELETE_PAYLOAD ;;
*) die "usage: $0 [add|delete]" ;;
esac
[ -r "$file" ] || die "payload $file not readable"
L3AFD_API=${L3AFD_API:-127.0.0.1:7080}
HOST_NAME=${HOST_NAME:-$(hostname)}
IFACE=${IFACE:-$(default_iface)}
IFACE=${IFACE:-$(jq -r '.[0].iface' "$file")}
IPV4_ADDRESS=${IPV4_ADDRESS:-$(iface_ipv4 "$IFACE")}
wait_secs=180
retry_secs=2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
jq --arg host "$HOST_NAME" --arg iface "$IFACE" --arg addr "$IPV4_ADDRESS" '
    map(.host_name = $host | .iface = $iface
        | if has("ipv4_address") and $addr != "" then .ipv4_address = $addr else . end)' \
    "$file" >"$tmp/body.json"

url=http://$L3AFD_API/l3af/configs/v1/$action
say "POST $url ($(basename "$file"): host $HOST_NAME, iface $IFACE${IPV4_ADDRESS:+, $IPV4_ADDRESS})"
deadline=$((SECONDS + wait_secs))
while :; do
    # No "Expect: 100-continue": send the body at once.
    code=$(curl -s -o "$tmp/answer" -w '%{http_code}' --connect-timeout 5 --max-time 120 \
        -X POST -H 'Content-Type: application/json' -H 'Expect:' \
        --data-binary @"$tmp/body.json" "$url") || true
    answer=$(cat "$tmp/answer" 2>/dev/null || true)
    case $code in
    200)
        # l3afd answers 200 with an empty body when done, and 200 with a
        # message when it is in the middle of a graceful restart.
        [ -n "$answer" ] || break
        why="l3afd: $answer"
        ;;
    000 | "") why="l3afd not answering at $L3AFD_API" ;;
    *) die "l3afd answered $code: $answer" ;;
    esac
    [ "$SECONDS" -lt "$deadline" ] || die "gave up after ${wait_secs}s: $why"
    say "$why; retrying in ${retry_secs}s"
    sleep "$retry_secs"
done
say "l3afd accepted the $action request"
