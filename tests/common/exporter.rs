//! The exporter binary as a process under test, inside a namespace, with
//! its JSON records collected. Killed and its pins removed on drop.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_ipfix-flow-exporter");

pub struct Exporter {
    child: Option<Child>,
    pub records: Arc<Mutex<Vec<Value>>>,
    pub stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    pub pin_dir: PathBuf,
    pub iface: String,
}

/// `<runner> ipfix-flow-exporter <global> run --iface <iface> --output json
/// --pin-path <pin_dir> <extra>` inside namespace `ns` (nsenter, so bpffs
/// stays visible): the exporter as every test starts it.
pub fn run_command(
    ns: &str,
    runner: &[&str],
    global: &[&str],
    iface: &str,
    pin_dir: &std::path::Path,
    extra: &[&str],
) -> Command {
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net=/run/netns/{ns}"))
        .arg("--")
        .args(runner)
        .arg(BIN)
        .args(global)
        .args(["run", "--iface", iface, "--output", "json", "--pin-path"])
        .arg(pin_dir)
        .args(extra);
    cmd
}

/// How long a stop may take before the test fails (the contract is 2 s).
pub const STOP_DEADLINE: Duration = Duration::from_secs(2);

impl Exporter {
    /// `run --iface <iface> --output json --pin-path <private dir> <extra>`
    /// inside namespace `ns`.
    pub fn start(ns: &str, iface: &str, extra: &[&str]) -> Self {
        let pin_dir = PathBuf::from("/sys/fs/bpf").join(super::unique("ipfix-e2e-"));
        Self::start_with_pins(ns, iface, &pin_dir, extra)
    }

    pub fn start_with_pins(
        ns: &str,
        iface: &str,
        pin_dir: &std::path::Path,
        extra: &[&str],
    ) -> Self {
        Self::start_as(ns, &[], iface, pin_dir, extra)
    }

    /// As [`Self::start_with_pins`], the binary run through `runner` (e.g.
    /// `setpriv ...`) inside the namespace.
    pub fn start_as(
        ns: &str,
        runner: &[&str],
        iface: &str,
        pin_dir: &std::path::Path,
        extra: &[&str],
    ) -> Self {
        let cmd = run_command(ns, runner, &["-v"], iface, pin_dir, extra);
        let hooks = match extra.iter().position(|a| *a == "--direction") {
            Some(i) if extra.get(i + 1) != Some(&"both") => 1,
            _ => 2,
        };
        let mut exp = Self::spawn(cmd, iface, pin_dir);
        if iface.contains(['*', '?']) {
            // A run over patterns may find nothing to attach to at start.
            exp.wait_log("following interfaces", 1);
        } else {
            exp.wait_log("attached ", hooks);
        }
        exp
    }

    /// `run --config <file> --pin-path <pin_dir>` inside namespace `ns`:
    /// everything else, the interfaces included, comes from the file (a
    /// run over patterns, which a reload may change).
    pub fn start_configured(ns: &str, config: &std::path::Path, pin_dir: &std::path::Path) -> Self {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{ns}"))
            .arg("--")
            .args([BIN, "-v", "run", "--config"])
            .arg(config)
            .arg("--pin-path")
            .arg(pin_dir);
        let mut exp = Self::spawn(cmd, "(configured)", pin_dir);
        exp.wait_log("following interfaces", 1);
        exp
    }

    fn spawn(mut cmd: Command, iface: &str, pin_dir: &std::path::Path) -> Self {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawning the exporter");
        let records = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        let recs = Arc::clone(&records);
        let errs = Arc::clone(&stderr);
        let readers = vec![
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let v: Value = serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("exporter printed non-JSON {line:?}: {e}"));
                    recs.lock().unwrap().push(v);
                }
            }),
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    eprintln!("[exporter] {line}");
                    let mut e = errs.lock().unwrap();
                    e.push_str(&line);
                    e.push('\n');
                }
            }),
        ];
        Exporter {
            child: Some(child),
            records,
            stderr,
            readers,
            pin_dir: pin_dir.to_path_buf(),
            iface: iface.to_owned(),
        }
    }

    /// Waits (bounded by `timeout`) until a record printed so far matches
    /// `pred`; false when none did in time.
    pub fn wait_for_record(&self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.records.lock().unwrap().iter().any(&pred) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The exporter's pid (nsenter execs it in place).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn nix_pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().expect("running").id() as i32)
    }

    /// Waits (bounded) until the log holds `what` `n` times, failing at
    /// once if the exporter exits.
    pub fn wait_log(&mut self, what: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.stderr.lock().unwrap().matches(what).count() >= n {
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(st) = exited {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "exporter exited ({st}) during startup:\n{}",
                    self.stderr.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "no {n}× {what:?} in the exporter's log within 10 s:\n{}",
            self.stderr.lock().unwrap()
        );
    }

    /// Sends `sig`, waits for exit within [`STOP_DEADLINE`], returns every
    /// record printed and the exit status code.
    pub fn stop_with(mut self, sig: Signal) -> (Vec<Value>, Option<i32>) {
        kill(self.nix_pid(), sig).expect("signalling the exporter");
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + STOP_DEADLINE;
        let status = loop {
            if let Some(st) = child.try_wait().expect("waiting for the exporter") {
                break st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("exporter did not exit within {STOP_DEADLINE:?} after {sig}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let recs = self.records.lock().unwrap().clone();
        (recs, status.code())
    }

    pub fn stop(self) -> Vec<Value> {
        let (recs, code) = self.stop_with(Signal::SIGTERM);
        assert_eq!(code, Some(0), "exporter exit status");
        recs
    }

    /// SIGKILL: no cleanup by the exporter; returns what it printed.
    pub fn kill(mut self) -> Vec<Value> {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        let _ = child.wait();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let recs = self.records.lock().unwrap().clone();
        // Keep the pins: the next start must drain them.
        self.pin_dir = PathBuf::new();
        recs
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        remove_pins(&self.pin_dir);
    }
}

/// Removes a test's pin directory and everything in it.
pub fn remove_pins(dir: &std::path::Path) {
    if dir.as_os_str().is_empty() {
        return;
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// A pin directory removed on drop, for tests that restart the exporter.
pub struct PinDir(pub PathBuf);

impl PinDir {
    pub fn new() -> Self {
        PinDir(PathBuf::from("/sys/fs/bpf").join(super::unique("ipfix-e2e-")))
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        remove_pins(&self.0);
    }
}

/// Sums packets and octets of the records matching `pred`.
pub fn totals(records: &[Value], pred: impl Fn(&Value) -> bool) -> (u64, u64) {
    records
        .iter()
        .filter(|r| pred(r))
        .fold((0, 0), |(p, o), r| {
            (
                p + r["packets"].as_u64().unwrap_or(0),
                o + r["octets"].as_u64().unwrap_or(0),
            )
        })
}

/// A one-counter monitor map (u64 at key 0) pinned in `dir`.
pub fn read_monitor(dir: &std::path::Path, name: &str) -> u64 {
    let map = libbpf_rs::MapHandle::from_pinned_path(dir.join(name)).unwrap();
    let v = libbpf_rs::MapCore::lookup(&map, &0u32.to_ne_bytes(), libbpf_rs::MapFlags::ANY)
        .unwrap()
        .unwrap();
    u64::from_ne_bytes(v.try_into().unwrap())
}
