//! The real l3afd, run by the tests exactly as an operator runs it.
//!
//! `make l3afd` builds it from its Go module (`go install
//! github.com/l3af-project/l3afd/v2@<version>`) at every version listed in
//! `l3af/l3afd.pins`, into `target/l3afd/<version>/bin/l3afd`. A test:
//!
//! - publishes our artifact (`$IPFIX_ARTIFACT`, from `make package`) and
//!   our tc-root (`l3af/tc-root/`, packaged here as `l3af_tc_root.tar.gz`)
//!   in a `file://` repository laid out as l3afd fetches:
//!   `<repo>/<name>/<version>/<lsb_release -cs>/<artifact>`;
//! - writes an `l3afd.cfg` (chaining on, REST API, metrics and chain-debug
//!   endpoints on loopback, a bpf-log-dir, everything else in a temporary
//!   directory) and starts l3afd in the test's network namespace, in a
//!   private mount namespace where debugfs is mounted (l3afd mounts tracefs
//!   below it and fails without it; the host's mounts stay untouched, bpffs
//!   is shared);
//! - drives it only through its REST API.
//!
//! l3afd kills every process named like a daemon it is about to start that
//! is not its own child, and its graceful restart uses fixed socket paths
//! (`/tmp/l3afd.sock`): one l3afd at a time on a host ([`serial`]).
//!
//! Everything created here is removed on drop, also when a test panics:
//! l3afd (and the successor a graceful restart started), the daemons it
//! started, l3afd's pin trees for the test's veth, the temporary files.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ipfix_flow_exporter::datapath::names;
use ipfix_flow_exporter::flow::Direction;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

use super::l3afd::{wait_until, L3afdTree, Payload, ARTIFACT_DIR, PAYLOAD_JSON};
use super::netns::NetnsPair;
use super::tempdir::TempDir;

/// The l3afd versions under test, one per line (`#` comments).
pub const PINS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/l3af/l3afd.pins");
/// The ports l3afd listens on, on the test namespace's loopback.
pub const REST_PORT: u16 = 7080;
pub const METRICS_PORT: u16 = 8898;
pub const DEBUG_PORT: u16 = 8899;
/// l3afd's graceful-restart label of the running version:
/// `<basepath>/<label>/l3afd/l3afd`. It must be `v<i>.<j>.<k>` with each
/// part at most `version-limit`.
pub const RESTART_LABEL: &str = "v2.1.0";
/// How often l3afd checks the daemons (and restarts dead ones).
pub const POLL_INTERVAL: &str = "1s";
/// Bound of every wait on l3afd.
pub const L3AFD_WAIT: Duration = Duration::from_secs(30);

/// One l3afd build: its version (as pinned) and binary.
#[derive(Debug, Clone)]
pub struct Build {
    pub version: String,
    pub bin: PathBuf,
}

/// `target/` (or `$CARGO_TARGET_DIR`): two levels above the BPF objects.
pub fn target_dir() -> PathBuf {
    Path::new(ipfix_flow_exporter::datapath::BPF_OBJ_DIR)
        .ancestors()
        .nth(2)
        .expect("the object directory is target/<profile>/bpf")
        .to_path_buf()
}

/// The pinned versions, in file order.
pub fn pinned_versions() -> Vec<String> {
    std::fs::read_to_string(PINS)
        .unwrap_or_else(|e| panic!("reading {PINS}: {e}"))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Every pinned build, or none (a loud SKIP; a failure under
/// IPFIX_TESTS_STRICT) when one is missing.
pub fn builds() -> Vec<Build> {
    let all: Vec<Build> = pinned_versions()
        .into_iter()
        .map(|version| Build {
            bin: target_dir().join("l3afd").join(&version).join("bin/l3afd"),
            version,
        })
        .collect();
    assert!(!all.is_empty(), "{PINS} pins no l3afd version");
    let missing: Vec<&Build> = all.iter().filter(|b| !b.bin.is_file()).collect();
    if missing.is_empty() {
        return all;
    }
    super::skip(&format!(
        "needs the real l3afd at {} (`make l3afd` builds the pins of {PINS})",
        missing
            .iter()
            .map(|b| b.bin.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Vec::new()
}

/// One l3afd at a time in this process (see the module comment).
pub fn serial() -> MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// `lsb_release -cs`: the `<codename>` l3afd puts into artifact URLs.
pub fn codename() -> String {
    let out = Command::new("lsb_release")
        .arg("-cs")
        .output()
        .expect("running lsb_release (l3afd runs it too)");
    assert!(out.status.success(), "lsb_release -cs failed");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn run_ok(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `file://` package repository l3afd downloads from.
pub struct Repo {
    pub dir: TempDir,
}

impl Repo {
    /// Our artifact, published under the payload's name and version, and
    /// our tc-root under `tc-root/latest`.
    pub fn new() -> Self {
        let artifact = std::env::var_os("IPFIX_ARTIFACT")
            .map(PathBuf::from)
            .expect(
                "IPFIX_ARTIFACT must name the l3af_bpf_ipfix.tar.gz `make package` wrote \
             (`make test-l3afd` sets it)",
            );
        let repo = Repo {
            dir: TempDir::new("ipfix-l3afd-repo-"),
        };
        let payload = Payload::load(Direction::Ingress);
        repo.publish(&payload.name, &payload.version, &artifact);
        repo.publish_tc_root();
        repo
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.dir.0.display())
    }

    /// `<repo>/<name>/<version>/<codename>/<file name of tarball>`.
    pub fn publish(&self, name: &str, version: &str, tarball: &Path) {
        let dir = self.dir.0.join(name).join(version).join(codename());
        std::fs::create_dir_all(&dir).unwrap();
        let to = dir.join(tarball.file_name().unwrap());
        std::fs::copy(tarball, &to)
            .unwrap_or_else(|e| panic!("publishing {}: {e}", tarball.display()));
    }

    /// `l3af_tc_root.tar.gz`: one directory `l3af_tc_root/` with both
    /// objects, as l3afd unpacks it to `<bpf-dir>/tc-root/latest/`.
    fn publish_tc_root(&self) {
        self.publish_objects("tc_root", "tc-root", "latest");
    }

    /// `l3af/witness/` as `ipfix-witness` version 1.0 (`l3af_witness.tar.gz`).
    pub fn publish_witness(&self) {
        self.publish_objects("witness", "ipfix-witness", "1.0");
    }

    /// `l3af_<prefix>.tar.gz` with `<prefix>_{ingress,egress}.bpf.o` from
    /// this build, published as `name`/`version`.
    fn publish_objects(&self, prefix: &str, name: &str, version: &str) {
        let staging = TempDir::new("ipfix-l3af-pkg-");
        let top_name = format!("l3af_{prefix}");
        let top = staging.0.join(&top_name);
        std::fs::create_dir_all(&top).unwrap();
        for d in Direction::ALL {
            let obj = format!("{prefix}_{}.bpf.o", d.as_str());
            let from = Path::new(ipfix_flow_exporter::datapath::BPF_OBJ_DIR).join(&obj);
            std::fs::copy(&from, top.join(&obj))
                .unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
        }
        let tarball = staging.0.join(format!("{top_name}.tar.gz"));
        run_ok(
            Command::new("tar")
                .arg("-C")
                .arg(&staging.0)
                .args(["-czf"])
                .arg(&tarball)
                .arg(&top_name),
            &format!("packaging {name}"),
        );
        self.publish(name, version, &tarball);
    }
}

/// An HTTP/1.0 request to `port` on the loopback of namespace `ns` (1.0:
/// the answer is never chunked). Returns the status and the body.
pub fn http(ns: &str, method: &str, port: u16, path: &str, body: Option<&str>) -> (u16, String) {
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{}",
        body.map_or(0, str::len),
        body.unwrap_or("")
    );
    let what = format!("{method} {path} on port {port}");
    NetnsPair::run_in(ns, move || {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{what}: connecting: {e}"));
        // l3afd answers /add only when the programs are up: allow for it.
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        s.write_all(request.as_bytes())
            .unwrap_or_else(|e| panic!("{what}: sending: {e}"));
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)
            .unwrap_or_else(|e| panic!("{what}: reading the answer: {e}"));
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("{what}: no status line in {head:?}"));
        (status, body.to_owned())
    })
}

/// Strips the terminal colours zerolog's console writer adds.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The host name l3afd checks payloads against.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("reading the host name")
        .trim()
        .to_owned()
}

/// `l3af/payload.json` for one interface: host name and iface replaced,
/// both directions' `start_args` merged with `args` (the collector, test
/// timeouts), and `ipv4_address` the metrics label.
pub fn payload_for(iface: &str, args: &[(&str, &str)]) -> Value {
    let text = std::fs::read_to_string(PAYLOAD_JSON).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    let host = &mut v[0];
    host["host_name"] = json!(hostname());
    host["iface"] = json!(iface);
    host["ipv4_address"] = json!(super::netns::A_V4.to_string());
    for d in Direction::ALL {
        let list = host["bpf_programs"][format!("tc_{}", d.as_str())]
            .as_array_mut()
            .unwrap();
        for prog in list {
            for (k, val) in args {
                prog["start_args"][*k] = json!(val);
            }
        }
    }
    v
}

/// `l3af/delete_payload.json` for one interface and some directions.
pub fn delete_payload(iface: &str, directions: &[Direction]) -> Value {
    let mut programs = json!({ "xdp_ingress": null, "tc_ingress": null, "tc_egress": null });
    for d in directions {
        programs[format!("tc_{}", d.as_str())] = json!(["ipfix-flow-exporter"]);
    }
    json!([{
        "host_name": hostname(),
        "iface": iface,
        "ipv4_address": super::netns::A_V4.to_string(),
        "bpf_programs": programs,
    }])
}

/// A running l3afd in namespace `ns`.
pub struct L3afd {
    pub build: Build,
    pub ns: String,
    pub iface: String,
    pub dir: TempDir,
    /// `[graceful-restart] basepath`.
    base: TempDir,
    child: Option<Child>,
    _tree: L3afdTree,
}

impl L3afd {
    /// Writes the config and starts l3afd; waits until its REST API answers.
    pub fn start(build: &Build, repo: &Repo, ns: &str, iface: &str) -> Self {
        let dir = TempDir::new("ipfix-real-l3afd-");
        // l3afd reads the running version off `<basepath>/latest/l3afd`
        // with strings.Trim(path, basepath + "/"), a cut set: a basepath
        // with a 'v' or a 'd' in it eats into "v2.1.0/l3afd/l3afd".
        let base_dir = TempDir::new("ipfix-restart-");
        let base = base_dir.0.clone();
        assert!(
            !base.to_string_lossy().contains(['v', 'd']),
            "{}",
            base.display()
        );
        for sub in ["bpf", "logs", "store"] {
            std::fs::create_dir_all(dir.0.join(sub)).unwrap();
        }
        let cfg = Self::config_text(&dir.0, &repo.url(), &base);
        let cfg_path = dir.0.join("l3afd.cfg");
        std::fs::write(&cfg_path, cfg).unwrap();
        // `<base>/<label>/l3afd/{l3afd,l3afd.cfg}` and `<base>/latest/`
        // symlinks: the layout l3afd's graceful restart reads.
        let installed = base.join(RESTART_LABEL).join("l3afd");
        std::fs::create_dir_all(&installed).unwrap();
        std::fs::copy(&build.bin, installed.join("l3afd")).unwrap();
        std::fs::copy(&cfg_path, installed.join("l3afd.cfg")).unwrap();
        std::fs::create_dir_all(base.join("latest")).unwrap();
        for f in ["l3afd", "l3afd.cfg"] {
            std::os::unix::fs::symlink(installed.join(f), base.join("latest").join(f)).unwrap();
        }
        let tree = L3afdTree::new(iface);
        let log = File::create(dir.0.join("l3afd.out")).unwrap();
        let err = log.try_clone().unwrap();
        println!(
            "real l3afd {}: starting in {ns} for {iface} ({})",
            build.version,
            dir.0.display()
        );
        let script = "{ mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug; } && exec \"$0\" --config \"$1\"";
        let child = Command::new("nsenter")
            .arg(format!("--net={}", NetnsPair::ns_path(ns)))
            .args(["--", "unshare", "--mount", "--propagation", "private"])
            .args(["sh", "-c", script])
            .arg(base.join("latest/l3afd"))
            .arg(base.join("latest/l3afd.cfg"))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .expect("starting l3afd");
        let mut l = L3afd {
            build: build.clone(),
            ns: ns.to_owned(),
            iface: iface.to_owned(),
            dir,
            base: base_dir,
            child: Some(child),
            _tree: tree,
        };
        l.wait_listening();
        l
    }

    fn config_text(dir: &Path, repo_url: &str, base: &Path) -> String {
        let d = dir.display();
        format!(
            "[l3afd]
pid-file: {d}/l3afd.pid
datacenter: test
bpf-dir: {d}/bpf
bpf-log-dir: {d}/logs
kernel-major-version: 5
kernel-minor-version: 15
shutdown-timeout: 5s
http-client-timeout: 10s
max-ebpf-restart-count: 3
bpf-chaining-enabled: true
swagger-api-enabled: false
environment: DEV
BpfMapDefaultPath: /sys/fs/bpf

[ebpf-repo]
url: {repo_url}

[web]
metrics-addr: 127.0.0.1:{METRICS_PORT}
ebpf-poll-interval: {POLL_INTERVAL}
n-metric-samples: 20

[tc-root]
package-name: tc-root
artifact: l3af_tc_root.tar.gz
ingress-map-name: tc_ingress_root_array
egress-map-name: tc_egress_root_array
command: tc_root
version: latest
ingress-object-file: tc_root_ingress.bpf.o
egress-object-file: tc_root_egress.bpf.o
ingress-entry-function-name: tc_ingress_root
egress-entry-function-name: tc_egress_root

[ebpf-chain-debug]
addr: 127.0.0.1:{DEBUG_PORT}
enabled: true

[l3af-configs]
restapi-addr: 127.0.0.1:{REST_PORT}

[l3af-config-store]
filename: {d}/store/l3af-config.json

[mtls]
enabled: false

[graceful-restart]
restart-artifacts-url: {repo_url}
time-to-restart: 7
basepath: {}
version-limit: 3
",
            base.display()
        )
    }

    fn wait_listening(&mut self) {
        let ns = self.ns.clone();
        let ok = wait_until(L3AFD_WAIT, || {
            self.assert_alive();
            let ns = ns.clone();
            NetnsPair::run_in(&ns, || {
                TcpStream::connect_timeout(
                    &SocketAddr::from(([127, 0, 0, 1], REST_PORT)),
                    Duration::from_millis(200),
                )
                .is_ok()
            })
        });
        assert!(ok, "l3afd's REST API did not come up (its log follows)");
    }

    /// What l3afd printed so far (colours stripped).
    pub fn log(&self) -> String {
        strip_ansi(&std::fs::read_to_string(self.dir.0.join("l3afd.out")).unwrap_or_default())
    }

    /// The log for a failure report: without the config defaults it lists
    /// at start, and each line at most three times.
    pub fn report(&self) -> String {
        let mut seen = std::collections::HashMap::<String, u32>::new();
        let mut out = String::new();
        for line in self.log().lines() {
            if line.contains("Using default value") || line.contains("Route added") {
                continue;
            }
            // Without the time stamp and pids, for counting repeats.
            let shape: String = line
                .split_once(' ')
                .map_or(line, |(_, r)| r)
                .chars()
                .filter(|c| !c.is_ascii_digit())
                .collect();
            let n = seen.entry(shape).or_default();
            *n += 1;
            if *n <= 3 {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// Fails when the l3afd this test started has exited (before a
    /// graceful restart hands over to a successor).
    pub fn assert_alive(&mut self) {
        if let Some(c) = self.child.as_mut() {
            if let Ok(Some(st)) = c.try_wait() {
                panic!("l3afd exited ({st}); its log follows");
            }
        }
    }

    /// The pid in l3afd's pid file (the successor, after a graceful restart).
    pub fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.0.join("l3afd.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    pub fn bpf_dir(&self) -> PathBuf {
        self.dir.0.join("bpf")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.dir.0.join("logs")
    }

    /// The daemon log `--log-dir` gets: `<bpf-log-dir>/bpf_ipfix_<dir>.log`.
    pub fn daemon_log(&self, d: Direction) -> String {
        std::fs::read_to_string(
            self.log_dir()
                .join(format!("{}.log", names::artifact_binary(d))),
        )
        .unwrap_or_default()
    }

    /// `<bpf-dir>/<name>/<version>/l3af_bpf_ipfix/bpf_ipfix_<dir>`.
    pub fn daemon_path(&self, name: &str, version: &str, d: Direction) -> PathBuf {
        self.bpf_dir()
            .join(name)
            .join(version)
            .join(ARTIFACT_DIR)
            .join(names::artifact_binary(d))
    }

    /// Pids of the processes running `exe`, with their command lines.
    pub fn processes_of(exe: &Path) -> Vec<(i32, Vec<String>)> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir("/proc") else {
            return out;
        };
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(link) = std::fs::read_link(e.path().join("exe")) else {
                continue;
            };
            if link != exe {
                continue;
            }
            let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
                continue;
            };
            // A zombie has an empty command line: it is not running.
            if cmdline.is_empty() {
                continue;
            }
            let argv = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            out.push((pid, argv));
        }
        out
    }

    /// Every process started from this l3afd's bpf-dir (our daemons).
    pub fn daemons(&self) -> Vec<(i32, Vec<String>)> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir("/proc") else {
            return out;
        };
        let root = self.bpf_dir();
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if let Ok(link) = std::fs::read_link(e.path().join("exe")) {
                if link.starts_with(&root) {
                    out.extend(Self::processes_of(&link).into_iter().filter(|p| p.0 == pid));
                }
            }
        }
        out
    }

    /// Waits until exactly one process runs `exe` other than `not`; returns
    /// its pid and command line.
    pub fn wait_daemon(&mut self, exe: &Path, not: Option<i32>) -> (i32, Vec<String>) {
        let mut found = None;
        let ok = wait_until(L3AFD_WAIT, || {
            let procs = Self::processes_of(exe);
            if procs.len() == 1 && Some(procs[0].0) != not {
                found = Some(procs[0].clone());
                true
            } else {
                false
            }
        });
        assert!(
            ok,
            "no (new) daemon {} within {L3AFD_WAIT:?}: {:?}",
            exe.display(),
            Self::processes_of(exe),
        );
        found.unwrap()
    }

    /// A REST call; panics with l3afd's log unless it answers 200.
    pub fn call(&mut self, method: &str, path: &str, body: &Value) -> String {
        let text = body.to_string();
        let (status, answer) = http(&self.ns, method, REST_PORT, path, Some(&text));
        assert_eq!(
            status, 200,
            "l3afd {} {method} {path}: {answer}",
            self.build.version,
        );
        answer
    }

    pub fn add(&mut self, payload: &Value) {
        self.call("POST", "/l3af/configs/v1/add", payload);
    }

    pub fn update(&mut self, payload: &Value) {
        self.call("POST", "/l3af/configs/v1/update", payload);
    }

    pub fn delete(&mut self, payload: &Value) {
        self.call("POST", "/l3af/configs/v1/delete", payload);
    }

    /// The configuration l3afd holds for the interface.
    pub fn config(&self) -> Value {
        let (status, body) = http(
            &self.ns,
            "GET",
            REST_PORT,
            &format!("/l3af/configs/v1/{}", self.iface),
            None,
        );
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap_or(Value::Null)
    }

    /// l3afd's Prometheus endpoint.
    pub fn metrics(&self) -> String {
        let (status, body) = http(&self.ns, "GET", METRICS_PORT, "/metrics", None);
        assert_eq!(status, 200, "{body}");
        body
    }

    /// `l3afd_BPFMonitorMap{...,map_name="<map>_0_<aggregator>"}` for our
    /// program on this interface.
    pub fn monitor_metric(&self, map: &str, aggregator: &str) -> Option<f64> {
        let label = format!("map_name=\"{map}_0_{aggregator}\"");
        let iface = format!("interface_name=\"{}\"", self.iface);
        self.metrics()
            .lines()
            .filter(|l| l.starts_with("l3afd_BPFMonitorMap{"))
            .filter(|l| l.contains(&label) && l.contains(&iface))
            .find_map(|l| l.rsplit(' ').next()?.parse().ok())
    }

    /// The graceful restart an operator asks for: l3afd starts its
    /// successor from `<basepath>/latest/`, hands over and exits.
    pub fn graceful_restart(&mut self) {
        let before = self.pid();
        let body = json!({ "hostname": hostname(), "version": RESTART_LABEL });
        self.call("PUT", "/l3af/configs/v1/restart", &body);
        // The first l3afd exits once its successor reports ready.
        let mut child = self.child.take().expect("l3afd was started here");
        let ok = wait_until(L3AFD_WAIT, || child.try_wait().ok().flatten().is_some());
        assert!(ok, "l3afd did not exit after the restart");
        let after = self.pid();
        assert!(
            after.is_some() && after != before,
            "no successor in the pid file ({before:?} -> {after:?})"
        );
        self.wait_listening();
    }

    /// Kills l3afd (SIGTERM, then SIGKILL) and every daemon it started.
    fn stop_everything(&mut self) {
        let mut pids: Vec<i32> = self.pid().into_iter().collect();
        if let Some(c) = &self.child {
            pids.push(c.id() as i32);
        }
        for p in &pids {
            let _ = kill(Pid::from_raw(*p), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline
            && pids
                .iter()
                .any(|p| kill(Pid::from_raw(*p), None).is_ok() && !is_zombie(*p))
        {
            if let Some(c) = self.child.as_mut() {
                let _ = c.try_wait();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        for p in &pids {
            let _ = kill(Pid::from_raw(*p), Signal::SIGKILL);
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for _ in 0..50 {
            let left = self.daemons();
            if left.is_empty() {
                break;
            }
            for (p, _) in left {
                let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

impl Drop for L3afd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- l3afd {} log ---\n{}\n--- daemon logs ---\n{}\n{}",
                self.build.version,
                self.report(),
                self.daemon_log(Direction::Ingress),
                self.daemon_log(Direction::Egress)
            );
        }
        self.stop_everything();
        // l3afd's graceful-restart sockets, if a restart failed half-way.
        for s in ["/tmp/l3afd.sock", "/tmp/l3afstate.sock"] {
            let _ = std::fs::remove_file(s);
        }
    }
}
