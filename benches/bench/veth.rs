//! Small-packet UDP between two namespaces over a veth pair, without and
//! with the exporter attached to the sending end (ingress + egress hooks).

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::libc;
use nix::sched::{sched_setaffinity, CpuSet};
use nix::unistd::Pid;

use crate::common::exporter::Exporter;
use crate::common::netns::{NetnsPair, A_V4, B_V4};
use crate::report::{Report, Section};
use crate::stats::{median, median_ratio, range};

/// Alternating pairs of runs (without, with / with, without).
const PAIRS: usize = 5;
const RUN: Duration = Duration::from_secs(2);
/// UDP payload: 18 bytes make a 60-byte frame, the Ethernet minimum.
const PAYLOAD: usize = 18;
const BATCH: usize = 64;
const PORT: u16 = 9000;

fn pin_to(cpu: usize) {
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut set = CpuSet::new();
    if set.set(cpu % ncpu).is_ok() {
        let _ = sched_setaffinity(Pid::from_raw(0), &set);
    }
}

/// Packets received by `dev` so far, read inside namespace `ns`.
fn rx_packets(ns: &str, dev: &str) -> u64 {
    let dev = format!("{dev}:");
    NetnsPair::run_in(ns, move || {
        let text = std::fs::read_to_string("/proc/thread-self/net/dev").unwrap_or_default();
        text.lines()
            .find_map(|l| {
                let l = l.trim_start();
                l.strip_prefix(dev.as_str())
                    .and_then(|rest| rest.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .expect("veth in /proc/net/dev")
    })
}

/// Sends BATCH datagrams per sendmmsg(2) from `ns` for `dur`; returns
/// (datagrams the kernel took, elapsed).
fn blast(ns: &str, dst: SocketAddr, dur: Duration) -> (u64, Duration) {
    NetnsPair::run_in(ns, move || {
        pin_to(0);
        let sock = UdpSocket::bind(SocketAddr::new(A_V4.into(), 0)).expect("binding the sender");
        sock.connect(dst).expect("connecting the sender");
        let payload = [0x5au8; PAYLOAD];
        let mut iov = libc::iovec {
            iov_base: payload.as_ptr() as *mut libc::c_void,
            iov_len: payload.len(),
        };
        // SAFETY: mmsghdr is plain data; zero is a valid empty header.
        let mut msgs: Vec<libc::mmsghdr> =
            (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect();
        for m in &mut msgs {
            m.msg_hdr.msg_iov = &mut iov;
            m.msg_hdr.msg_iovlen = 1;
        }
        let fd = sock.as_raw_fd();
        let start = Instant::now();
        let mut sent = 0u64;
        while start.elapsed() < dur {
            // SAFETY: BATCH headers, each pointing at one live iovec over
            // `payload`; the socket is connected, so no addresses.
            let n = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), BATCH as u32, 0) };
            if n > 0 {
                sent += n as u64;
            }
        }
        (sent, start.elapsed())
    })
}

/// Drains the socket at `addr` in `ns` with recvmmsg(2) until `stop`.
fn receiver(ns: &str, addr: SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = NetnsPair::spawn_in(ns, move || {
        pin_to(1);
        let sock = UdpSocket::bind(addr).expect("binding the receiver");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("read timeout");
        tx.send(()).expect("signalling the receiver is up");
        let mut bufs = vec![[0u8; 64]; BATCH];
        let mut iovs: Vec<libc::iovec> = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            })
            .collect();
        // SAFETY: mmsghdr is plain data; zero is a valid empty header.
        let mut msgs: Vec<libc::mmsghdr> =
            (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect();
        for (m, iov) in msgs.iter_mut().zip(iovs.iter_mut()) {
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
        }
        let fd = sock.as_raw_fd();
        let mut got = 0u64;
        while !stop.load(Ordering::Relaxed) {
            // SAFETY: BATCH headers over BATCH live 64-byte buffers.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    msgs.as_mut_ptr(),
                    BATCH as u32,
                    libc::MSG_WAITFORONE,
                    std::ptr::null_mut(),
                )
            };
            if n > 0 {
                got += n as u64;
            }
        }
        got
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("receiver bound");
    h
}

struct Run {
    delivered: u64,
    pps: f64,
    sent_pps: f64,
}

fn one_run(net: &NetnsPair) -> Run {
    let dst = SocketAddr::new(B_V4.into(), PORT);
    let stop = Arc::new(AtomicBool::new(false));
    let recv = receiver(&net.b, dst, Arc::clone(&stop));
    let rx0 = rx_packets(&net.b, &net.veth_b);
    let (sent, elapsed) = blast(&net.a, dst, RUN);
    std::thread::sleep(Duration::from_millis(20));
    let rx1 = rx_packets(&net.b, &net.veth_b);
    stop.store(true, Ordering::Relaxed);
    let _ = recv.join();
    let secs = elapsed.as_secs_f64();
    Run {
        delivered: rx1 - rx0,
        pps: (rx1 - rx0) as f64 / secs,
        sent_pps: sent as f64 / secs,
    }
}

pub fn run(report: &mut Report) {
    let net = NetnsPair::new();
    net.ipv6_off();
    // Warm-up: ARP, caches.
    let _ = one_run(&net);
    let (mut without, mut with) = (Vec::new(), Vec::new());
    let (mut sent_without, mut sent_with) = (Vec::new(), Vec::new());
    let mut metered = 0u64;
    let mut delivered_with = 0u64;
    for pair in 0..PAIRS {
        for attached in [pair % 2 == 1, pair % 2 == 0] {
            if attached {
                let exp =
                    Exporter::start(&net.a, &net.veth_a, &["--collector", "udp://127.0.0.1:9"]);
                let r = one_run(&net);
                let recs = exp.stop();
                metered += recs
                    .iter()
                    .filter(|r| r["protocol"] == 17 && r["dst_port"] == u64::from(PORT))
                    .map(|r| r["packets"].as_u64().unwrap_or(0))
                    .sum::<u64>();
                delivered_with += r.delivered;
                with.push(r.pps);
                sent_with.push(r.sent_pps);
            } else {
                let r = one_run(&net);
                without.push(r.pps);
                sent_without.push(r.sent_pps);
            }
        }
    }
    let mut sec = Section::new(
        "veth: small-packet UDP between two namespaces",
        format!(
            "Method. Two namespaces joined by a veth pair (IPv4, IPv6 off). A sender \
             thread in namespace A pinned to CPU 0 sends {PAYLOAD}-byte UDP payloads \
             (60-byte frames) with `sendmmsg` ({BATCH} per call) for {} s; a receiver \
             in B pinned to CPU 1 drains them with `recvmmsg`. The figure is the \
             packets veth B received (`/proc/net/dev`) per second — on a veth the \
             sending CPU also runs B's receive path, so that CPU is the bottleneck \
             and every ns the tc programs add shows. *With*: the real binary \
             (`run --iface <veth A> --collector udp://127.0.0.1:9`) attached at \
             ingress and egress of veth A (TCX), metering the stream at egress \
             (checked: it exported the packets). {PAIRS} pairs of runs, the order \
             alternating within each pair (without/with, with/without, ...); the \
             ratio is the median of the per-pair ratios.",
            RUN.as_secs()
        ),
    );
    let note = |v: &[f64]| {
        let (lo, hi) = range(v);
        format!("median of {}; range {lo:.0}–{hi:.0}", v.len())
    };
    sec.row(
        "veth.without.pps",
        "without the exporter",
        median(&without),
        "packets/s",
        note(&without),
    );
    sec.row(
        "veth.with.pps",
        "with the exporter (ingress + egress)",
        median(&with),
        "packets/s",
        note(&with),
    );
    sec.row(
        "veth.ratio",
        "with ÷ without",
        median_ratio(&with, &without),
        "×",
        {
            let pairs: Vec<f64> = with.iter().zip(&without).map(|(w, o)| w / o).collect();
            let (lo, hi) = range(&pairs);
            format!(
                "per pair {lo:.3}–{hi:.3}; sender side: {:.0} vs {:.0} datagrams/s",
                median(&sent_with),
                median(&sent_without)
            )
        },
    );
    sec.row(
        "veth.metered_fraction",
        "packets the exporter metered ÷ packets delivered, with",
        metered as f64 / delivered_with.max(1) as f64,
        "×",
        "≥ 1: every delivered packet was metered (some sent ones are dropped before B)".to_owned(),
    );
    report.sections.push(sec);
}
