//! pmacct's `nfacctd` on a namespace's loopback: renormalizing by the
//! sampling the exporter reports, printing JSON every second into a
//! scratch directory. It runs in its own process group: its print plugin
//! is a child process, and both go at the end.

use std::time::Duration;

use serde_json::Value;

use super::process::Background;
use super::tempdir::TempDir;

pub struct Nfacctd {
    bg: Background,
    dir: TempDir,
}

impl Nfacctd {
    /// Listens on 127.0.0.1:`port`, aggregating by `aggregate` (pmacct's
    /// primitives, comma-separated).
    pub fn start(ns: &str, port: u16, aggregate: &str) -> Self {
        let dir = TempDir::new("ipfix-nfacctd-");
        let conf = format!(
            "daemonize: false\n\
             nfacctd_ip: 127.0.0.1\n\
             nfacctd_port: {port}\n\
             nfacctd_renormalize: true\n\
             plugins: print[p]\n\
             aggregate[p]: {aggregate}\n\
             print_output[p]: json\n\
             print_refresh_time[p]: 1\n\
             print_output_file[p]: {out}\n\
             print_output_file_append[p]: true\n",
            out = dir.str("out.json"),
        );
        let conf_path = dir.str("nfacctd.conf");
        std::fs::write(&conf_path, conf).expect("writing nfacctd.conf");
        let mut bg = Background::start_group_in(ns, "nfacctd", &["nfacctd", "-f", &conf_path]);
        bg.wait_stderr("waiting for NetFlow/IPFIX data", Duration::from_secs(10));
        Nfacctd { bg, dir }
    }

    /// Lets the print plugin write what it has (it purges every second),
    /// stops nfacctd and its plugin, and returns every printed line.
    pub fn stop(mut self) -> Vec<Value> {
        std::thread::sleep(Duration::from_millis(2500));
        self.bg.stop();
        std::fs::read_to_string(self.dir.join("out.json"))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }
}
