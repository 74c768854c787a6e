//! Time from spawning `run --collector udp://...` to the first IPFIX
//! datagram at the collector.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::common::exporter::{remove_pins, BIN};
use crate::common::netns::NetnsPair;
use crate::report::{Report, Section};
use crate::stats::{median, range};

const RUNS: usize = 5;
/// IPFIX message header: version 10 in the first two octets.
const IPFIX_VERSION: [u8; 2] = [0, 10];

/// One start: (time to the first datagram, its length), or None when no
/// datagram came within `limit`.
fn first_export(net: &NetnsPair, limit: Duration) -> Option<(Duration, usize)> {
    let (tx, rx) = std::sync::mpsc::channel();
    let listener = NetnsPair::spawn_in(&net.a, move || {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("binding the collector");
        sock.set_read_timeout(Some(limit)).expect("read timeout");
        let port = sock.local_addr().expect("local address").port();
        tx.send(port).expect("sending the port");
        let mut buf = [0u8; 65536];
        let got = sock.recv(&mut buf).ok()?;
        let at = Instant::now();
        (buf[..2] == IPFIX_VERSION).then_some((at, got))
    });
    let port = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("collector bound");
    let pins = PathBuf::from("/sys/fs/bpf").join(crate::common::unique("ipfix-bench-"));
    let start = Instant::now();
    let child = spawn_exporter(&net.a, &net.veth_a, port, &pins);
    let got = listener.join().expect("collector thread");
    stop_exporter(child, &pins);
    got.map(|(at, len)| (at - start, len))
}

/// The real binary, `run --iface IFACE --collector udp://127.0.0.1:PORT`
/// in namespace `ns`, defaults otherwise, output discarded. nsenter execs it
/// in place: the child's pid is the exporter's.
pub fn spawn_exporter(ns: &str, iface: &str, port: u16, pins: &Path) -> Child {
    Command::new("nsenter")
        .arg(format!("--net=/run/netns/{ns}"))
        .arg("--")
        .arg(BIN)
        .args(["run", "--iface", iface, "--collector"])
        .arg(format!("udp://127.0.0.1:{port}"))
        .arg("--pin-path")
        .arg(pins)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning the exporter")
}

/// SIGTERM, then (bounded) wait; killed when it lingers; pins removed.
pub fn stop_exporter(mut child: Child, pins: &Path) {
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !matches!(child.try_wait(), Ok(Some(_))) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    remove_pins(pins);
}

pub fn run(report: &mut Report) {
    let net = NetnsPair::new();
    let limit = Duration::from_secs(15);
    let mut ms = Vec::new();
    let mut len = 0;
    for _ in 0..RUNS {
        match first_export(&net, limit) {
            Some((d, l)) => {
                ms.push(d.as_secs_f64() * 1e3);
                len = l;
            }
            None => ms.push(f64::INFINITY),
        }
    }
    let (lo, hi) = range(&ms);
    let mut sec = Section::new(
        "Start to first export",
        format!(
            "Method. A UDP socket on 127.0.0.1 in namespace A stands in for the \
             collector. The clock starts just before spawning the real binary \
             (`nsenter --net=A -- ipfix-flow-exporter run --iface <veth A> \
             --collector udp://127.0.0.1:PORT`, defaults otherwise: 10 s active \
             timeout) and stops when the first datagram starting with IPFIX \
             version 10 arrives; that covers process start, loading and verifying \
             both objects, pinning, attaching both hooks and the first message. \
             Then SIGTERM. {RUNS} starts, median; no traffic, so what arrives first \
             is the template message."
        ),
    );
    sec.row(
        "startup.first_export_ms",
        "spawn → first IPFIX datagram at the collector",
        median(&ms),
        "ms",
        format!("median of {RUNS}; range {lo:.0}–{hi:.0}; first message {len} octets"),
    );
    report.sections.push(sec);
}
