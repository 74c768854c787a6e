//! `make soak` (not part of `make test`): minutes of mixed traffic with flow
//! churn and collector restarts. Prints, every 30 s, packets sent and the
//! exporter's RSS, and at the end exported vs sent packets, exactly.
//!
//! SOAK_MINUTES (default 10) sets the length.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

#[path = "common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::netns::NetnsPair;
use common::process::Background;
use common::traffic::sa;

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn collector(ns: &str, listen: &str) -> Background {
    common::collector::start_collect(ns, listen).0
}

fn main() {
    common::require_root!();
    let minutes: u64 = std::env::var("SOAK_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(10);
    let length = Duration::from_secs(minutes * 60);
    let net = NetnsPair::new();
    net.ipv6_off();
    let mut udp = collector(&net.a, "udp://127.0.0.1:4739");
    let mut tcp = collector(&net.a, "tcp://127.0.0.1:4740");
    // The exporter's own JSON records, summed as they stream by (no copy
    // kept: a soak prints millions).
    let pins = common::exporter::PinDir::new();
    let mut child = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", net.a))
        .args([
            "--",
            common::exporter::BIN,
            "-v",
            "run",
            "--iface",
            &net.veth_a,
        ])
        .args([
            "--active-timeout",
            "5s",
            "--idle-timeout",
            "10s",
            "--max-flows",
            "65536",
        ])
        .args([
            "--collector",
            "udp://127.0.0.1:4739",
            "--collector",
            "tcp://127.0.0.1:4740",
            "--tcp-reconnect",
            "250ms",
        ])
        .args(["--output", "json", "--pin-path"])
        .arg(&pins.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the exporter");
    let pid = child.id();
    let exported = Arc::new(AtomicU64::new(0));
    let records = Arc::new(AtomicU64::new(0));
    let reader = {
        let (exported, records) = (Arc::clone(&exported), Arc::clone(&records));
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let r: serde_json::Value = serde_json::from_str(&line).unwrap();
                records.fetch_add(1, Ordering::Relaxed);
                if r["direction"] == "egress" && r["protocol"] == 17 {
                    exported.fetch_add(r["packets"].as_u64().unwrap(), Ordering::Relaxed);
                }
            }
        })
    };
    let (attached_tx, attached_rx) = std::sync::mpsc::channel();
    let err = child.stderr.take().unwrap();
    let logger = std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if line.contains("WARN") || line.contains("ERROR") || line.contains("final export") {
                eprintln!("[exporter] {line}");
            }
            if line.contains("attached egress") {
                let _ = attached_tx.send(());
            }
        }
    });
    attached_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("exporter attached");
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let (a, b) = (NetnsPair::ip(false, true), NetnsPair::ip(false, false));
    // Churn: each pass opens fresh source ports; a few long-lived flows too.
    let senders: Vec<_> = (0..2)
        .map(|t| {
            let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
            NetnsPair::spawn_in(&net.a, move || {
                let long = std::net::UdpSocket::bind(sa(a, 30000 + t)).unwrap();
                let mut pass = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let churn = std::net::UdpSocket::bind(sa(a, 0)).unwrap();
                    for i in 0..200u16 {
                        let port = 9000 + ((pass as u16).wrapping_mul(7) + i) % 2000;
                        if churn.send_to(&[0u8; 64], sa(b, port)).is_ok() {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                        if i % 10 == 0 && long.send_to(&[1u8; 512], sa(b, 5555)).is_ok() {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    pass += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        })
        .collect();

    let start = Instant::now();
    let mut next_report = Duration::ZERO;
    let mut restarts = 0;
    println!("soak: {minutes} min, exporter pid {pid}");
    println!(
        "{:>6}  {:>12}  {:>9}  {:>9}",
        "t (s)", "sent", "RSS KiB", "HWM KiB"
    );
    while start.elapsed() < length {
        if start.elapsed() >= next_report {
            println!(
                "{:>6}  {:>12}  {:>9}  {:>9}",
                start.elapsed().as_secs(),
                sent.load(Ordering::Relaxed),
                rss_kib(pid, "VmRSS:"),
                rss_kib(pid, "VmHWM:")
            );
            next_report += Duration::from_secs(30);
        }
        // Restart a collector every 90 s, alternating.
        let due = start.elapsed().as_secs() / 90;
        if due > restarts {
            restarts = due;
            if restarts % 2 == 1 {
                udp.stop();
                udp = collector(&net.a, "udp://127.0.0.1:4739");
            } else {
                tcp.stop();
                tcp = collector(&net.a, "tcp://127.0.0.1:4740");
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.join().unwrap();
    }
    let sent = sent.load(Ordering::Relaxed);
    let hwm = rss_kib(pid, "VmHWM:");
    let full = common::exporter::read_monitor(&pins.0, "ipfix_egress_table_full_packets");
    let stopping = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    let took = stopping.elapsed();
    reader.join().unwrap();
    logger.join().unwrap();
    let exported = exported.load(Ordering::Relaxed);
    println!(
        "soak: sent {sent} packets; exported {exported} + {full} refused (table full) = {} ({}); \
         {} records; {restarts} collector restarts; peak RSS {hwm} KiB; exit {status} after {} ms",
        exported + full,
        if exported + full == sent {
            "exact"
        } else {
            "MISMATCH"
        },
        records.load(Ordering::Relaxed),
        took.as_millis()
    );
    udp.stop();
    tcp.stop();
    assert!(status.success());
    assert_eq!(exported + full, sent, "every packet exported or counted");
}
