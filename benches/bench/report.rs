//! Collects the figures and writes them out: a table on stdout,
//! `BENCHMARKS.md` (machine, method, table, targets, notes) and
//! `results.json` (one key per figure).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use serde_json::{Map, Value};

/// One measured figure.
pub struct Row {
    /// Key in results.json, e.g. `kernel.hit.ipv4_tcp.over_empty_ns`.
    pub key: String,
    pub what: String,
    pub value: f64,
    pub unit: &'static str,
    /// Spread or context, e.g. "range 41–44".
    pub note: String,
}

pub struct Section {
    pub title: &'static str,
    /// How the figures of this section were measured (Markdown).
    pub method: String,
    pub rows: Vec<Row>,
}

pub struct TargetCheck {
    pub target: String,
    pub measured: String,
    pub met: bool,
}

#[derive(Default)]
pub struct Report {
    pub sections: Vec<Section>,
    pub targets: Vec<TargetCheck>,
    /// Analysis paragraphs (Markdown): what limits a figure, what was tried.
    pub notes: Vec<String>,
    pub machine: Vec<(&'static str, String)>,
    /// The table BENCHMARKS.md leads with (Markdown), when there is one.
    pub lead: Option<String>,
}

impl Section {
    pub fn new(title: &'static str, method: impl Into<String>) -> Self {
        Section {
            title,
            method: method.into(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, key: &str, what: &str, value: f64, unit: &'static str, note: String) {
        self.rows.push(Row {
            key: key.to_owned(),
            what: what.to_owned(),
            value,
            unit,
            note,
        });
    }
}

impl Report {
    /// The value of figure `key`, if measured.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.sections
            .iter()
            .flat_map(|s| &s.rows)
            .find(|r| r.key == key)
            .map(|r| r.value)
    }

    pub fn probe_machine(&mut self) {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_default();
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let mem_kb = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
            })
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let hypervisor = Command::new("lscpu")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .find(|l| l.starts_with("Hypervisor vendor:"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| format!("{} guest", v.trim()))
            })
            .unwrap_or_else(|| "none seen".to_owned());
        self.machine = vec![
            ("cpu", format!("{cpu} × {cpus}")),
            ("memory", format!("{} MiB", mem_kb / 1024)),
            ("virtualization", hypervisor),
            ("kernel", first_line("uname", &["-r"])),
            ("clang", first_line("clang", &["--version"])),
            ("rustc", first_line("rustc", &["--version"])),
            ("load average at start", load_average()),
        ];
    }

    pub fn print(&self) {
        println!();
        for s in &self.sections {
            println!("== {}", s.title);
            for r in &s.rows {
                println!(
                    "  {:<58} {:>14} {:<10} {}",
                    r.what,
                    fmt_value(r.value),
                    r.unit,
                    r.note
                );
            }
        }
        println!("== targets");
        for t in &self.targets {
            let mark = if t.met { "met   " } else { "MISSED" };
            println!("  {mark} {:<60} {}", t.target, t.measured);
        }
    }

    pub fn json(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in &self.machine {
            m.insert(
                format!("machine.{}", k.replace(' ', "_")),
                Value::from(v.as_str()),
            );
        }
        for r in self.sections.iter().flat_map(|s| &s.rows) {
            let v = serde_json::Number::from_f64(r.value).map_or(Value::Null, Value::Number);
            m.insert(r.key.clone(), v);
        }
        for (i, t) in self.targets.iter().enumerate() {
            m.insert(format!("target.{i}.met"), Value::from(t.met));
            m.insert(format!("target.{i}.what"), Value::from(t.target.as_str()));
        }
        Value::Object(m)
    }

    pub fn markdown(&self, runtime_secs: f64) -> String {
        let mut md = String::new();
        let w = &mut md;
        let _ = writeln!(w, "# Benchmarks\n");
        let _ = writeln!(
            w,
            "Written by `make bench` (`benches/bench/`); do not edit by hand. The \
             same figures are in `target/bench/results.json`, one key per figure. \
             This run took {runtime_secs:.0} s.\n"
        );
        let _ = writeln!(
            w,
            "The machine is a small, shared VM: absolute numbers are a guide only. \
             Every kernel figure is therefore also given as the difference to a \
             baseline measured in the same run, interleaved round by round \
             (an empty tc program; the same traffic without the exporter), and \
             the targets are checked against those differences and ratios.\n"
        );
        if let Some(lead) = &self.lead {
            let _ = writeln!(w, "{}\n", lead.trim());
        }
        let _ = writeln!(w, "## Machine\n");
        let _ = writeln!(w, "| | |\n|---|---|");
        for (k, v) in &self.machine {
            let _ = writeln!(w, "| {k} | {v} |");
        }
        let _ = writeln!(w, "| load average at end | {} |", load_average());
        let _ = writeln!(w, "\n## Targets\n");
        let _ = writeln!(w, "| target | measured | |\n|---|---|---|");
        for t in &self.targets {
            let mark = if t.met { "met" } else { "**missed**" };
            let _ = writeln!(w, "| {} | {} | {mark} |", t.target, t.measured);
        }
        let _ = writeln!(w, "\n## Results\n");
        for s in &self.sections {
            let _ = writeln!(w, "### {}\n", s.title);
            let _ = writeln!(w, "| figure | value | unit | notes | key |");
            let _ = writeln!(w, "|---|---:|---|---|---|");
            for r in &s.rows {
                let _ = writeln!(
                    w,
                    "| {} | {} | {} | {} | `{}` |",
                    r.what,
                    fmt_value(r.value),
                    r.unit,
                    r.note,
                    r.key
                );
            }
            let _ = writeln!(w, "\n{}\n", s.method.trim());
        }
        if !self.notes.is_empty() {
            let _ = writeln!(w, "## What limits the figures, and what was changed\n");
            for n in &self.notes {
                let _ = writeln!(w, "{}\n", n.trim());
            }
        }
        let _ = writeln!(w, "## Reproducing\n");
        let _ = writeln!(
            w,
            "As root, after the README setup (`make setup`): `make bench`. It builds \
             with the `bench` profile, needs no network, creates and removes its own \
             namespaces, veth pair and bpffs pins, and writes this file and \
             `target/bench/results.json`. `BENCH_ONLY=kernel,designs,userspace,veth,startup` \
             runs a subset (and then writes only the JSON). A quiet machine gives \
             tighter figures: check `uptime` first."
        );
        let _ = writeln!(
            w,
            "\nProfiling a figure: the harness binary (`target/release/deps/bench-*`) \
             keeps one kernel case running with `--child spin CASE SECS` (`hit_ipv4_tcp`, \
             `hit_ipv6_udp`, `hit_vlan_ipv4`, `table_full`, `empty`, `new_flow_warm`; \
             `BENCH_JIT_DUMP=FILE` also writes the JITed code for `objdump -b binary \
             -mi386:x86-64`) for `perf record -a -e cpu-clock`, and runs one user-space \
             figure with `--child throughput N RUNS`, `--child interval N udp|discard` \
             or `--child drain N` for `perf record -g` or valgrind."
        );
        md
    }

    pub fn write(&self, md_path: &Path, json_path: &Path, runtime_secs: f64, full: bool) {
        if let Some(dir) = json_path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let json = serde_json::to_string_pretty(&self.json()).unwrap_or_default();
        std::fs::write(json_path, json + "\n")
            .unwrap_or_else(|e| panic!("writing {}: {e}", json_path.display()));
        println!("wrote {}", json_path.display());
        if full {
            std::fs::write(md_path, self.markdown(runtime_secs))
                .unwrap_or_else(|e| panic!("writing {}: {e}", md_path.display()));
            println!("wrote {}", md_path.display());
        }
    }
}

/// Three significant digits or an integer, whichever reads better.
pub fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_owned();
    }
    let a = v.abs();
    if a >= 100.0 {
        let int = format!("{:.0}", v);
        group_thousands(&int)
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn group_thousands(s: &str) -> String {
    let (sign, digits) = match s.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", s),
    };
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

fn first_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .unwrap_or_else(|| format!("({cmd} not found)"))
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
