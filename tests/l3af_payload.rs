//! The l3afd payloads name exactly what the objects and the binary provide
//! (names shared across C, Rust and the payload), and their start args are
//! what the daemon accepts. Pure file checks.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use ipfix_flow_exporter::datapath::names::{artifact_binary, entry_function, object_file, MapRole};
use ipfix_flow_exporter::flow::Direction;
use ipfix_flow_exporter::l3afd::args::L3afdArgs;
use ipfix_flow_exporter::l3afd::identity::{direction_from_binary, DEFAULT_NAME};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/l3af/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// JSON keys of l3afd's models.BPFProgram (models/l3afd.go json tags): Go
/// ignores unknown keys silently, so a typo would go unnoticed there.
const L3AFD_PROGRAM_KEYS: &[&str] = &[
    "id",
    "name",
    "seq_id",
    "artifact",
    "map_name",
    "cmd_start",
    "cmd_stop",
    "cmd_status",
    "cmd_config",
    "cmd_update",
    "version",
    "user_program_daemon",
    "is_plugin",
    "cpu",
    "memory",
    "admin_status",
    "prog_type",
    "rules_file",
    "rules",
    "config_file_path",
    "cfg_version",
    "start_args",
    "stop_args",
    "status_args",
    "update_args",
    "map_args",
    "config_args",
    "monitor_maps",
    "ebpf_package_repo_url",
    "object_file",
    "entry_function_name",
];

#[test]
fn payload_names_match_the_objects_and_the_binary() {
    let payload = load("payload.json");
    let hosts = payload.as_array().unwrap();
    assert_eq!(hosts.len(), 1);
    let host = &hosts[0];
    assert_eq!(host["iface"], "enp0s3");
    let progs = host["bpf_programs"].as_object().unwrap();
    let kinds: BTreeSet<&str> = progs
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(kinds, BTreeSet::from(["tc_egress", "tc_ingress"]));
    let mut all_monitors = BTreeSet::new();
    for d in Direction::ALL {
        let list = progs[&format!("tc_{}", d.as_str())].as_array().unwrap();
        assert_eq!(list.len(), 1);
        let p = &list[0];
        for k in p.as_object().unwrap().keys() {
            assert!(L3AFD_PROGRAM_KEYS.contains(&k.as_str()), "unknown key {k}");
        }
        assert_eq!(p["name"], DEFAULT_NAME);
        assert_eq!(p["artifact"], "l3af_bpf_ipfix.tar.gz");
        assert_eq!(p["map_name"], MapRole::JmpTable.map_name(d));
        assert_eq!(p["cmd_start"], artifact_binary(d));
        assert_eq!(
            direction_from_binary(p["cmd_start"].as_str().unwrap()),
            Some(d)
        );
        assert_eq!(p["object_file"], object_file(d));
        assert_eq!(p["entry_function_name"], entry_function(d));
        assert_eq!(p["prog_type"], "tc");
        assert!(p["seq_id"].as_u64().unwrap() >= 1);
        assert_eq!(p["user_program_daemon"], true);
        for k in ["cmd_stop", "cmd_status", "cmd_config"] {
            assert!(p.get(k).is_none_or(|v| v == ""), "{k} must stay empty");
        }
        assert_eq!(
            (p["cpu"].as_u64(), p["memory"].as_u64()),
            (Some(0), Some(0))
        );
        assert_eq!(p["version"], env!("CARGO_PKG_VERSION"));

        // start_args: JSON strings the daemon accepts, as l3afd passes them.
        let args = p["start_args"].as_object().unwrap();
        let mut argv = vec![
            "--iface=enp0s3".to_owned(),
            format!("--direction={}", d.as_str()),
            format!(
                "--version={}",
                p["version"].as_str().unwrap().replace('.', "_")
            ),
        ];
        for (k, v) in args {
            argv.push(format!(
                "--{k}={}",
                v.as_str().expect("start_args values are strings")
            ));
        }
        let parsed = L3afdArgs::parse(&argv).unwrap();
        assert!(parsed.unknown.is_empty(), "{:?}", parsed.unknown);
        assert_eq!(parsed.export.collectors.len(), 1);

        let monitors = p["monitor_maps"].as_array().unwrap();
        let roles: BTreeSet<String> = MapRole::MONITORS
            .iter()
            .map(|r| r.map_name(d).to_owned())
            .collect();
        let mut scalar = BTreeSet::new();
        for m in monitors {
            let name = m["name"].as_str().unwrap().to_owned();
            assert!(roles.contains(&name), "{name} is not a monitor map");
            assert_eq!(m["key"], 0);
            let agg = m["aggregator"].as_str().unwrap();
            assert!(["scalar", "max-rate"].contains(&agg), "{agg}");
            if agg == "scalar" {
                scalar.insert(name.clone());
            }
            assert!(
                all_monitors.insert((name, agg.to_owned())),
                "duplicate monitor"
            );
        }
        assert_eq!(scalar, roles, "every counter is published");
    }
}

#[test]
fn delete_payload_removes_both_hooks() {
    let payload = load("payload.json");
    let delete = load("delete_payload.json");
    let (p, d) = (&payload[0], &delete[0]);
    assert_eq!(p["host_name"], d["host_name"]);
    assert_eq!(p["iface"], d["iface"]);
    for hook in ["tc_ingress", "tc_egress"] {
        assert_eq!(
            d["bpf_programs"][hook],
            serde_json::json!([DEFAULT_NAME]),
            "{hook}"
        );
    }
}
