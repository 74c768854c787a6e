//! What an idle exporter costs: `run` with a UDP collector on a veth that
//! carries no traffic, its CPU time and wake-ups over a stretch of time.

use std::net::UdpSocket;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::netns::NetnsPair;
use crate::report::{Report, Section};

/// How long the idle process is watched.
const WATCH: Duration = Duration::from_secs(30);
/// Time for the start (load, attach, first templates) to be over.
const SETTLE: Duration = Duration::from_secs(3);

/// CPU time in ns (`/proc/PID/task/*/schedstat`: time on a CPU, exact
/// where `utime`/`stime` count 10 ms ticks) and context switches (voluntary
/// and not) over every thread of `pid`.
fn usage(pid: u32) -> (u64, u64) {
    let (mut ns, mut switches) = (0, 0);
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks") {
        let dir = task.expect("task").path();
        let sched = std::fs::read_to_string(dir.join("schedstat")).unwrap_or_default();
        ns += sched
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        for line in status.lines() {
            if line.starts_with("voluntary_ctxt_switches")
                || line.starts_with("nonvoluntary_ctxt_switches")
            {
                switches += line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    (ns, switches)
}

pub fn run(report: &mut Report) {
    let net = NetnsPair::new();
    let collector = NetnsPair::run_in(&net.a, || {
        UdpSocket::bind("127.0.0.1:0").expect("binding the collector")
    });
    let port = collector.local_addr().expect("local address").port();
    let pins = PathBuf::from("/sys/fs/bpf").join(crate::common::unique("ipfix-bench-"));
    let child = crate::startup::spawn_exporter(&net.a, &net.veth_a, port, &pins);
    // nsenter execs the exporter in place: the child's pid is its pid.
    let pid = child.id();
    std::thread::sleep(SETTLE);
    let (t0, s0) = usage(pid);
    let start = Instant::now();
    std::thread::sleep(WATCH);
    let (t1, s1) = usage(pid);
    let secs = start.elapsed().as_secs_f64();
    crate::startup::stop_exporter(child, &pins);
    drop(collector);

    let cpu_s = (t1 - t0) as f64 / 1e9;
    let mut sec = Section::new(
        "Idle",
        format!(
            "Method. The real binary runs as `run --iface <veth A> --collector \
             udp://127.0.0.1:PORT` (defaults otherwise: 10 s active timeout) in \
             namespace A, with no traffic on the veth. After {} s for the start, \
             the CPU time (the time on a CPU of every thread, \
             `/proc/PID/task/*/schedstat`, in ns) and the context switches of all its threads \
             (`voluntary_ctxt_switches + nonvoluntary_ctxt_switches`) are read, \
             and again {} s later: every wake-up of a sleeping thread is one \
             switch.",
            SETTLE.as_secs(),
            WATCH.as_secs()
        ),
    );
    sec.row(
        "idle.wakeups_per_s",
        "idle run: wake-ups per second",
        (s1 - s0) as f64 / secs,
        "1/s",
        format!("{} switches in {secs:.1} s", s1 - s0),
    );
    sec.row(
        "idle.cpu_pct",
        "idle run: CPU time",
        100.0 * cpu_s / secs,
        "% of a CPU",
        format!("{:.2} ms in {secs:.1} s", cpu_s * 1e3),
    );
    report.sections.push(sec);
}
