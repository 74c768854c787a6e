//! `--metrics-listen ADDR:PORT`: the exporter's own health as Prometheus
//! metrics (text format 0.0.4, prometheus-client), served at `/metrics` by
//! a small HTTP/1.x responder on a thread of its own. The export loop
//! publishes into the metric families (atomics); a scrape only encodes them.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `ipfix_exporter_packets_total` | direction | packets the programs ran for |
//! | `ipfix_exporter_packets_not_metered_total` | direction, reason | `non_ip`, `parse_failed`, `table_full`, `sampled_out` |
//! | `ipfix_exporter_table_full_bytes_total` | direction | octets of packets a full table refused |
//! | `ipfix_exporter_flow_records_total` | direction | flow records exported |
//! | `ipfix_exporter_interval_duration_seconds` | direction | the last interval: flip, drain, encode, send |
//! | `ipfix_exporter_collector_messages_total` | collector | IPFIX messages sent |
//! | `ipfix_exporter_collector_flow_records_total` | collector | flow records sent |
//! | `ipfix_exporter_collector_send_errors_total` | collector | failed sends, refusals, broken connections |
//! | `ipfix_exporter_collector_records_not_sent_total` | collector | records dropped (notSentFlowTotalCount) |
//! | `ipfix_exporter_collector_up` | collector | 1 while resolved (UDP) or connected (TCP) without an outage |
//! | `ipfix_exporter_interfaces_attached` | | interfaces metered now |

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::{Context, Result};
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::flow::record_sink::CollectorStatus;
use crate::flow::{Direction, FlowStats};

type Labels = Vec<(&'static str, String)>;
type Counters = Family<Labels, Counter>;

/// Longest request head read; a scrape's is a few hundred octets.
const MAX_REQUEST: usize = 8192;
/// A client that sends or reads slower than this is dropped.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

/// The metric families the export loop publishes into.
pub struct Metrics {
    packets: Counters,
    not_metered: Counters,
    table_full_bytes: Counters,
    records: Counters,
    interval_seconds: Family<Labels, Gauge<f64, AtomicU64>>,
    collector_messages: Counters,
    collector_records: Counters,
    collector_errors: Counters,
    collector_not_sent: Counters,
    collector_up: Family<Labels, Gauge>,
    interfaces: Gauge,
    /// The totals last published per counter and label set: counters only
    /// go up, by the difference.
    last: HashMap<(&'static str, Labels), u64>,
}

impl Metrics {
    /// The families, and the registry that encodes them for the server.
    pub fn new() -> (Self, Registry) {
        let mut reg = Registry::with_prefix("ipfix_exporter");
        let m = Metrics {
            packets: Counters::default(),
            not_metered: Counters::default(),
            table_full_bytes: Counters::default(),
            records: Counters::default(),
            interval_seconds: Family::default(),
            collector_messages: Counters::default(),
            collector_records: Counters::default(),
            collector_errors: Counters::default(),
            collector_not_sent: Counters::default(),
            collector_up: Family::default(),
            interfaces: Gauge::default(),
            last: HashMap::new(),
        };
        let counters: [(&str, &str, &Counters); 8] = [
            ("packets", "Packets the tc programs ran for", &m.packets),
            (
                "packets_not_metered",
                "Packets passed on without being metered, by reason",
                &m.not_metered,
            ),
            (
                "table_full_bytes",
                "IP octets of packets a full flow table refused",
                &m.table_full_bytes,
            ),
            ("flow_records", "Flow records exported", &m.records),
            (
                "collector_messages",
                "IPFIX messages sent to a collector",
                &m.collector_messages,
            ),
            (
                "collector_flow_records",
                "Flow records sent to a collector",
                &m.collector_records,
            ),
            (
                "collector_send_errors",
                "Failed sends, ICMP refusals and broken connections of a collector",
                &m.collector_errors,
            ),
            (
                "collector_records_not_sent",
                "Flow records dropped instead of sent to a collector (notSentFlowTotalCount)",
                &m.collector_not_sent,
            ),
        ];
        for (name, help, family) in counters {
            reg.register(name, help, family.clone());
        }
        reg.register(
            "interval_duration_seconds",
            "Duration of the last export interval (flip, drain, encode, send)",
            m.interval_seconds.clone(),
        );
        reg.register(
            "collector_up",
            "1 while a collector is resolved (UDP) or connected (TCP) and not in an outage",
            m.collector_up.clone(),
        );
        reg.register(
            "interfaces_attached",
            "Interfaces the programs are attached to",
            m.interfaces.clone(),
        );
        (m, reg)
    }

    /// The datapath's totals of one direction.
    pub fn datapath(&mut self, dir: Direction, s: &FlowStats) {
        let d = || vec![("direction", dir.as_str().to_owned())];
        advance(&mut self.last, &self.packets, "packets", d(), s.packets);
        for (reason, n) in [
            ("non_ip", s.non_ip),
            ("parse_failed", s.parse_failed),
            ("table_full", s.table_full_packets),
            ("sampled_out", s.sampled_out),
        ] {
            let mut l = d();
            l.push(("reason", reason.to_owned()));
            advance(&mut self.last, &self.not_metered, "not_metered", l, n);
        }
        advance(
            &mut self.last,
            &self.table_full_bytes,
            "table_full_bytes",
            d(),
            s.table_full_octets,
        );
    }

    /// One interval of one direction: the records it exported and how long
    /// it took.
    pub fn interval(&mut self, dir: Direction, records: u64, took: Duration) {
        let d = vec![("direction", dir.as_str().to_owned())];
        self.records.get_or_create(&d).inc_by(records);
        self.interval_seconds
            .get_or_create(&d)
            .set(took.as_secs_f64());
    }

    pub fn collectors(&mut self, list: &[CollectorStatus]) {
        // A collector a reload removed: its series go (Prometheus marks
        // them stale) rather than stay at their last values.
        let gone: Vec<Labels> = self
            .last
            .keys()
            .filter(|(name, l)| {
                *name == "messages"
                    && !list
                        .iter()
                        .any(|c| l.first().is_some_and(|(_, v)| *v == c.name))
            })
            .map(|(_, l)| l.clone())
            .collect();
        for l in gone {
            for family in [
                &self.collector_messages,
                &self.collector_records,
                &self.collector_errors,
                &self.collector_not_sent,
            ] {
                family.remove(&l);
            }
            self.collector_up.remove(&l);
            self.last.retain(|(_, k), _| *k != l);
        }
        for c in list {
            let l = || vec![("collector", c.name.clone())];
            let last = &mut self.last;
            advance(last, &self.collector_messages, "messages", l(), c.messages);
            advance(
                last,
                &self.collector_records,
                "records",
                l(),
                c.flow_records,
            );
            advance(last, &self.collector_errors, "errors", l(), c.send_errors);
            advance(last, &self.collector_not_sent, "not_sent", l(), c.not_sent);
            self.collector_up.get_or_create(&l()).set(i64::from(c.up));
        }
    }

    pub fn interfaces(&self, n: usize) {
        self.interfaces.set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}

/// Moves the counter `name` of `family` with `labels` up to `total`. A
/// total below the last one is a counter that started again (new maps):
/// only what it counted since goes on top.
fn advance(
    last: &mut HashMap<(&'static str, Labels), u64>,
    family: &Counters,
    name: &'static str,
    labels: Labels,
    total: u64,
) {
    let seen = last.entry((name, labels.clone())).or_insert(0);
    let delta = total.checked_sub(*seen).unwrap_or(total);
    *seen = total;
    family.get_or_create(&labels).inc_by(delta);
}

/// Binds `addr` for [`serve`]: at start, before anything is loaded, so
/// that a taken port fails the start and leaves nothing behind.
pub fn bind(addr: SocketAddr) -> Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .with_context(|| format!("--metrics-listen {addr}: cannot listen there"))?;
    log::info!("serving Prometheus metrics at http://{addr}/metrics");
    Ok(listener)
}

/// Answers scrapes on `listener` from a thread of its own until the
/// process ends.
pub fn serve(listener: TcpListener, registry: Registry) -> Result<()> {
    std::thread::Builder::new()
        .name("metrics".to_owned())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Err(e) = answer(stream, &registry) {
                    log::debug!("metrics client: {e}");
                }
            }
        })
        .context("starting the metrics thread")?;
    Ok(())
}

/// One request, one response, then the connection closes.
fn answer(mut stream: TcpStream, registry: &Registry) -> std::io::Result<()> {
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let (status, content_type, body) = respond(&head, registry);
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// The status line, content type and body for a request head.
fn respond(head: &[u8], registry: &Registry) -> (&'static str, &'static str, String) {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let text = "text/plain; charset=utf-8";
    match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/metrics") => {
            let mut body = String::new();
            match prometheus_text::encode(&mut body, registry) {
                Ok(()) => ("200 OK", prometheus_text::CONTENT_TYPE, body),
                Err(_) => ("500 Internal Server Error", text, String::new()),
            }
        }
        ("GET", _) => (
            "404 Not Found",
            text,
            "metrics are at /metrics\n".to_owned(),
        ),
        _ => ("405 Method Not Allowed", text, String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(reg: &Registry) -> String {
        let (status, ctype, body) = respond(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", reg);
        assert_eq!(status, "200 OK");
        assert!(ctype.starts_with("text/plain; version=0.0.4"));
        body
    }

    #[test]
    fn totals_become_counters_that_only_go_up() {
        let (mut m, reg) = Metrics::new();
        let stats = |packets, non_ip| FlowStats {
            packets,
            non_ip,
            ..FlowStats::default()
        };
        m.datapath(Direction::Egress, &stats(10, 2));
        m.datapath(Direction::Egress, &stats(25, 2));
        m.interval(Direction::Egress, 7, Duration::from_millis(250));
        m.interval(Direction::Egress, 3, Duration::from_millis(5));
        m.interfaces(3);
        let body = scrape(&reg);
        for want in [
            "# TYPE ipfix_exporter_packets_total counter",
            "ipfix_exporter_packets_total{direction=\"egress\"} 25",
            "ipfix_exporter_packets_not_metered_total{direction=\"egress\",reason=\"non_ip\"} 2",
            "ipfix_exporter_flow_records_total{direction=\"egress\"} 10",
            "ipfix_exporter_interval_duration_seconds{direction=\"egress\"} 0.005",
            "ipfix_exporter_interfaces_attached 3",
        ] {
            assert!(body.contains(want), "{want:?} missing from:\n{body}");
        }
        // Maps replaced (a counter that starts again): what it counts since
        // goes on top, the series never falls.
        m.datapath(Direction::Egress, &stats(4, 0));
        assert!(scrape(&reg).contains("ipfix_exporter_packets_total{direction=\"egress\"} 29"));
    }

    #[test]
    fn collectors_are_labelled_and_up_is_a_gauge() {
        let (mut m, reg) = Metrics::new();
        m.collectors(&[CollectorStatus {
            name: "tcp://192.0.2.9:4739".to_owned(),
            messages: 4,
            flow_records: 40,
            send_errors: 1,
            not_sent: 0,
            up: false,
        }]);
        let body = scrape(&reg);
        let c = "{collector=\"tcp://192.0.2.9:4739\"}";
        for want in [
            format!("ipfix_exporter_collector_messages_total{c} 4"),
            format!("ipfix_exporter_collector_flow_records_total{c} 40"),
            format!("ipfix_exporter_collector_send_errors_total{c} 1"),
            format!("ipfix_exporter_collector_up{c} 0"),
        ] {
            assert!(body.contains(&want), "{want:?} missing from:\n{body}");
        }
    }

    #[test]
    fn a_collector_a_reload_removed_leaves_the_page() {
        let (mut m, reg) = Metrics::new();
        let status = |name: &str, messages| CollectorStatus {
            name: name.to_owned(),
            messages,
            flow_records: 0,
            send_errors: 0,
            not_sent: 0,
            up: true,
        };
        m.collectors(&[
            status("udp://192.0.2.1:4739", 5),
            status("udp://192.0.2.2:4739", 6),
        ]);
        m.collectors(&[status("udp://192.0.2.2:4739", 7)]);
        let body = scrape(&reg);
        assert!(!body.contains("192.0.2.1"), "{body}");
        assert!(body.contains(
            "ipfix_exporter_collector_messages_total{collector=\"udp://192.0.2.2:4739\"} 7"
        ));
        // Back with a new session: counted from its start, on top of nothing.
        m.collectors(&[
            status("udp://192.0.2.1:4739", 2),
            status("udp://192.0.2.2:4739", 7),
        ]);
        assert!(scrape(&reg).contains(
            "ipfix_exporter_collector_messages_total{collector=\"udp://192.0.2.1:4739\"} 2"
        ));
    }

    /// Every metric the Grafana dashboard queries is one the exporter
    /// serves (names shared across the code and the dashboard).
    #[test]
    fn the_dashboard_queries_only_served_metrics() {
        let (mut m, reg) = Metrics::new();
        m.datapath(Direction::Ingress, &FlowStats::default());
        m.interval(Direction::Ingress, 0, Duration::ZERO);
        m.collectors(&[CollectorStatus {
            name: "udp://192.0.2.9:4739".to_owned(),
            messages: 0,
            flow_records: 0,
            send_errors: 0,
            not_sent: 0,
            up: true,
        }]);
        let body = scrape(&reg);
        let served: std::collections::BTreeSet<&str> = body
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(served.len(), 11, "{served:?}");
        let dashboard = include_str!("../l3af/grafana/ipfix-flow-exporter-run.json");
        let mut queried = std::collections::BTreeSet::new();
        for (i, _) in dashboard.match_indices("ipfix_exporter_") {
            let name: String = dashboard[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            queried.insert(name);
        }
        for q in &queried {
            assert!(
                served.contains(q.as_str()),
                "the dashboard queries {q}, not served"
            );
        }
        for s in &served {
            assert!(
                queried.contains(*s),
                "{s} is served but on no dashboard panel"
            );
        }
    }

    #[test]
    fn anything_but_get_metrics_is_refused() {
        let (_, reg) = Metrics::new();
        assert_eq!(respond(b"GET / HTTP/1.1\r\n\r\n", &reg).0, "404 Not Found");
        assert_eq!(
            respond(b"POST /metrics HTTP/1.1\r\n\r\n", &reg).0,
            "405 Method Not Allowed"
        );
        assert_eq!(respond(b"", &reg).0, "405 Method Not Allowed");
        assert_eq!(
            respond(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n", &reg).0,
            "200 OK"
        );
    }
}
