#!/usr/bin/env bash
# Points Prometheus at l3afd's metrics endpoint and gives Grafana that
# Prometheus as a data source and this package's dashboard
# (l3af/grafana/ipfix-flow-exporter.json), then (re)starts both. Run as root.
#
# Environment, with defaults:
#   L3AFD_METRICS        localhost:8898   [web] metrics-addr in vagrant/l3afd.cfg
#   PROMETHEUS_PORT      9090
#   DASHBOARD            l3af/grafana/ipfix-flow-exporter.json
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

L3AFD_METRICS=${L3AFD_METRICS:-localhost:8898}
PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090}
DASHBOARD=${DASHBOARD:-$SRC_DIR/l3af/grafana/$PKG_NAME.json}
PROMETHEUS_CONFIG=/etc/prometheus/prometheus.yml
GRAFANA_PROVISIONING=/etc/grafana/provisioning
# l3af-arch's place for them.
GRAFANA_DASHBOARDS=/var/lib/grafana/dashboards
[ -r "$DASHBOARD" ] || die "no dashboard at $DASHBOARD"

say "Prometheus: scrape l3afd at $L3AFD_METRICS ($PROMETHEUS_CONFIG)"
install -d -m 0755 "$(dirname "$PROMETHEUS_CONFIG")"
cat >"$PROMETHEUS_CONFIG" <<YAML
# Written by vagrant/setup-monitoring.sh.
global:
  scrape_interval: 15s
  evaluation_interval: 15s

scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['localhost:$PROMETHEUS_PORT']
  - job_name: node
    static_configs:
      - targets: ['localhost:9100']
  # l3afd_BPFMonitorMap{ebpf_program="$PKG_NAME", map_name=...}: the monitor maps of the payload.
  - job_name: l3afd
    scrape_interval: 5s
    static_configs:
      - targets: ['$L3AFD_METRICS']
YAML

say "Grafana: data source and dashboards ($GRAFANA_PROVISIONING, $GRAFANA_DASHBOARDS)"
install -d -m 0755 "$GRAFANA_PROVISIONING/datasources" "$GRAFANA_PROVISIONING/dashboards" "$GRAFANA_DASHBOARDS"
cat >"$GRAFANA_PROVISIONING/datasources/l3af.yaml" <<YAML
# Written by vagrant/setup-monitoring.sh.
apiVersion: 1
datasources:
  - name: Prometheus
    uid: prometheus
    type: prometheus
    access: proxy
    url: http://localhost:$PROMETHEUS_PORT
    isDefault: true
YAML
cat >"$GRAFANA_PROVISIONING/dashboards/l3af.yaml" <<YAML
# Written by vagrant/setup-monitoring.sh.
apiVersion: 1
providers:
  - name: l3af
    folder: l3af
    type: file
    updateIntervalSeconds: 10
    options:
      path: $GRAFANA_DASHBOARDS
YAML
install -m 0644 "$DASHBOARD" "$GRAFANA_DASHBOARDS/"
chown -R grafana:grafana "$GRAFANA_DASHBOARDS"
chown root:grafana "$GRAFANA_PROVISIONING"/datasources/l3af.yaml "$GRAFANA_PROVISIONING"/dashboards/l3af.yaml

systemctl daemon-reload
systemctl enable prometheus.service prometheus-node-exporter.service grafana-server.service
systemctl restart prometheus.service prometheus-node-exporter.service grafana-server.service
say "Prometheus on :$PROMETHEUS_PORT, Grafana on :3000"
