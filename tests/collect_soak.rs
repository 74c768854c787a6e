//! `collect` under a minute of hostile input at full speed: UDP datagrams
//! from 508 source addresses (any port), random and adversarial — garbage,
//! headers over random sets, templates as large as a datagram carries in
//! thousands of domains (to fill the template caches), zero-length fields,
//! sets longer than their message, data for unknown templates,
//! withdrawals, options — and TCP connections streaming the same, coming
//! and going. The peak RSS stays below [`RSS_BOUND_MIB`] (README, "What
//! happens when…"), stderr stays bounded, nothing panics, and afterwards a
//! new exporter's record is still decoded and printed. `COLLECT_SOAK_SECS`
//! shortens or lengthens it (60 by default).

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::exporter::BIN;
use common::netns::{sh, NetnsPair};
use common::rng::Rng;

/// The peak RSS `collect` may reach, whatever it is sent: its template
/// caches are bounded (2^21 field specifiers per decoder, one decoder per
/// UDP socket and one for TCP) and what a message decodes into is bounded
/// by its octets.
const RSS_BOUND_MIB: u64 = 512;
/// stderr is rate-limited (10 lines per 10 s about dropped messages, 100
/// about what single messages said, report memories of 4096 entries),
/// besides two lines per TCP connection: a minute of this says little.
const STDERR_BOUND: usize = 2 << 20;
/// What a TCP connection adds to stderr at most (connected, closed).
const STDERR_PER_CONNECTION: usize = 256;

fn header(len: usize, seq: u32, domain: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(len);
    h.extend_from_slice(&10u16.to_be_bytes());
    h.extend_from_slice(&(len.min(65535) as u16).to_be_bytes());
    h.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    h.extend_from_slice(&seq.to_be_bytes());
    h.extend_from_slice(&domain.to_be_bytes());
    h
}

/// A message of `sets` (set ID, body) under a valid header.
fn message(seq: u32, domain: u32, sets: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let len = 16 + sets.iter().map(|(_, b)| 4 + b.len()).sum::<usize>();
    let mut m = header(len, seq, domain);
    for (id, body) in sets {
        m.extend_from_slice(&id.to_be_bytes());
        m.extend_from_slice(&((4 + body.len()).min(65535) as u16).to_be_bytes());
        m.extend_from_slice(body);
    }
    m
}

/// A template of `fields` IANA fields of 1 to 8 octets (`zero`: one of
/// them 0 octets).
fn template(rng: &mut Rng, id: u16, fields: usize, zero: bool) -> Vec<u8> {
    let mut t = Vec::with_capacity(4 + 4 * fields);
    t.extend_from_slice(&id.to_be_bytes());
    t.extend_from_slice(&(fields as u16).to_be_bytes());
    for i in 0..fields {
        let element = 1 + rng.below(400) as u16;
        let len = if zero && i == fields / 2 {
            0
        } else {
            1 + rng.below(8) as u16
        };
        t.extend_from_slice(&element.to_be_bytes());
        t.extend_from_slice(&len.to_be_bytes());
    }
    t
}

/// One hostile message.
fn hostile(rng: &mut Rng, big: usize) -> Vec<u8> {
    let seq = rng.next() as u32;
    // Thousands of domains: the caches' domain limits are what is pushed.
    let domain = rng.below(8192) as u32;
    let id = 256 + rng.below(2048) as u16;
    match rng.below(10) {
        0 => {
            let n = 1 + rng.below(1500);
            rng.bytes(n)
        }
        1 => {
            let n = rng.below(1400);
            let body = rng.bytes(n);
            let mut m = header(16 + body.len(), seq, domain);
            m.extend_from_slice(&body);
            m
        }
        // As large a template as the datagram takes.
        2 | 3 => message(seq, domain, &[(2, template(rng, id, big, false))]),
        4 => message(seq, domain, &[(2, template(rng, id, 64, true))]),
        5 => {
            let mut m = message(seq, domain, &[(2, template(rng, id, 8, false))]);
            let at = 18; // the set's length: longer than the message
            m[at..at + 2].copy_from_slice(&9000u16.to_be_bytes());
            m
        }
        6 => message(seq, domain, &[(id, rng.bytes(200))]),
        7 => {
            let withdraw = [id.to_be_bytes(), 0u16.to_be_bytes()].concat();
            message(seq, domain, &[(2, withdraw)])
        }
        8 => {
            // Options template: one scope field, then a data record.
            let mut t = id.to_be_bytes().to_vec();
            t.extend_from_slice(&[0, 2, 0, 1, 0, 149, 0, 4, 0, 148, 0, 8]);
            message(seq, domain, &[(3, t), (id, rng.bytes(12))])
        }
        _ => {
            // A template and records of it, which decode and print.
            let t = [
                id.to_be_bytes().to_vec(),
                vec![0, 2, 0, 4, 0, 1, 0, 1, 0, 2],
            ]
            .concat();
            message(seq, domain, &[(2, t), (id, rng.bytes(3 * 40))])
        }
    }
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_minute_of_hostile_input_from_many_sources_stays_bounded() {
    common::require_root!();
    let secs: u64 = std::env::var("COLLECT_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let net = NetnsPair::new();
    // Any address of these ranges is local in A (AnyIP): 254 + 254 sources.
    sh(
        "ip",
        &[
            "-n",
            &net.a,
            "route",
            "add",
            "local",
            "203.0.113.0/24",
            "dev",
            "lo",
        ],
    );
    sh(
        "ip",
        &[
            "-n",
            &net.a,
            "-6",
            "route",
            "add",
            "local",
            "2001:db8:5::/64",
            "dev",
            "lo",
        ],
    );
    // IPv6 binds only addresses assigned, unless non-local binds are on
    // (this namespace's own setting).
    NetnsPair::exec(&net.a, &["sysctl", "-qw", "net.ipv6.ip_nonlocal_bind=1"]);

    let mut child = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", net.a))
        .args(["--", BIN, "collect", "--format", "json"])
        .args([
            "--listen",
            "udp://0.0.0.0:4739",
            "--listen",
            "udp://[::1]:4739",
        ])
        .args(["--listen", "tcp://127.0.0.1:4739"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let printed = Arc::new(Mutex::new(Vec::<String>::new()));
    let records = Arc::new(AtomicU64::new(0));
    let out = child.stdout.take().unwrap();
    let (p, r) = (Arc::clone(&printed), Arc::clone(&records));
    let stdout_reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            r.fetch_add(1, Ordering::Relaxed);
            if line.contains("198.51.100.77") {
                p.lock().unwrap().push(line);
            }
        }
    });
    let stderr_text = Arc::new(Mutex::new(String::new()));
    let err = child.stderr.take().unwrap();
    let e = Arc::clone(&stderr_text);
    let stderr_reader = std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let mut e = e.lock().unwrap();
            if e.len() < 16 * STDERR_BOUND {
                e.push_str(&line);
                e.push('\n');
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stderr_text.lock().unwrap().contains("listening on tcp://") {
        assert!(
            Instant::now() < deadline,
            "collect did not start: {}",
            stderr_text.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    for t in 0..2u64 {
        let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
        senders.push(NetnsPair::spawn_in(&net.a, move || {
            let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15 ^ (t + 1));
            // 254 IPv4 and 254 IPv6 sources, each its own socket and port.
            let sources: Vec<UdpSocket> = (1..=254u16)
                .map(|i| {
                    let (src, dst): (IpAddr, IpAddr) = if t == 0 {
                        (
                            Ipv4Addr::new(203, 0, 113, i as u8).into(),
                            Ipv4Addr::LOCALHOST.into(),
                        )
                    } else {
                        (
                            Ipv6Addr::new(0x2001, 0xdb8, 5, 0, 0, 0, 0, i).into(),
                            Ipv6Addr::LOCALHOST.into(),
                        )
                    };
                    let s = UdpSocket::bind(SocketAddr::new(src, 0)).unwrap();
                    s.connect(SocketAddr::new(dst, 4739)).unwrap();
                    s
                })
                .collect();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let s = &sources[rng.below(sources.len())];
                // Up to 16 000 fields: a 64 KiB template.
                let big = if rng.below(4) == 0 { 16_000 } else { 300 };
                let m = hostile(&mut rng, big);
                if s.send(&m).is_ok() {
                    n += 1;
                }
            }
            sent.fetch_add(n, Ordering::Relaxed);
        }));
    }
    // TCP: connections that stream hostile messages and go, one at a time.
    let tcp = {
        let stop = Arc::clone(&stop);
        NetnsPair::spawn_in(&net.a, move || {
            let mut rng = Rng::new(42);
            let mut connections = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut c) = TcpStream::connect("127.0.0.1:4739") else {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                };
                c.set_write_timeout(Some(Duration::from_millis(500)))
                    .unwrap();
                connections += 1;
                for _ in 0..rng.below(200) {
                    let m = hostile(&mut rng, 2000);
                    if c.write_all(&m).is_err() || stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
            }
            connections
        })
    };

    let started = Instant::now();
    let mut peak = 0;
    while started.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            child.try_wait().unwrap().is_none(),
            "collect exited under load"
        );
        peak = vm_hwm_kib(pid);
        assert!(peak < RSS_BOUND_MIB * 1024, "peak RSS {peak} KiB");
    }
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.join().unwrap();
    }
    let connections = tcp.join().unwrap();

    // Still working: a new exporter's template and record decode.
    let good = {
        let t = [300u16.to_be_bytes().to_vec(), vec![0, 1, 0, 8, 0, 4]].concat();
        message(1, 7, &[(2, t), (300, vec![198, 51, 100, 77])])
    };
    NetnsPair::run_in(&net.a, move || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..20 {
            s.send_to(&good, "127.0.0.1:4739").unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while printed.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no record decoded after the soak"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let peak = peak.max(vm_hwm_kib(pid));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    stdout_reader.join().unwrap();
    stderr_reader.join().unwrap();
    let said = stderr_text.lock().unwrap().clone();
    println!(
        "soak: {} datagrams, {connections} TCP connections, {} lines printed, peak RSS {} MiB, {} KiB on stderr",
        sent.load(Ordering::Relaxed),
        records.load(Ordering::Relaxed),
        peak / 1024,
        said.len() / 1024
    );
    // What stderr said, by kind (its first words, numbers left out).
    let mut kinds: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for line in said.lines() {
        let kind: Vec<&str> = line
            .split_whitespace()
            .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
            .take(4)
            .collect();
        *kinds.entry(kind.join(" ")).or_default() += 1;
    }
    let mut kinds: Vec<_> = kinds.into_iter().collect();
    kinds.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    println!("stderr lines by kind: {:?}", &kinds[..kinds.len().min(8)]);
    assert!(status.success(), "collect: {status}");
    assert!(!said.contains("panicked"), "{said}");
    let allowed = STDERR_BOUND + STDERR_PER_CONNECTION * connections as usize;
    assert!(said.len() < allowed, "{} octets on stderr", said.len());
    assert!(peak < RSS_BOUND_MIB * 1024, "peak RSS {peak} KiB");
    assert!(sent.load(Ordering::Relaxed) > 10_000, "not much of a soak");
}
