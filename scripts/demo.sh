#!/usr/bin/env bash
# The demo: two namespaces joined by a veth, the exporter on one end sending
# IPFIX to `collect` (our decoder) on loopback, a little TCP, UDP, ICMP and
# IPv6 traffic, the flows as the collector decoded them. Removes everything
# it created, also on Ctrl-C or failure. Run as root after `make release`.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-target/release/ipfix-flow-exporter}
NS_A=ipfix-demo-a
NS_B=ipfix-demo-b
OUT=$(mktemp -d /tmp/ipfix-demo.XXXXXX)
EXPORTER_PID=
COLLECTOR_PID=

cleanup() {
    set +e
    [ -n "$EXPORTER_PID" ] && kill -TERM "$EXPORTER_PID" 2>/dev/null && wait "$EXPORTER_PID" 2>/dev/null
    [ -n "$COLLECTOR_PID" ] && kill -TERM "$COLLECTOR_PID" 2>/dev/null && wait "$COLLECTOR_PID" 2>/dev/null
    ip netns del "$NS_A" 2>/dev/null
    ip netns del "$NS_B" 2>/dev/null
    rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns del "$NS_A" 2>/dev/null || true
ip netns del "$NS_B" 2>/dev/null || true
ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add demo0 netns "$NS_A" type veth peer name demo1 netns "$NS_B"
ip -n "$NS_A" addr add 192.0.2.1/24 dev demo0
ip -n "$NS_B" addr add 192.0.2.2/24 dev demo1
ip -n "$NS_A" addr add 2001:db8::1/64 dev demo0 nodad
ip -n "$NS_B" addr add 2001:db8::2/64 dev demo1 nodad
for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
ip -n "$NS_A" link set demo0 up
ip -n "$NS_B" link set demo1 up

echo "== starting the collector on udp://127.0.0.1:4739"
nsenter --net=/run/netns/$NS_A -- "$BIN" collect --listen udp://127.0.0.1:4739 --format table \
    >"$OUT/flows.txt" 2>"$OUT/collector.log" &
COLLECTOR_PID=$!
echo "== starting the exporter on demo0 (ingress + egress, 2 s export interval)"
nsenter --net=/run/netns/$NS_A -- "$BIN" -v run --iface demo0 --active-timeout 2s \
    --collector udp://127.0.0.1:4739 >/dev/null 2>"$OUT/exporter.log" &
EXPORTER_PID=$!
for _ in $(seq 50); do
    grep -q "attached egress" "$OUT/exporter.log" 2>/dev/null && break
    kill -0 "$EXPORTER_PID" 2>/dev/null || { cat "$OUT/exporter.log"; exit 1; }
    sleep 0.1
done

echo "== traffic: ping, ping -6, TCP and UDP from 192.0.2.1 to 192.0.2.2"
ip netns exec "$NS_A" ping -q -c 3 -i 0.2 192.0.2.2 >/dev/null
ip netns exec "$NS_A" ping -6 -q -c 3 -i 0.2 2001:db8::2 >/dev/null
ip netns exec "$NS_B" python3 - <<'PY' &
import socket
with socket.create_server(("192.0.2.2", 8080)) as srv:
    srv.settimeout(10)
    conn, _ = srv.accept()
    with conn:
        while conn.recv(65536):
            pass
PY
LISTENER=$!
sleep 0.3
ip netns exec "$NS_A" python3 - <<'PY'
import socket
with socket.create_connection(("192.0.2.2", 8080), timeout=5) as c:
    c.sendall(b"x" * 100000)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("192.0.2.1", 40000))
for i in range(5):
    u.sendto(b"hello %d" % i, ("192.0.2.2", 5353))
PY
wait "$LISTENER" || true
sleep 0.5

kill -TERM "$EXPORTER_PID"
wait "$EXPORTER_PID" || true
EXPORTER_PID=
sleep 0.5
kill -TERM "$COLLECTOR_PID"
wait "$COLLECTOR_PID" || true
COLLECTOR_PID=
echo "== flows as the collector decoded them (IPFIX over UDP)"
cat "$OUT/flows.txt"
