//! Process faults: every stop signal flushes and exits 0 in time; pins
//! from an incompatible build are refused with their names (and replaced
//! only when asked, only in our own directory); bad l3afd arguments stop the
//! daemon before anything is touched.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::exporter::{run_command, totals, Exporter, PinDir, BIN};
use common::netns::NetnsPair;
use common::tempdir::TempDir;
use common::traffic::{sa, udp_send, udp_sink};
use ipfix_flow_exporter::abi::{FLOW_CONFIG_SIZE, FLOW_KEY4_SIZE, FLOW_KEY_SIZE, FLOW_VALUE_SIZE};
use ipfix_flow_exporter::datapath::names::MapRole;
use ipfix_flow_exporter::flow::Direction;
use libbpf_rs::libbpf_sys;
use libbpf_rs::{MapHandle, MapType};
use nix::sys::signal::Signal;

/// SIGINT stops as SIGTERM does (SIGHUP reloads `run`: e2e_reload).
#[test]
fn sigint_flushes_everything_and_exits_zero_in_time() {
    common::require_root!();
    for (i, sig) in [Signal::SIGINT].into_iter().enumerate() {
        let net = NetnsPair::new();
        // A long interval: everything reaches the output in the final flush.
        let exp = Exporter::start(&net.a, &net.veth_a, &["--active-timeout", "1h"]);
        let (a, b) = (NetnsPair::ip(false, true), NetnsPair::ip(false, false));
        let port = 7500 + i as u16;
        let sink = udp_sink(&net.b, sa(b, port));
        let n = udp_send(&net.a, sa(a, 40500), sa(b, port), 33, 10, Duration::ZERO);
        assert_eq!(sink.join().unwrap(), n);
        let (recs, code) = exp.stop_with(sig); // asserts the 2 s deadline
        assert_eq!(code, Some(0), "{sig}");
        let flow = |r: &serde_json::Value| r["dst_port"] == port && r["direction"] == "egress";
        assert_eq!(totals(&recs, flow), (n, n * 38), "{sig}");
        assert!(recs
            .iter()
            .filter(|r| flow(r))
            .all(|r| r["end_reason"] == "forced end"));
    }
}

/// A `run` on A's veth with its pins in `pins` that must fail; what it said.
fn refused_start(net: &NetnsPair, pins: &Path) -> String {
    let out = run_command(&net.a, &[], &[], &net.veth_a, pins, &[])
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A map pinned at `path` with the given shape, named `stale_test`.
fn pin_map(path: &Path, ty: MapType, key: u32, value: u32, entries: u32, flags: u32) {
    pin_named_map(path, "stale_test", ty, key, value, entries, flags);
}

fn pin_named_map(
    path: &Path,
    name: &str,
    ty: MapType,
    key: u32,
    value: u32,
    entries: u32,
    flags: u32,
) {
    let opts = libbpf_sys::bpf_map_create_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_map_create_opts>() as _,
        map_flags: flags,
        ..Default::default()
    };
    let mut m = MapHandle::create(ty, Some(name), key, value, entries, &opts).unwrap();
    m.pin(path).unwrap();
}

#[test]
fn stale_pins_are_refused_by_name_and_replaced_only_when_asked() {
    common::require_root!();
    let net = NetnsPair::new();
    let pins = PinDir::new();
    std::fs::create_dir_all(&pins.0).unwrap();
    let stale = pins.0.join(MapRole::Flows6_0.map_name(Direction::Ingress));
    // An older build: the flow map of ABI 1 (before the VLAN IDs and MACs).
    pin_map(
        &stale,
        MapType::Hash,
        44,
        56,
        131_072,
        libbpf_sys::BPF_F_NO_PREALLOC,
    );
    let err = refused_start(&net, &pins.0);
    assert!(
        err.contains(stale.to_str().unwrap())
            && err.contains("key size 44 (want 48), value size 56 (want 64)")
            && err.contains("name \"stale_test\" (want \"ipfix_ingress_flows6_0\")"),
        "{err}"
    );
    assert!(err.contains("--replace-pins"), "{err}");
    let left: Vec<PathBuf> = std::fs::read_dir(&pins.0)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        left,
        vec![stale.clone()],
        "nothing else pinned, the stale pin kept"
    );

    let exp = Exporter::start_with_pins(&net.a, &net.veth_a, &pins.0, &["--replace-pins"]);
    let log = exp.stderr.lock().unwrap().clone();
    assert!(log.contains("replacing stale pin"), "{log}");
    let fresh = MapHandle::from_pinned_path(&stale).unwrap();
    assert_eq!(libbpf_rs::MapCore::value_size(&fresh), 64);
    exp.stop();
}

/// ABI 3 kept every flow in `flows_0`/`flows_1`, maps of the very shape of
/// today's IPv6 ones but another key layout: a run refuses their pins by
/// name, and drops them only when asked.
#[test]
fn pins_of_the_flow_maps_before_abi_4_are_refused_and_dropped_only_when_asked() {
    common::require_root!();
    let net = NetnsPair::new();
    let pins = PinDir::new();
    std::fs::create_dir_all(&pins.0).unwrap();
    let old = pins.0.join("ipfix_ingress_flows_0");
    pin_named_map(
        &old,
        "ipfix_ingress_flows_0",
        MapType::Hash,
        FLOW_KEY_SIZE as u32,
        FLOW_VALUE_SIZE as u32,
        131_072,
        libbpf_sys::BPF_F_NO_PREALLOC,
    );
    let err = refused_start(&net, &pins.0);
    assert!(
        err.contains(old.to_str().unwrap())
            && err.contains("older build (flow ABI 3 or before")
            && err.contains("--replace-pins"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&pins.0).unwrap().count(),
        1,
        "nothing pinned, the old pin kept"
    );
    let exp = Exporter::start_with_pins(&net.a, &net.veth_a, &pins.0, &["--replace-pins"]);
    let log = exp.stderr.lock().unwrap().clone();
    assert!(log.contains("of an older build"), "{log}");
    assert!(!old.exists(), "the old pin dropped");
    exp.stop();
}

/// A flow map pinned by a run with the other `--flow-map-alloc` is
/// refused by name, pointing at the flag, and taken by a run that asks for
/// the same allocation.
#[test]
fn a_pin_of_the_other_flow_map_allocation_names_the_flag() {
    common::require_root!();
    let net = NetnsPair::new();
    let pins = PinDir::new();
    std::fs::create_dir_all(&pins.0).unwrap();
    let name = MapRole::Flows6_0.map_name(Direction::Ingress);
    let pinned = pins.0.join(name);
    pin_named_map(&pinned, name, MapType::Hash, 48, 64, 131_072, 0);
    let err = refused_start(&net, &pins.0);
    assert!(
        err.contains(pinned.to_str().unwrap())
            && err.contains("flags 0 (want 1)")
            && err.contains("--flow-map-alloc"),
        "{err}"
    );
    let exp = Exporter::start_with_pins(
        &net.a,
        &net.veth_a,
        &pins.0,
        &["--flow-map-alloc", "preallocated"],
    );
    let log = exp.stderr.lock().unwrap().clone();
    assert!(!log.contains("replacing stale pin"), "{log}");
    exp.stop();
}

#[test]
fn l3afd_native_mode_refuses_incompatible_pins_and_never_deletes_them() {
    common::require_root!();
    let net = NetnsPair::new();
    let dir = PathBuf::from("/sys/fs/bpf/tc/globals")
        .join(&net.veth_a)
        .join("ipfix-flow-exporter")
        .join("latest");
    // The interface's l3afd trees, and tc/globals itself if this made it.
    let _cleanup = common::l3afd::L3afdTree::new(&net.veth_a);
    std::fs::create_dir_all(&dir).unwrap();
    let d = Direction::Ingress;
    for role in MapRole::ALL {
        let path = dir.join(role.map_name(d));
        match role {
            MapRole::JmpTable => pin_map(&path, MapType::ProgArray, 4, 4, 1, 0),
            MapRole::Flows4_0 | MapRole::Flows4_1 => pin_map(
                &path,
                MapType::Hash,
                FLOW_KEY4_SIZE as u32,
                FLOW_VALUE_SIZE as u32,
                64,
                0,
            ),
            MapRole::Flows6_0 => pin_map(&path, MapType::Hash, 44, 48, 64, 0),
            MapRole::Flows6_1 => pin_map(
                &path,
                MapType::Hash,
                FLOW_KEY_SIZE as u32,
                FLOW_VALUE_SIZE as u32,
                64,
                0,
            ),
            MapRole::Selector => pin_map(&path, MapType::Array, 4, 4, 1, 0),
            MapRole::Config => pin_map(&path, MapType::Array, 4, FLOW_CONFIG_SIZE as u32, 1, 0),
            MapRole::Stats => pin_map(&path, MapType::PercpuArray, 4, 8, 6, 0),
            MapRole::RefusedFlows => {
                pin_map(&path, MapType::LruHash, FLOW_KEY_SIZE as u32, 8, 4096, 0)
            }
            _ => pin_map(&path, MapType::Array, 4, 8, 1, 0),
        }
    }
    let bin_dir = TempDir::new("ipfix-l3afd-bin");
    let bin = bin_dir.0.join("bpf_ipfix_ingress");
    std::os::unix::fs::symlink(BIN, &bin).unwrap();
    let out = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", net.a))
        .arg("--")
        .arg(&bin)
        .args([
            &format!("--iface={}", net.veth_a),
            "--direction=ingress",
            "--version=latest",
            "--collector_ip=127.0.0.1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("ipfix_ingress_flows6_0") && err.contains("44/48"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        MapRole::ALL.len(),
        "l3afd's pins untouched"
    );
}

#[test]
fn bad_l3afd_arguments_name_key_and_value_before_anything_happens() {
    common::require_root!();
    let bin_dir = TempDir::new("ipfix-l3afd-bin");
    let bin = bin_dir.0.join("bpf_ipfix_egress");
    std::os::unix::fs::symlink(BIN, &bin).unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "--iface=lo",
                "--version=1",
                "--collector_ip=127.0.0.1",
                "--collector_port=http",
            ],
            "--collector-port=http",
        ),
        (
            &[
                "--iface=lo",
                "--version=1",
                "--collector_ip=127.0.0.1",
                "--verbose=9",
            ],
            "--verbose=9",
        ),
        (
            &[
                "--iface=lo",
                "--version=1",
                "--collector_ip=127.0.0.1",
                "--flow-timeout=soon",
            ],
            "--flow-timeout=soon",
        ),
        (
            &["--version=1", "--collector_ip=127.0.0.1"],
            "--iface is required",
        ),
        (&["--iface=lo", "--version=1"], "no collector"),
    ];
    for (args, want) in cases {
        let out = Command::new(&bin).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // Nothing was pinned for iface lo.
    assert!(!Path::new("/sys/fs/bpf/tc/globals/lo/ipfix-flow-exporter").exists());
}
