//! `make bench`: what the exporter costs, measured against baselines taken
//! in the same run, written to BENCHMARKS.md and target/bench/results.json.
//!
//! Sections (each one module): `kernel` (the shipped program through
//! BPF_PROG_TEST_RUN), `designs` (bench-only BPF variants and drain
//! strategies compared), `userspace` (drain + expire + encode, one child
//! process per size), `veth` (packets per second between two namespaces
//! with and without the exporter), `startup` (process start to first
//! IPFIX datagram), `idle` (an idle `run`'s wake-ups and CPU). Needs root. Not part of `cargo test`: run without
//! `--bench` (as `cargo test --all-targets` does) it does nothing.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

#[path = "../../tests/common/mod.rs"]
mod common;

mod designs;
mod host;
mod idle;
mod kernel;
mod peers;
mod report;
mod startup;
mod stats;
mod targets;
mod userspace;
mod veth;

use std::path::PathBuf;
use std::time::Instant;

const SECTIONS: [&str; 7] = [
    "kernel",
    "designs",
    "userspace",
    "veth",
    "startup",
    "idle",
    "host",
];

/// Where results.json and the bench-only BPF objects go: `BENCH_OUT_DIR`
/// (`make bench` sets it), else `target/bench`.
pub fn out_dir() -> PathBuf {
    std::env::var_os("BENCH_OUT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench"))
}

/// Child modes: the parent re-executes itself for figures that need a
/// clean process (peak RSS), and `spin` keeps one kernel case running so
/// that `perf record -a` can look at it.
fn child(args: &[String]) {
    match args.first().map(String::as_str) {
        Some("spin") => kernel::spin(&args[1..]),
        _ => userspace::child(args),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1..]);
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        println!("bench: not run (no --bench); use `make bench`");
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("bench: needs root (BPF, tc, network namespaces); run `sudo make bench`");
        std::process::exit(1);
    }
    let only: Vec<String> = std::env::var("BENCH_ONLY")
        .map(|s| s.split(',').map(|x| x.trim().to_owned()).collect())
        .unwrap_or_default();
    let want = |s: &str| only.is_empty() || only.iter().any(|o| o == s);
    let started = Instant::now();
    let peers = peers::from_env();
    let mut report = report::Report::default();
    report.probe_machine();
    println!(
        "bench: load average {} at start (a quiet machine gives tighter figures)",
        report::load_average()
    );
    for section in SECTIONS {
        if !want(section) {
            continue;
        }
        let t = Instant::now();
        println!("bench: {section} ...");
        match section {
            "kernel" => kernel::run(&mut report, &peers),
            "designs" => designs::run(&mut report),
            "userspace" => userspace::run(&mut report),
            "veth" => veth::run(&mut report),
            "startup" => startup::run(&mut report),
            "idle" => idle::run(&mut report),
            "host" => host::run(&mut report),
            _ => unreachable!(),
        }
        println!("bench: {section} took {:.1} s", t.elapsed().as_secs_f64());
    }
    targets::check(&mut report);
    report.lead = Some(peers::lead(&report));
    report.print();
    let runtime = started.elapsed().as_secs_f64();
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    report.write(
        &manifest.join("BENCHMARKS.md"),
        &out_dir().join("results.json"),
        runtime,
        only.is_empty(),
    );
    println!("bench: done in {runtime:.0} s");
}
