//! Least privilege at run time: after load and attach the exporter keeps
//! only CAP_NET_ADMIN (to remove its clsact filter at exit, and to attach
//! again to an interface that comes back) and CAP_BPF (older kernels demand
//! it for every bpf() call), and what it creates only root can write.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::MetadataExt;

use common::exporter::Exporter;
use common::netns::NetnsPair;

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
