//! One run over many interfaces (`run --iface PATTERN`): what 1, 10 and
//! 500 interfaces cost in kernel and user memory, how long attaching them
//! takes, and how soon an interface that appears is metered.

use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use libbpf_rs::MapHandle;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::common::exporter::remove_pins;
use crate::common::netns::{sh_with_stdin, NetnsPair};
use crate::report::{Report, Section};
use crate::startup::spawn_exporter;

const COUNTS: [usize; 3] = [1, 10, 500];

/// `n` veth pairs inside namespace `ns`, up: `hm<i>` (metered) and `hp<i>`.
fn add_pairs(ns: &str, from: usize, n: usize) {
    let cmds: String = (from..from + n)
        .map(|i| {
            format!(
                "link add hm{i} type veth peer name hp{i}\nlink set hm{i} up\nlink set hp{i} up\n"
            )
        })
        .collect();
    sh_with_stdin("ip", &["-n", ns, "-batch", "-"], &cmds);
}

fn link_pins(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().contains("_link_"))
                .count()
        })
        .unwrap_or(0)
}

/// Waits (bounded) until `want` link pins exist; the time it took.
fn wait_pins(dir: &Path, want: usize, from: Instant) -> Duration {
    let deadline = from + Duration::from_secs(60);
    while link_pins(dir) < want {
        assert!(
            Instant::now() < deadline,
            "{} of {want} links pinned within 60 s",
            link_pins(dir)
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    from.elapsed()
}

/// `memlock` of every map pinned in `dir` (fdinfo): the kernel's own
/// account of the maps' memory.
fn maps_memlock(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("pin directory")
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().contains("_link"))
        .filter_map(|e| MapHandle::from_pinned_path(e.path()).ok())
        .map(|m| {
            let info = format!("/proc/self/fdinfo/{}", m.as_fd().as_raw_fd());
            std::fs::read_to_string(info)
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix("memlock:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// SIGTERM, then the time until it exited (bounded: a minute).
fn stop(mut child: Child, pins: &Path) -> Duration {
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let t = Instant::now();
    let deadline = t + Duration::from_secs(60);
    while Instant::now() < deadline && !matches!(child.try_wait(), Ok(Some(_))) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = t.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    remove_pins(pins);
    took
}

pub fn run(report: &mut Report) {
    let mut sec = Section::new(
        "Many interfaces: one run",
        "Method. For each count, a fresh namespace holds that many veth pairs \
         (both ends inside it, up, created with one `ip -batch`); the real binary \
         runs as `run --iface 'hm*' --collector udp://127.0.0.1:9` there, one \
         loaded object per direction for every interface. *Attach*: spawn to \
         every interface's two TCX links pinned (the pin directory is watched). \
         *Kernel*: `memlock` of every pinned map (fdinfo) — the same whatever \
         the count, as the maps are shared — and the links, two per interface. \
         *User*: the process's VmRSS once all are attached. *Hot-plug*: one more \
         veth pair created with everything running, to its two links pinned \
         (the rtnetlink notification, then the attach). *Stop*: SIGTERM to the \
         process's exit: every link detached, then the final export. The design \
         before this \
         one needed a run per interface: its cost at N interfaces is N × the \
         one-interface row, shown for comparison (computed, not run)."
            .to_owned(),
    );
    let mut one: Option<(f64, f64)> = None;
    for n in COUNTS {
        let net = NetnsPair::new();
        add_pairs(&net.a, 0, n);
        let pins = PathBuf::from("/sys/fs/bpf").join(crate::common::unique("ipfix-bench-"));
        let t = Instant::now();
        let child = spawn_exporter(&net.a, "hm*", 9, &pins);
        let attach = wait_pins(&pins, 2 * n, t);
        let kernel_mib = maps_memlock(&pins) as f64 / f64::from(1 << 20);
        let rss_mib = rss_kb(child.id()) as f64 / 1024.0;
        let t = Instant::now();
        add_pairs(&net.a, n, 1);
        let plug = wait_pins(&pins, 2 * n + 2, t);
        let stopped = stop(child, &pins);
        let (k1, r1) = *one.get_or_insert((kernel_mib, rss_mib));
        sec.row(
            &format!("host.{n}.attach_ms"),
            &format!("{n} interfaces: spawn to all attached"),
            attach.as_secs_f64() * 1e3,
            "ms",
            String::new(),
        );
        sec.row(
            &format!("host.{n}.kernel_maps_mib"),
            &format!("{n} interfaces: kernel memory of the maps"),
            kernel_mib,
            "MiB",
            format!(
                "{} TCX links; one run per interface: {:.1} MiB",
                2 * n,
                k1 * n as f64
            ),
        );
        sec.row(
            &format!("host.{n}.rss_mib"),
            &format!("{n} interfaces: exporter RSS"),
            rss_mib,
            "MiB",
            format!("one run per interface: {:.1} MiB", r1 * n as f64),
        );
        sec.row(
            &format!("host.{n}.stop_ms"),
            &format!("{n} interfaces: SIGTERM to exit"),
            stopped.as_secs_f64() * 1e3,
            "ms",
            "detach every link, then the final export".to_owned(),
        );
        sec.row(
            &format!("host.{n}.hotplug_ms"),
            &format!("{n} interfaces: a new interface to attached"),
            plug.as_secs_f64() * 1e3,
            "ms",
            String::new(),
        );
    }
    report.sections.push(sec);
}
