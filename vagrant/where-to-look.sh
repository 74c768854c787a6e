#!/usr/bin/env bash
# Prints where to see ipfix-flow-exporter at work in the dev environment: the
# flows nfcapd collected, Grafana, Prometheus, l3afd's API, the pins and logs,
# and what is there right now. Read-only; run it again at any time.
#
# Environment, with defaults:
#   IFACE                  the interface of the IPv4 default route (post-payload.sh's choice)
#   COLLECTOR_PORT         the payload's start_args.collector_port
#   FLOW_DIR               /var/cache/nfdump/ipfix-flow-exporter (start-collector.sh)
#   ROTATE_SECS            60
#   HOST_GRAFANA_PORT      33000 ┐
#   HOST_PROMETHEUS_PORT   39090 │ the host ports vagrant forwards (vagrant/config.yaml)
#   HOST_L3AFD_API_PORT    37080 │
#   HOST_L3AFD_DEBUG_PORT  38899 │
#   HOST_L3AFD_METRICS_PORT 38898┘
#   DASHBOARD              l3af/grafana/ipfix-flow-exporter.json
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

IFACE=${IFACE:-$(default_iface)}
IFACE=${IFACE:-$(jq -r '.[0].iface' "$PAYLOAD")}
VERSION=${VERSION:-$(payload_value .version)}
COLLECTOR_PORT=${COLLECTOR_PORT:-$(payload_value .start_args.collector_port)}
HOST_GRAFANA_PORT=${HOST_GRAFANA_PORT:-33000}
HOST_PROMETHEUS_PORT=${HOST_PROMETHEUS_PORT:-39090}
HOST_L3AFD_API_PORT=${HOST_L3AFD_API_PORT:-37080}
HOST_L3AFD_DEBUG_PORT=${HOST_L3AFD_DEBUG_PORT:-38899}
HOST_L3AFD_METRICS_PORT=${HOST_L3AFD_METRICS_PORT:-38898}
# l3afd's BpfMapDefaultPath and bpf-log-dir (vagrant/l3afd.cfg).
bpf_root=/sys/fs/bpf
log_dir=/var/log/l3af
DASHBOARD=${DASHBOARD:-$SRC_DIR/l3af/grafana/$PKG_NAME.json}

pins=$bpf_root/tc/globals/$IFACE/$PKG_NAME/$(pin_version "$VERSION")
dashboard_uid=$(jq -r '.uid' "$DASHBOARD")
query="l3afd_BPFMonitorMap{ebpf_program=\"$PKG_NAME\"}"
query_uri=$(jq -rn --arg q "$query" '$q | @uri')

cat <<TEXT

=== $PKG_NAME $VERSION in the L3AF dev environment ===

On the host (vagrant forwards these ports):
  Grafana (admin/admin)  http://localhost:$HOST_GRAFANA_PORT/d/$dashboard_uid
  Prometheus             http://localhost:$HOST_PROMETHEUS_PORT/graph?g0.expr=$query_uri
  l3afd's config         curl -s http://localhost:$HOST_L3AFD_API_PORT/l3af/configs/v1/$IFACE
  programs l3afd loaded  curl -s http://localhost:$HOST_L3AFD_DEBUG_PORT/bpfs/$IFACE
  monitor-map counters   curl -s http://localhost:$HOST_L3AFD_METRICS_PORT/metrics | grep '$PKG_NAME'

In the VM (vagrant ssh):
  flows   nfdump -R $FLOW_DIR -o extended
          nfcapd listens on udp port $COLLECTOR_PORT and closes a file every ${ROTATE_SECS}s;
          nfdump reads closed files, so allow a minute. Make traffic on $IFACE:
          curl -s -o /dev/null https://github.com
  pins    sudo ls $pins/
          sudo bpftool map lookup pinned $pins/ipfix_ingress_packets key 0 0 0 0
  daemons pgrep -a bpf_ipfix
  logs    $log_dir/bpf_ipfix_ingress.log, $log_dir/bpf_ipfix_egress.log
          journalctl -u l3afd
TEXT

echo
echo "Right now:"
if [ -d "$pins" ]; then
    echo "  pins     $(find "$pins" -mindepth 1 -maxdepth 1 | wc -l) under $pins"
else
    echo "  pins     none yet under $pins"
fi
daemons=$(pgrep -a '^bpf_ipfix_' 2>/dev/null || true)
echo "  daemons  ${daemons:-none running}" | sed '2,$s/^/           /'
if [ -d "$FLOW_DIR" ]; then
    echo "  flows    $(find "$FLOW_DIR" -maxdepth 1 -name 'nfcapd.[0-9]*' | wc -l) closed nfcapd files in $FLOW_DIR"
else
    echo "  flows    no $FLOW_DIR yet"
fi
