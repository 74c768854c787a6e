//! nfcapd, nfdump's collector, on a namespace's loopback, writing into a
//! scratch directory; nfdump reads back what it stored.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::process::Background;
use super::tempdir::TempDir;

pub struct Nfcapd {
    bg: Background,
    dir: TempDir,
    pub port: u16,
}

/// What nfcapd stored, as nfdump prints it.
pub struct Stored {
    /// `nfdump -E`: the exporters it told apart, one block each.
    pub exporters: String,
    /// `nfdump -o json` (TZ=UTC): every flow.
    pub flows: Vec<Value>,
}

impl Nfcapd {
    pub fn start(ns: &str, port: u16) -> Self {
        let dir = TempDir::new("ipfix-nfcapd-");
        let port_arg = port.to_string();
        let mut bg = Background::start_in(
            ns,
            "nfcapd",
            &[
                "nfcapd",
                "-b",
                "127.0.0.1",
                "-p",
                &port_arg,
                "-w",
                dir.0.to_str().expect("a UTF-8 scratch path"),
                "-t",
                "3600",
            ],
        );
        bg.wait_stderr("Startup", Duration::from_secs(10));
        Nfcapd { bg, dir, port }
    }

    /// Gives nfcapd a moment for what is in flight, stops it (it writes
    /// its file on the way out), and reads everything back.
    pub fn stop(mut self) -> Stored {
        std::thread::sleep(Duration::from_millis(300));
        self.bg.stop();
        let mut exporters = String::new();
        for f in std::fs::read_dir(&self.dir.0)
            .expect("the scratch directory")
            .flatten()
        {
            let out = Command::new("nfdump")
                .arg("-E")
                .arg(f.path())
                .output()
                .expect("running nfdump -E");
            exporters.push_str(&String::from_utf8_lossy(&out.stdout));
        }
        let out = Command::new("nfdump")
            .env("TZ", "UTC")
            .arg("-R")
            .arg(&self.dir.0)
            .args(["-o", "json"])
            .output()
            .expect("running nfdump");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Stored {
            exporters,
            flows: serde_json::from_slice(&out.stdout).unwrap_or_default(),
        }
    }
}
