//! Least privilege at run time: after load and attach the exporter keeps
//! only CAP_NET_ADMIN (to remove its clsact filter at exit, and to attach
//! again to an interface that comes back) and CAP_BPF (older kernels demand
//! it for every bpf() call), and what it creates only root can write.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::MetadataExt;

use common::exporter::{totals, Exporter};
use common::netns::NetnsPair;
use common::traffic::{sa, udp_l3_overhead, udp_send, udp_sink};

const CAP_NET_ADMIN: u64 = 1 << 12;
const CAP_BPF: u64 = 1 << 39;

fn status_field(pid: u32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .trim()
        .to_owned()
}

#[test]
fn a_running_exporter_keeps_only_net_admin_and_bpf_and_no_new_privileges() {
    common::require_root!();
    let net = NetnsPair::new();
    let exp = Exporter::start(&net.a, &net.veth_a, &["--active-timeout", "200ms"]);
    // The first interval has run: the drop happens before it.
    std::thread::sleep(std::time::Duration::from_millis(400));
    let pid = exp.pid();
    for set in ["CapEff", "CapPrm"] {
        let caps = u64::from_str_radix(&status_field(pid, set), 16).unwrap();
        assert_eq!(caps, CAP_NET_ADMIN | CAP_BPF, "{set} {caps:#x}");
    }
    assert_eq!(
        u64::from_str_radix(&status_field(pid, "CapInh"), 16).unwrap(),
        0
    );
    assert_eq!(
        u64::from_str_radix(&status_field(pid, "CapAmb"), 16).unwrap(),
        0
    );
    assert_eq!(status_field(pid, "NoNewPrivs"), "1");

    // Pins and their directory: owned by root, writable by nobody else.
    let dir = std::fs::metadata(&exp.pin_dir).unwrap();
    assert_eq!(dir.uid(), 0);
    assert_eq!(dir.mode() & 0o022, 0, "pin dir mode {:o}", dir.mode());
    let mut pins = 0;
    for e in std::fs::read_dir(&exp.pin_dir).unwrap() {
        let m = e.unwrap().metadata().unwrap();
        assert_eq!(m.uid(), 0);
        assert_eq!(m.mode() & 0o077, 0, "pin mode {:o}", m.mode());
        pins += 1;
    }
    assert!(pins >= 22, "maps of both objects and the TCX links: {pins}");
    let lock = std::path::Path::new(ipfix_flow_exporter::lock::LOCK_DIR)
        .join(format!("{}.lock", net.veth_a));
    assert_eq!(std::fs::metadata(&lock).unwrap().mode() & 0o777, 0o600);

    // Dropping the capabilities did not stop the clean exit: detach, flush,
    // unpin, unlock.
    let pin_dir = exp.pin_dir.clone();
    exp.stop();
    assert!(!pin_dir.exists(), "{} left behind", pin_dir.display());
    assert!(!lock.exists());
}

/// The uid the unprivileged runs take (`nobody` on Debian).
const NOBODY: u32 = 65_534;

/// `setpriv` as user nobody with exactly `caps` (e.g. "+bpf,+net_admin"),
/// also as ambient and bounding set, so that they survive the exec.
fn as_nobody(caps: &str) -> Vec<String> {
    let caps = if caps.is_empty() {
        "-all".to_owned()
    } else {
        format!("-all,{caps}")
    };
    vec![
        "setpriv".to_owned(),
        format!("--reuid={NOBODY}"),
        format!("--regid={NOBODY}"),
        "--clear-groups".to_owned(),
        format!("--inh-caps={caps}"),
        format!("--ambient-caps={caps}"),
        format!("--bounding-set={caps}"),
        "--".to_owned(),
    ]
}

/// The lock directory opened to user nobody for the test (sticky and
/// world-writable: a service would hand it over with `RuntimeDirectory=`,
/// but a root exporter of another test, which keeps no CAP_DAC_OVERRIDE,
/// must still remove its own lock file there); put back as it was
/// afterwards, also when the test fails.
struct LockDirFor {
    created: bool,
    mode: u32,
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

/// The tests that open the lock directory take turns.
static LOCK_DIR_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl LockDirFor {
    fn nobody() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let turn = LOCK_DIR_TURN.lock().unwrap_or_else(|p| p.into_inner());
        let dir = std::path::Path::new(ipfix_flow_exporter::lock::LOCK_DIR);
        let before = std::fs::metadata(dir).ok();
        if before.is_none() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        LockDirFor {
            created: before.is_none(),
            mode: before.map_or(0o755, |m| m.mode() & 0o7777),
            _one_at_a_time: turn,
        }
    }
}

impl Drop for LockDirFor {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::path::Path::new(ipfix_flow_exporter::lock::LOCK_DIR);
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(self.mode));
        if self.created {
            // Only when empty: another test's exporter may hold a lock in it.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Not root, only CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON: `run` loads,
/// attaches and meters exactly, and what it creates belongs to that user
/// alone.
#[test]
fn run_as_an_unprivileged_user_with_three_capabilities_meters_exactly() {
    common::require_root!();
    common::require_tools!("setpriv");
    let net = NetnsPair::new();
    let _lock_dir = LockDirFor::nobody();
    let runner = as_nobody("+bpf,+net_admin,+perfmon");
    let runner: Vec<&str> = runner.iter().map(String::as_str).collect();
    let pins = std::path::PathBuf::from("/sys/fs/bpf").join(common::unique("ipfix-e2e-"));
    let exp = Exporter::start_as(
        &net.a,
        &runner,
        &net.veth_a,
        &pins,
        &["--active-timeout", "200ms"],
    );
    assert_eq!(
        status_field(exp.pid(), "Uid").split_whitespace().next(),
        Some("65534")
    );
    let dir = std::fs::metadata(&pins).unwrap();
    assert_eq!(dir.uid(), NOBODY);
    assert_eq!(dir.mode() & 0o022, 0, "pin dir mode {:o}", dir.mode());
    for e in std::fs::read_dir(&pins).unwrap() {
        let m = e.unwrap().metadata().unwrap();
        assert_eq!(
            (m.uid(), m.mode() & 0o077),
            (NOBODY, 0),
            "pin mode {:o}",
            m.mode()
        );
    }
    let (a, b) = (NetnsPair::ip(false, true), NetnsPair::ip(false, false));
    net.resolve_neighbours();
    let sink = udp_sink(&net.b, sa(b, 5031));
    let sent = udp_send(
        &net.a,
        sa(a, 40031),
        sa(b, 5031),
        200,
        20,
        std::time::Duration::from_micros(200),
    );
    assert_eq!(sink.join().unwrap(), sent);
    let recs = exp.stop();
    let flow = |r: &serde_json::Value| {
        r["direction"] == "egress" && r["protocol"] == 17 && r["dst_port"] == 5031
    };
    assert_eq!(
        totals(&recs, flow),
        (sent, sent * (udp_l3_overhead(false) + 20))
    );
    assert!(!pins.exists(), "{} left behind", pins.display());
}

/// Without any one of the three capabilities `run` refuses in one line
/// that names it, and leaves nothing behind.
#[test]
fn run_without_a_capability_names_it() {
    common::require_root!();
    common::require_tools!("setpriv");
    let net = NetnsPair::new();
    let _lock_dir = LockDirFor::nobody();
    let all = ["bpf", "net_admin", "perfmon"];
    for missing in all {
        let caps: Vec<String> = all
            .iter()
            .filter(|c| **c != missing)
            .map(|c| format!("+{c}"))
            .collect();
        let pins = std::path::PathBuf::from("/sys/fs/bpf").join(common::unique("ipfix-e2e-"));
        let runner = as_nobody(&caps.join(","));
        let runner: Vec<&str> = runner.iter().map(String::as_str).collect();
        let out = common::exporter::run_command(&net.a, &runner, &[], &net.veth_a, &pins, &[])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "without {missing}: {stderr}");
        let want = format!(
            "error: missing capabilities CAP_{}: run as root or grant them",
            missing.to_uppercase()
        );
        assert!(stderr.contains(&want), "without {missing}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(out.stdout.is_empty());
        assert!(
            !pins.exists(),
            "without {missing}: {} created",
            pins.display()
        );
    }
}

/// `collect` needs no privilege at all: as nobody with no capability it
/// receives, decodes and prints exactly what a root exporter sent it.
#[test]
fn collect_runs_as_an_unprivileged_user() {
    common::require_root!();
    common::require_tools!("setpriv");
    let net = NetnsPair::new();
    let mut argv = as_nobody("");
    argv.extend(
        [
            common::exporter::BIN,
            "collect",
            "--format",
            "json",
            "--listen",
            "udp://127.0.0.1:0",
        ]
        .map(str::to_owned),
    );
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let mut collect = common::process::Background::start_in(&net.a, "collect", &argv);
    collect.wait_stderr("listening on", std::time::Duration::from_secs(10));
    let pid = collect.pid();
    assert_eq!(
        status_field(pid, "Uid").split_whitespace().next(),
        Some("65534")
    );
    assert_eq!(
        u64::from_str_radix(&status_field(pid, "CapEff"), 16).unwrap(),
        0
    );
    let addr = collect
        .stderr
        .lock()
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("listening on udp://").map(str::to_owned))
        .unwrap();
    let exp = Exporter::start(
        &net.a,
        &net.veth_a,
        &["--active-timeout", "200ms", "--collector", &addr],
    );
    let (a, b) = (NetnsPair::ip(false, true), NetnsPair::ip(false, false));
    net.resolve_neighbours();
    let sink = udp_sink(&net.b, sa(b, 5032));
    let sent = udp_send(
        &net.a,
        sa(a, 40032),
        sa(b, 5032),
        100,
        20,
        std::time::Duration::from_micros(200),
    );
    assert_eq!(sink.join().unwrap(), sent);
    let recs = exp.stop();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let printed = collect.stop();
    let flow = |r: &serde_json::Value| {
        r["direction"] == "egress" && r["protocol"] == 17 && r["dst_port"] == 5032
    };
    let collected = common::collector::collected_flows(&printed);
    let want = (sent, sent * (udp_l3_overhead(false) + 20));
    assert_eq!(totals(&recs, flow), want);
    assert_eq!(totals(&collected, flow), want);
}
