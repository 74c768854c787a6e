//! Our own `collect` as the test collector, and the shape of what it prints.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use super::process::Background;

/// Starts `collect --format json --listen <listen>` in namespace `ns` (port
/// 0 allowed); returns it and the address it reports.
pub fn start_collect(ns: &str, listen: &str) -> (Background, SocketAddr) {
    let mut c = Background::start_in(
        ns,
        "collect",
        &[
            super::exporter::BIN,
            "collect",
            "--format",
            "json",
            "--listen",
            listen,
        ],
    );
    c.wait_stderr("listening on", Duration::from_secs(10));
    let line = c
        .stderr
        .lock()
        .unwrap()
        .lines()
        .find(|l| l.starts_with("listening on"))
        .unwrap()
        .to_owned();
    let addr = line.rsplit("://").next().unwrap().parse().unwrap();
    (c, addr)
}

/// Flow records a collector printed, without the fields that say where they
/// came from: exactly the shape of the exporter's `--output json`.
pub fn collected_flows(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v.get("flow_id").is_some())
        .map(|mut v| {
            let o = v.as_object_mut().unwrap();
            for k in [
                "exporter",
                "observation_domain_id",
                "template_id",
                "sequence_number",
                "export_time",
            ] {
                o.remove(k);
            }
            v
        })
        .collect()
}

/// The records as sorted strings: a multiset to compare.
pub fn sorted(v: &[Value]) -> Vec<String> {
    let mut s: Vec<String> = v.iter().map(Value::to_string).collect();
    s.sort();
    s
}
