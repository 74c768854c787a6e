//! Collector faults: late, down at start, restarted, hanging, dead, unresolvable.
//! The exporter keeps running, counts and logs once per outage, and every
//! collector that is there gets every record.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::collector::{collected_flows, sorted};
use common::exporter::{totals, Exporter};
use common::netns::NetnsPair;
use common::process::Background;
use common::traffic::{sa, udp_send, udp_sink};
use serde_json::Value;

fn start_collect(ns: &str, listen: &str) -> Background {
    common::collector::start_collect(ns, listen).0
}

/// Sends one datagram every `gap` from A to B:port for `count` packets on a
/// background thread; returns the number sent when joined.
fn background_sender(
    net: &NetnsPair,
    port: u16,
    count: u64,
    gap: Duration,
) -> std::thread::JoinHandle<u64> {
    let (ns, a, b) = (
        net.a.clone(),
        NetnsPair::ip(false, true),
        NetnsPair::ip(false, false),
    );
    std::thread::spawn(move || udp_send(&ns, sa(a, 40000 + port), sa(b, port), count, 32, gap))
}

/// The outage is logged once however long it lasts (the exporter logs the
/// first failure and counts the rest), so a short one tells as much as a
/// long one.
#[test]
fn a_udp_collector_started_late_decodes_within_one_template_refresh() {
    common::require_root!();
    let net = NetnsPair::new();
    // No collector yet: every datagram gets an ICMP port unreachable.
    let exp = Exporter::start(
        &net.a,
        &net.veth_a,
        &[
            "--active-timeout",
            "200ms",
            "--template-refresh",
            "2s",
            "--collector",
            "127.0.0.1:4739",
        ],
    );
    let sender = background_sender(&net, 7400, 1500, Duration::from_millis(4));
    std::thread::sleep(Duration::from_millis(1500));
    let mut late = start_collect(&net.a, "udp://127.0.0.1:4739");
    let started = Instant::now();
    let decoded = late.wait_stdout_lines(Duration::from_secs(3), 1, |l| {
        l.contains("\"dst_port\":7400")
    });
    let waited = started.elapsed();
    assert_eq!(sender.join().unwrap(), 1500);
    let log = exp.stderr.lock().unwrap().clone();
    exp.stop();
    late.stop();
    assert!(
        decoded,
        "no flow decoded within 3 s of starting (refresh is 2 s)"
    );
    assert!(waited <= Duration::from_millis(2600), "took {waited:?}");
    // Data that arrived before the first refresh is reported, not guessed.
    let collected = late.stderr.lock().unwrap().clone();
    assert!(!collected.contains("error"), "{collected}");
    // One warning for the whole outage, one when it ends, no crash.
    assert_eq!(log.matches("collector not listening").count(), 1, "{log}");
    assert_eq!(log.matches("accepts data again").count(), 1, "{log}");
}

/// A TCP collector down when the exporter starts, then up, then restarted:
/// each connection starts with the templates, the first gets the records
/// queued during the outage, the second the rest; together they got exactly
/// what the exporter printed.
#[test]
fn a_tcp_collector_down_at_start_then_restarted_gets_templates_and_every_record() {
    common::require_root!();
    let net = NetnsPair::new();
    let exp = Exporter::start(
        &net.a,
        &net.veth_a,
        &[
            "--active-timeout",
            "300ms",
            "--collector",
            "tcp://127.0.0.1:4740",
            // RFC 7011's minute between attempts, shortened for the test.
            "--tcp-reconnect",
            "250ms",
        ],
    );
    let b = NetnsPair::ip(false, false);
    let to_port = |port: u16| move |r: &Value| r["dst_port"] == port && r["protocol"] == 17;

    // Down at start: the records of several intervals wait in the queue.
    let sink = udp_sink(&net.b, sa(b, 7401));
    let n1 = background_sender(&net, 7401, 20, Duration::ZERO)
        .join()
        .unwrap();
    assert_eq!(sink.join().unwrap(), n1);
    std::thread::sleep(Duration::from_secs(2));
    let mut first = start_collect(&net.a, "tcp://127.0.0.1:4740");
    assert!(
        first.wait_stdout_lines(Duration::from_secs(10), 1, |l| l
            .contains("\"dst_port\":7401")),
        "the queued records arrive after the connect"
    );
    std::thread::sleep(Duration::from_millis(600));
    let out1 = first.stop();

    // Restarted: a new connection, the templates again, the rest decoded.
    let mut second = start_collect(&net.a, "tcp://127.0.0.1:4740");
    let sink = udp_sink(&net.b, sa(b, 7402));
    let n2 = background_sender(&net, 7402, 30, Duration::ZERO)
        .join()
        .unwrap();
    assert_eq!(sink.join().unwrap(), n2);
    std::thread::sleep(Duration::from_millis(1500));
    let log = exp.stderr.lock().unwrap().clone();
    let recs = exp.stop();
    std::thread::sleep(Duration::from_millis(300));
    let out2 = second.stop();

    for (name, c) in [("first", &first), ("second", &second)] {
        let err = c.stderr.lock().unwrap().clone();
        assert!(
            !err.contains("unknown template"),
            "{name} collector: templates first on each connection: {err}"
        );
    }
    let (flows1, flows2) = (collected_flows(&out1), collected_flows(&out2));
    // 32-byte payloads: 60 octets a packet (IPv4 20 + UDP 8 + 32).
    assert_eq!(totals(&recs, to_port(7401)), (n1, n1 * 60));
    assert_eq!(totals(&recs, to_port(7402)), (n2, n2 * 60));
    assert_eq!(totals(&flows1, to_port(7401)), (n1, n1 * 60));
    assert_eq!(totals(&flows2, to_port(7402)), (n2, n2 * 60));
    let both: Vec<Value> = flows1.into_iter().chain(flows2).collect();
    assert_eq!(sorted(&both), sorted(&recs), "every record, once");
    // Each outage (at the start, at the restart) is logged once, and its end.
    assert_eq!(log.matches("unreachable").count(), 2, "{log}");
    assert_eq!(log.matches("is back after").count(), 2, "{log}");
}

#[test]
fn a_hanging_tcp_collector_bounds_the_queue_and_cannot_delay_shutdown() {
    common::require_root!();
    let net = NetnsPair::new();
    // Accepts, never reads, with a tiny receive window.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let hang = NetnsPair::spawn_in(&net.a, move || {
        let l = TcpListener::bind("127.0.0.1:4741").unwrap();
        // Accepted sockets inherit it: the exporter sees a 4 KiB window.
        nix::sys::socket::setsockopt(&l, nix::sys::socket::sockopt::RcvBuf, &4096).unwrap();
        ready_tx.send(()).unwrap();
        let (conn, _) = l.accept().unwrap();
        let _ = done_rx.recv_timeout(Duration::from_secs(60));
        drop(conn);
    });
    ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let exp = Exporter::start(
        &net.a,
        &net.veth_a,
        &[
            "--active-timeout",
            "300ms",
            "--tcp-queue-records",
            "500",
            "--collector",
            "tcp://127.0.0.1:4741",
        ],
    );
    // 30 000 one-packet flows: far more than the queue and socket buffers.
    let (a, b) = (NetnsPair::ip(false, true), NetnsPair::ip(false, false));
    NetnsPair::run_in(&net.a, move || {
        let s = std::net::UdpSocket::bind(sa(a, 40999)).unwrap();
        for port in 0..30_000u16 {
            let _ = s.send_to(&[1u8; 8], sa(b, 10_000 + port));
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    let log_of = std::sync::Arc::clone(&exp.stderr);
    let (recs, code) = exp.stop_with(nix::sys::signal::Signal::SIGTERM); // asserts ≤ 2 s
    assert_eq!(code, Some(0));
    let log = log_of.lock().unwrap().clone();
    assert!(log.contains("queue full"), "{log}");
    // The exit summary: every record was either sent or counted as not.
    let summary = log
        .lines()
        .find(|l| l.contains(" flow records, "))
        .unwrap_or_else(|| panic!("no summary in {log}"));
    let number_before = |what: &str| -> u64 {
        let head = summary.split(what).next().unwrap();
        head.rsplit([' ', ',', ';'])
            .find(|w| !w.is_empty())
            .unwrap()
            .parse()
            .unwrap()
    };
    let (sent, not_sent) = (
        number_before(" flow records"),
        number_before(" records not sent"),
    );
    assert!(not_sent > 0, "{summary}");
    assert_eq!(sent + not_sent, recs.len() as u64, "{summary}");
    done_tx.send(()).unwrap();
    hang.join().unwrap();
    let egress = recs.iter().filter(|r| r["direction"] == "egress").count();
    assert!(
        egress >= 30_000,
        "every flow was still metered and printed: {egress}"
    );
}

#[test]
fn with_one_collector_dead_the_other_gets_everything_on_time() {
    common::require_root!();
    let net = NetnsPair::new();
    // A black hole: SYNs to 203.0.113.1 leave through the veth and die.
    NetnsPair::exec(
        &net.a,
        &["ip", "route", "add", "203.0.113.0/24", "dev", &net.veth_a],
    );
    let mut good = start_collect(&net.a, "udp://127.0.0.1:4742");
    let exp = Exporter::start(
        &net.a,
        &net.veth_a,
        &[
            "--active-timeout",
            "300ms",
            "--collector",
            "tcp://203.0.113.1:4739",
            "--collector",
            "udp://127.0.0.1:4743",
            "--collector",
            "udp://127.0.0.1:4742",
        ],
    );
    let b = NetnsPair::ip(false, false);
    let sink = udp_sink(&net.b, sa(b, 7403));
    let sent_at = Instant::now();
    let n = background_sender(&net, 7403, 25, Duration::ZERO)
        .join()
        .unwrap();
    assert_eq!(sink.join().unwrap(), n);
    assert!(
        good.wait_stdout_lines(Duration::from_secs(2), 1, |l| l
            .contains("\"dst_port\":7403")),
        "the live collector got the flow within 2 s"
    );
    assert!(sent_at.elapsed() < Duration::from_secs(5));
    let recs = exp.stop();
    std::thread::sleep(Duration::from_millis(300));
    let out = good.stop();
    assert_eq!(sorted(&collected_flows(&out)), sorted(&recs));
    assert_eq!(totals(&recs, |r| r["dst_port"] == 7403), (n, n * 60));
}

#[test]
fn a_collector_name_that_does_not_resolve_is_retried_without_harm() {
    common::require_root!();
    let net = NetnsPair::new();
    let mut good = start_collect(&net.a, "udp://127.0.0.1:4744");
    let exp = Exporter::start(
        &net.a,
        &net.veth_a,
        &[
            "--active-timeout",
            "300ms",
            "--collector",
            "tcp://no-such-collector.invalid:4739",
            "--collector",
            "udp://also-missing.invalid",
            "--collector",
            "udp://127.0.0.1:4744",
        ],
    );
    let b = NetnsPair::ip(false, false);
    let sink = udp_sink(&net.b, sa(b, 7404));
    let n = background_sender(&net, 7404, 15, Duration::ZERO)
        .join()
        .unwrap();
    assert_eq!(sink.join().unwrap(), n);
    std::thread::sleep(Duration::from_secs(3));
    let log = exp.stderr.lock().unwrap().clone();
    let recs = exp.stop();
    std::thread::sleep(Duration::from_millis(300));
    let out = good.stop();
    assert_eq!(sorted(&collected_flows(&out)), sorted(&recs));
    for name in ["no-such-collector.invalid", "also-missing.invalid"] {
        let lines = log
            .lines()
            .filter(|l| l.contains(name) && l.contains("resolving"))
            .count();
        assert_eq!(lines, 1, "one clear line per outage for {name}:\n{log}");
    }
}
