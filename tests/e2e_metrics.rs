//! End to end: `run --metrics-listen` scraped during a run with real
//! traffic and a real UDP collector; every counter checked against an
//! independent count, and the page checked by Debian's `promtool check
//! metrics`.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::exporter::{read_monitor, run_command, Exporter};
use common::netns::{sh_with_stdin, NetnsPair};
use common::traffic::{sa, udp_send, udp_sink};

/// Datagrams arriving at a UDP socket in `ns`, counted until `stop`.
fn counting_collector(ns: &str, stop: Arc<AtomicBool>) -> (u16, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let (tx, rx) = std::sync::mpsc::channel();
    let n = Arc::clone(&count);
    NetnsPair::spawn_in(ns, move || {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        tx.send(sock.local_addr().unwrap().port()).unwrap();
        let mut buf = [0u8; 65536];
        let deadline = Instant::now() + Duration::from_secs(120);
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            if sock.recv(&mut buf).is_ok() {
                n.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    (rx.recv_timeout(Duration::from_secs(5)).unwrap(), count)
}

/// GET /metrics from inside `ns`: the status line and the body.
fn scrape(ns: &str, port: u16) -> (String, String) {
    NetnsPair::run_in(ns, move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        (head.lines().next().unwrap().to_owned(), body.to_owned())
    })
}

/// The value of the sample `series` (name and labels, as printed).
fn sample(body: &str, series: &str) -> u64 {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{series} missing from:\n{body}"))
        .parse::<f64>()
        .unwrap() as u64
}

#[test]
fn metrics_count_what_was_metered_and_sent() {
    common::require_root!();
    common::require_tools!("promtool");
    let net = NetnsPair::new();
    let stop = Arc::new(AtomicBool::new(false));
    let (collector, received) = counting_collector(&net.a, Arc::clone(&stop));
    let metrics_port = 19_000 + (std::process::id() % 1000) as u16;
    let exp = Exporter::start(
        &net.a,
        &net.veth_a,
        &[
            // Long enough for a quiet window between two intervals.
            "--active-timeout",
            "3s",
            "--collector",
            &format!("udp://127.0.0.1:{collector}"),
            "--metrics-listen",
            &format!("127.0.0.1:{metrics_port}"),
        ],
    );
    net.resolve_neighbours();
    let (a, b) = (NetnsPair::ip(false, true), NetnsPair::ip(false, false));
    let sink = udp_sink(&net.b, sa(b, 5301));
    let sent = udp_send(&net.a, sa(a, 40301), sa(b, 5301), 57, 64, Duration::ZERO);
    assert_eq!(sink.join().unwrap(), sent);
    assert!(exp.wait_for_record(Duration::from_secs(10), |r| r["dst_port"] == 5301));

    // Just after an interval, before the next: counters still, the page
    // published (the monitor look follows a moving total within 100 ms).
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        std::thread::sleep(Duration::from_millis(1200));
        let before = (
            read_monitor(&exp.pin_dir, "ipfix_egress_packets"),
            received.load(Ordering::Relaxed),
            exp.records.lock().unwrap().len(),
        );
        let (status, body) = scrape(&net.a, metrics_port);
        assert_eq!(status, "HTTP/1.1 200 OK");
        let after = (
            read_monitor(&exp.pin_dir, "ipfix_egress_packets"),
            received.load(Ordering::Relaxed),
            exp.records.lock().unwrap().len(),
        );
        let records = sample(
            &body,
            "ipfix_exporter_flow_records_total{direction=\"egress\"}",
        ) + sample(
            &body,
            "ipfix_exporter_flow_records_total{direction=\"ingress\"}",
        );
        let c = "{collector=\"udp://127.0.0.1:";
        let messages = sample(
            &body,
            &format!("ipfix_exporter_collector_messages_total{c}{collector}\"}}"),
        );
        let settled = before == after
            && sample(&body, "ipfix_exporter_packets_total{direction=\"egress\"}") == before.0
            && messages == before.1
            && records == before.2 as u64;
        if settled {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "the page never matched the monitor map, the collector and the records \
             (last {before:?}):\n{body}"
        );
    };
    assert!(sample(&body, "ipfix_exporter_packets_total{direction=\"egress\"}") >= sent);
    let egress_records = exp
        .records
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r["direction"] == "egress")
        .count() as u64;
    assert_eq!(
        sample(
            &body,
            "ipfix_exporter_flow_records_total{direction=\"egress\"}"
        ),
        egress_records
    );
    for reason in ["table_full", "parse_failed", "sampled_out"] {
        let series = format!(
            "ipfix_exporter_packets_not_metered_total{{direction=\"egress\",reason=\"{reason}\"}}"
        );
        assert_eq!(sample(&body, &series), 0, "{reason}");
    }
    let c = format!("{{collector=\"udp://127.0.0.1:{collector}\"}}");
    assert_eq!(
        sample(
            &body,
            &format!("ipfix_exporter_collector_send_errors_total{c}")
        ),
        0
    );
    assert_eq!(sample(&body, &format!("ipfix_exporter_collector_up{c}")), 1);
    assert_eq!(sample(&body, "ipfix_exporter_interfaces_attached"), 1);

    // The format, as Prometheus's own linter reads it.
    // Fails the test when promtool does; it must not even warn.
    let lint = sh_with_stdin("promtool", &["check", "metrics"], &body);
    let said = String::from_utf8_lossy(&lint.stdout) + String::from_utf8_lossy(&lint.stderr);
    assert!(
        said.trim().is_empty(),
        "promtool check metrics: {said}\n{body}"
    );

    // Anything but GET /metrics is refused, and the run goes on.
    let other = NetnsPair::run_in(&net.a, move || {
        let mut s = TcpStream::connect(("127.0.0.1", metrics_port)).unwrap();
        s.write_all(b"DELETE /metrics HTTP/1.1\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    });
    assert!(other.starts_with("HTTP/1.1 405"), "{other}");
    exp.stop();
    stop.store(true, Ordering::Relaxed);
}

/// A port already taken fails the start with one line naming the flag,
/// before anything is loaded or pinned.
#[test]
fn a_taken_metrics_port_fails_the_start_and_leaves_nothing() {
    common::require_root!();
    let net = NetnsPair::new();
    let (tx, rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = NetnsPair::spawn_in(&net.a, move || {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        tx.send(l.local_addr().unwrap().port()).unwrap();
        let _ = release_rx.recv_timeout(Duration::from_secs(30));
    });
    let port = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let pins = std::path::PathBuf::from("/sys/fs/bpf").join(common::unique("ipfix-e2e-"));
    let out = run_command(
        &net.a,
        &[],
        &[],
        &net.veth_a,
        &pins,
        &["--metrics-listen", &format!("127.0.0.1:{port}")],
    )
    .output()
    .unwrap();
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "--metrics-listen 127.0.0.1:{port}: cannot listen there"
        )),
        "{err}"
    );
    assert!(!pins.exists(), "nothing pinned");
}
