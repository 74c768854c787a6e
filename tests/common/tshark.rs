//! tshark as an outside decoder: capture the IPFIX a namespace sends, then
//! decode it as tshark's JSON (`-T json`).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;

use super::process::Background;
use super::tempdir::TempDir;

/// tshark capturing UDP to `ports` on an interface of a namespace; dumpcap
/// and tshark run as one process group, killed whole on stop and on drop.
pub struct Capture {
    bg: Background,
    pcap: PathBuf,
    ports: Vec<u16>,
    _dir: TempDir,
}

impl Capture {
    pub fn start(ns: &str, iface: &str, ports: &[u16]) -> Self {
        let dir = TempDir::new("ipfix-tshark-");
        let pcap = dir.join("capture.pcap");
        let filter = ports
            .iter()
            .map(|p| format!("udp port {p}"))
            .collect::<Vec<_>>()
            .join(" or ");
        let mut bg = Background::start_group_in(
            ns,
            "tshark",
            &[
                "tshark",
                "-i",
                iface,
                "-f",
                &filter,
                "-w",
                pcap.to_str().expect("temp path is UTF-8"),
            ],
        );
        bg.wait_stderr("Capturing on", Duration::from_secs(30));
        Capture {
            bg,
            pcap,
            ports: ports.to_vec(),
            _dir: dir,
        }
    }

    /// Stops capturing (after a moment for the last packets); tshark's JSON
    /// decoding of everything captured, the ports decoded as IPFIX.
    pub fn stop(mut self) -> String {
        std::thread::sleep(Duration::from_millis(500));
        self.bg.stop_with(Signal::SIGINT);
        let mut cmd = Command::new("tshark");
        cmd.arg("-r").arg(&self.pcap);
        for p in &self.ports {
            cmd.args(["-d", &format!("udp.port=={p},cflow")]);
        }
        let out = cmd.args(["-T", "json"]).output().expect("running tshark");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// One `(UDP source port, observation domain, sequence number)` per IPFIX
/// message in tshark's JSON.
pub fn messages(tshark_json: &str) -> Vec<(u64, u64, u64)> {
    let packets: Vec<Value> = serde_json::from_str(tshark_json).unwrap_or_default();
    let num = |v: &Value| v.as_str().and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
    packets
        .iter()
        .map(|p| {
            let l = &p["_source"]["layers"];
            (
                num(&l["udp"]["udp.srcport"]),
                num(&l["cflow"]["cflow.od_id"]),
                num(&l["cflow"]["cflow.sequence"]),
            )
        })
        .collect()
}
