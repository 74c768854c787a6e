//! The Vagrant dev environment (`vagrant/`). A VM cannot boot here, so the
//! Vagrantfile is checked by `ruby -c` and `vagrant validate`, and every
//! script it runs is run on this machine against temporary directories: a
//! fake l3afd (a TcpListener that records requests), a real nfcapd on a free
//! port, stub `systemctl`s and fake l3afd/tc-root sources. The checks on
//! configuration tie the scripts' defaults to `vagrant/l3afd.cfg`,
//! `l3af/l3afd.cfg`, `vagrant/config.yaml` and the payload.
//!
//! Tests that need a tool (jq, curl, nfcapd, shellcheck, ruby, vagrant, cargo)
//! print SKIP without it, and fail under IPFIX_TESTS_STRICT.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

mod common;

use common::tempdir::TempDir;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

/// Every script in vagrant/ but lib.sh (sourced by all of them).
const SCRIPTS: &[&str] = &[
    "install-deps.sh",
    "install-l3af.sh",
    "setup-monitoring.sh",
    "build-package.sh",
    "publish-artifact.sh",
    "start-collector.sh",
    "post-payload.sh",
    "where-to-look.sh",
    "redeploy.sh",
];

/// Environment variables the scripts read: cleared before each run so that
/// the test's own environment (a VERSION or NAME in CI) cannot steer them.
const SCRIPT_ENV: &[&str] = &[
    "SRC_DIR",
    "PAYLOAD",
    "DELETE_PAYLOAD",
    "PKG_NAME",
    "REPO_DIR",
    "BPF_DIR",
    "FLOW_DIR",
    "ROTATE_SECS",
    "CODENAME",
    "NAME",
    "VERSION",
    "ARTIFACT",
    "TARBALL",
    "CARGO_TARGET_DIR",
    "L3AF_OUT",
    "MAX_GLIBC",
    "MAKE",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "COLLECTOR_PORT",
    "BIND",
    "PID_FILE",
    "LOG_FILE",
    "WAIT_SECS",
    "RETRY_SECS",
    "NFCAPD",
    "L3AFD_API",
    "HOST_NAME",
    "IFACE",
    "IPV4_ADDRESS",
    "HOST_GRAFANA_PORT",
    "HOST_PROMETHEUS_PORT",
    "HOST_L3AFD_API_PORT",
    "HOST_L3AFD_DEBUG_PORT",
    "HOST_L3AFD_METRICS_PORT",
    "BPF_ROOT",
    "LOG_DIR",
    "DASHBOARD",
    "L3AFD_SRC",
    "L3AFD_REPO",
    "L3AFD_REF",
    "L3AFD_CFG",
    "L3AFD_PREFIX",
    "EBPF_PKG_SRC",
    "EBPF_PKG_REPO",
    "EBPF_PKG_REF",
    "ROOT_PROGRAMS",
    "SYSTEMD_DIR",
    "SYSTEMCTL",
    "L3AFD_METRICS",
    "PROMETHEUS_PORT",
    "PROMETHEUS_CONFIG",
    "GRAFANA_PROVISIONING",
    "GRAFANA_DASHBOARDS",
    "GRAFANA_OWNER",
    "GRAFANA_VERSION",
    "GO_VERSION",
    "RUST_USER",
    "RUST_TOOLCHAIN",
    "SUDO",
];

const CODENAME: &str = "jammy";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn vagrant_dir() -> PathBuf {
    repo().join("vagrant")
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn read_bytes(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn write(path: &Path, data: impl AsRef<[u8]>) {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).unwrap();
    }
    fs::write(path, data).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

fn write_exe(path: &Path, text: &str) {
    write(path, text);
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

// --- running scripts -------------------------------------------------------

struct Ran {
    what: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn assert_ok(&self) -> &Self {
        assert!(
            self.status.success(),
            "{} failed ({})\n--- stdout\n{}--- stderr\n{}",
            self.what,
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    fn assert_fails(&self) -> &Self {
        assert!(
            !self.status.success(),
            "{} succeeded, should have failed\n--- stdout\n{}--- stderr\n{}",
            self.what,
            self.stdout,
            self.stderr
        );
        self
    }

    fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }
}

/// `bash vagrant/NAME ARGS` (as the Vagrantfile runs it), from `/`, with
/// none of the variables the scripts read.
fn script(name: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(vagrant_dir().join(name))
        .args(args)
        .current_dir("/");
    for var in SCRIPT_ENV {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `cmd` to completion within `limit`, in its own process group (killed
/// as a whole on timeout). Panics when it overruns, or when its stdout or
/// stderr stays open after it exited (a daemon it started kept them).
fn run(cmd: &mut Command, limit: Duration) -> Ran {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {what}: {e}"));
    let (tx, rx) = mpsc::channel();
    let pipes: [Box<dyn Read + Send>; 2] = [
        Box::new(child.stdout.take().unwrap()),
        Box::new(child.stderr.take().unwrap()),
    ];
    for (i, mut pipe) in pipes.into_iter().enumerate() {
        let tx = tx.clone();
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            let _ = tx.send((i, String::from_utf8_lossy(&buf).into_owned()));
        });
    }
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = kill(Pid::from_raw(-(child.id() as i32)), Signal::SIGKILL);
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut out = [String::new(), String::new()];
    for _ in 0..2 {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(2));
        let (i, text) = rx.recv_timeout(left).unwrap_or_else(|_| {
            panic!("{what} exited but something it started kept its stdout/stderr open")
        });
        out[i] = text;
    }
    let [stdout, stderr] = out;
    Ran {
        what,
        status,
        stdout,
        stderr,
    }
}

const QUICK: Duration = Duration::from_secs(60);

/// A `systemctl` stand-in that appends its arguments, one call a line, to `log`.
fn stub_systemctl(dir: &TempDir, log: &Path) -> String {
    let path = dir.join("bin/systemctl");
    write_exe(
        &path,
        &format!("#!/bin/sh\necho \"$*\" >>'{}'\n", log.display()),
    );
    path.to_str().unwrap().to_owned()
}

fn lines(path: &Path) -> Vec<String> {
    read(path).lines().map(str::to_owned).collect()
}

// --- the payload and configuration files ----------------------------------

fn payload_file() -> PathBuf {
    repo().join("l3af/payload.json")
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The one value `field` has in every ipfix-flow-exporter program of the payload.
fn payload_value(field: &[&str]) -> String {
    let payload = json(&payload_file());
    let mut values = BTreeSet::new();
    for host in payload.as_array().unwrap() {
        for progs in host["bpf_programs"].as_object().unwrap().values() {
            for prog in progs.as_array().into_iter().flatten() {
                if prog["name"] != "ipfix-flow-exporter" {
                    continue;
                }
                let mut v = prog;
                for key in field {
                    v = &v[*key];
                }
                values.insert(match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
            }
        }
    }
    assert_eq!(values.len(), 1, "payload {field:?}: {values:?}");
    values.into_iter().next().unwrap()
}

/// An l3afd config ("key: value" under "[section]") as (section, key) -> value.
fn ini(path: &Path) -> BTreeMap<(String, String), String> {
    let mut map = BTreeMap::new();
    let mut section = String::new();
    for line in read(path).lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let at = match (line.find(':'), line.find('=')) {
            (Some(c), Some(e)) => c.min(e),
            (Some(c), None) => c,
            (None, Some(e)) => e,
            (None, None) => panic!("{}: cannot parse {line:?}", path.display()),
        };
        map.insert(
            (section.clone(), line[..at].trim().to_owned()),
            line[at + 1..].trim().to_owned(),
        );
    }
    map
}

fn cfg_get(cfg: &BTreeMap<(String, String), String>, section: &str, key: &str) -> String {
    cfg.get(&(section.to_owned(), key.to_owned()))
        .unwrap_or_else(|| panic!("no [{section}] {key}"))
        .clone()
}

/// `VAR=${VAR:-default}` in a vagrant/ script: the default.
fn script_default(file: &str, var: &str) -> String {
    let text = read(&vagrant_dir().join(file));
    let start = format!("{var}=${{{var}:-");
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(&start))
        .unwrap_or_else(|| panic!("vagrant/{file} has no {start}...}}"));
    line[start.len()..]
        .strip_suffix('}')
        .unwrap_or_else(|| panic!("vagrant/{file}: {line}"))
        .to_owned()
}

/// vagrant/config.yaml's flat `key: 'value'` settings.
fn config_yaml() -> BTreeMap<String, String> {
    read(&vagrant_dir().join("config.yaml"))
        .lines()
        .filter(|l| l.starts_with("  ") && !l.trim_start().starts_with('#'))
        .filter_map(|l| l.trim().split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.trim().trim_matches('\'').to_owned()))
        .collect()
}

fn port_of(addr: &str) -> &str {
    addr.rsplit(':').next().unwrap()
}

// --- a fake l3afd --------------------------------------------------------------

#[derive(Clone, Debug)]
struct Request {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Request {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Answers one connection per entry of `answers` (status, body) with that
/// answer, recording each request; then stops listening. Gives up after two
/// minutes or when dropped.
struct FakeL3afd {
    addr: String,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn read_request(stream: &mut TcpStream) -> std::io::Result<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut head_lines = head.split("\r\n");
    let mut request_line = head_lines.next().unwrap_or("").split(' ');
    let method = request_line.next().unwrap_or("").to_owned();
    let path = request_line.next().unwrap_or("").to_owned();
    let headers: BTreeMap<String, String> = head_lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .map(|v| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Request {
        method,
        path,
        headers,
        body,
    })
}

impl FakeL3afd {
    fn start(answers: &[(u16, &str)]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let answers: Vec<(u16, String)> =
            answers.iter().map(|(c, b)| (*c, b.to_string())).collect();
        let thread = {
            let requests = Arc::clone(&requests);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(120);
                for (code, body) in answers {
                    let mut stream = loop {
                        if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                            return;
                        }
                        match listener.accept() {
                            Ok((s, _)) => break s,
                            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                                thread::sleep(Duration::from_millis(10))
                            }
                            Err(e) => panic!("fake l3afd: accept: {e}"),
                        }
                    };
                    stream.set_nonblocking(false).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_secs(10)))
                        .unwrap();
                    match read_request(&mut stream) {
                        Ok(req) => requests.lock().unwrap().push(req),
                        Err(e) => eprintln!("fake l3afd: bad request: {e}"),
                    }
                    let reason = if code == 200 { "OK" } else { "Error" };
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
            })
        };
        FakeL3afd {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeL3afd {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The payload file as post-payload.sh should send it for this host:
/// host_name and iface set, ipv4_address set where the file has one.
fn expected_body(file: &str, host: &str, iface: &str, addr: &str) -> Value {
    let mut v = json(&repo().join(file));
    for entry in v.as_array_mut().unwrap() {
        let obj = entry.as_object_mut().unwrap();
        obj.insert("host_name".into(), host.into());
        obj.insert("iface".into(), iface.into());
        if obj.contains_key("ipv4_address") {
            obj.insert("ipv4_address".into(), addr.into());
        }
    }
    v
}

// --- the files themselves ----------------------------------------------------

#[test]
fn every_script_is_an_executable_strict_bash_script_that_parses() {
    let mut found: BTreeSet<String> = BTreeSet::new();
    for entry in fs::read_dir(vagrant_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".sh") {
            found.insert(name);
        }
    }
    let mut expected: BTreeSet<String> = SCRIPTS.iter().map(|s| s.to_string()).collect();
    expected.insert("lib.sh".into());
    assert_eq!(found, expected, "a script in vagrant/ without tests here");
    for name in &found {
        let path = vagrant_dir().join(name);
        run(Command::new("bash").arg("-n").arg(&path), QUICK).assert_ok();
        if name == "lib.sh" {
            assert_eq!(mode(&path) & 0o111, 0, "lib.sh is sourced, not run");
            continue;
        }
        let text = read(&path);
        assert!(text.starts_with("#!/usr/bin/env bash\n"), "{name}: shebang");
        assert!(
            text.contains("\nset -euo pipefail\n"),
            "{name}: strict mode"
        );
        assert_eq!(mode(&path) & 0o111, 0o111, "{name} is executable");
    }
}

#[test]
fn scripts_pass_shellcheck() {
    common::require_tools!("shellcheck");
    let mut cmd = Command::new("shellcheck");
    cmd.current_dir("/");
    for name in SCRIPTS.iter().chain(&["lib.sh"]) {
        cmd.arg(vagrant_dir().join(name));
    }
    run(&mut cmd, QUICK).assert_ok();
}

#[test]
fn vagrantfile_is_valid_ruby() {
    common::require_tools!("ruby");
    let ran = run(
        Command::new("ruby")
            .arg("-c")
            .arg(vagrant_dir().join("Vagrantfile")),
        QUICK,
    );
    ran.assert_ok();
    assert!(ran.stdout.contains("Syntax OK"), "{}", ran.stdout);
}

#[test]
fn vagrant_validate_accepts_the_vagrantfile() {
    common::require_tools!("vagrant");
    // Vagrant's state and home go to a scratch directory, not the checkout.
    let dir = TempDir::new("vagrant-validate-");
    let ran = run(
        Command::new("vagrant")
            .args(["validate", "--ignore-provider"])
            .env("VAGRANT_CWD", vagrant_dir())
            .env("VAGRANT_DOTFILE_PATH", dir.join("dot"))
            .env("VAGRANT_HOME", dir.join("home"))
            .env("VAGRANT_CHECKPOINT_DISABLE", "1")
            .current_dir(&dir.0),
        Duration::from_secs(120),
    );
    ran.assert_ok();
    assert!(
        ran.stdout.contains("validated successfully"),
        "{}",
        ran.stdout
    );
    assert!(!vagrant_dir().join(".vagrant").exists());
}

#[test]
fn vagrantfile_runs_the_tested_scripts_in_order() {
    let text = read(&vagrant_dir().join("Vagrantfile"));
    let called: Vec<&str> = text
        .split("script(\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    assert_eq!(
        called,
        [
            "install-deps.sh",
            "install-l3af.sh",
            "setup-monitoring.sh",
            "build-package.sh",
            "publish-artifact.sh",
            "start-collector.sh",
            "post-payload.sh",
            "redeploy.sh",
            "where-to-look.sh",
        ]
    );
    for name in called {
        assert!(SCRIPTS.contains(&name), "{name} untested");
    }
    // redeploy.sh only when asked for by name.
    let rows: Vec<&str> = text.lines().collect();
    let at = rows
        .iter()
        .position(|l| l.contains("provision \"redeploy\""))
        .expect("a redeploy provisioner");
    assert!(
        rows[at..at + 2].concat().contains("run: \"never\""),
        "{}",
        rows[at]
    );
}

#[test]
fn l3afd_cfg_has_every_setting_l3af_l3afd_cfg_asks_for() {
    let ours = ini(&vagrant_dir().join("l3afd.cfg"));
    let wanted = ini(&repo().join("l3af/l3afd.cfg"));
    assert!(!wanted.is_empty());
    for ((section, key), value) in &wanted {
        assert_eq!(
            ours.get(&(section.clone(), key.clone())),
            Some(value),
            "vagrant/l3afd.cfg [{section}] {key}: l3af/l3afd.cfg says {value}"
        );
    }
    // Keys l3afd's config/config.go loads without a default: it exits without them.
    for (section, key) in [
        ("l3afd", "pid-file"),
        ("l3afd", "datacenter"),
        ("l3afd", "bpf-dir"),
        ("l3afd", "bpf-chaining-enabled"),
        ("l3afd", "BpfMapDefaultPath"),
        ("ebpf-repo", "url"),
        ("l3af-config-store", "filename"),
    ] {
        assert!(
            !cfg_get(&ours, section, key).is_empty(),
            "[{section}] {key} is empty"
        );
    }
}

#[test]
fn script_defaults_agree_with_l3afd_cfg_and_config_yaml() {
    let cfg = ini(&vagrant_dir().join("l3afd.cfg"));
    let repo_dir = script_default("lib.sh", "REPO_DIR");
    assert_eq!(
        cfg_get(&cfg, "ebpf-repo", "url"),
        format!("file://{repo_dir}")
    );
    assert_eq!(
        cfg_get(&cfg, "graceful-restart", "restart-artifacts-url"),
        format!("file://{repo_dir}")
    );
    assert_eq!(
        cfg_get(&cfg, "l3afd", "bpf-dir"),
        script_default("lib.sh", "BPF_DIR")
    );
    assert_eq!(
        cfg_get(&cfg, "l3afd", "BpfMapDefaultPath"),
        script_default("where-to-look.sh", "BPF_ROOT")
    );
    assert_eq!(
        cfg_get(&cfg, "l3afd", "bpf-log-dir"),
        script_default("where-to-look.sh", "LOG_DIR")
    );
    assert_eq!(
        cfg_get(&cfg, "graceful-restart", "basepath"),
        script_default("install-l3af.sh", "L3AFD_PREFIX")
    );
    let api = cfg_get(&cfg, "l3af-configs", "restapi-addr");
    assert_eq!(
        port_of(&api),
        port_of(&script_default("post-payload.sh", "L3AFD_API"))
    );
    let metrics = cfg_get(&cfg, "web", "metrics-addr");
    assert_eq!(
        port_of(&metrics),
        port_of(&script_default("setup-monitoring.sh", "L3AFD_METRICS"))
    );

    // The Vagrantfile forwards the ports l3afd listens on ...
    let vagrantfile = read(&vagrant_dir().join("Vagrantfile"));
    for (id, port) in [
        ("l3afd-api", port_of(&api)),
        (
            "l3afd-debug",
            port_of(&cfg_get(&cfg, "ebpf-chain-debug", "addr")),
        ),
        ("l3afd-metrics", port_of(&metrics)),
    ] {
        assert!(
            vagrantfile.contains(&format!("\"{id}\" => [{port}, ")),
            "Vagrantfile forwards guest port {port} as {id}"
        );
    }
    // ... to the host ports of config.yaml, which where-to-look.sh names when run by hand.
    let yaml = config_yaml();
    for (key, var) in [
        ("host_grafana_port", "HOST_GRAFANA_PORT"),
        ("host_prometheus_port", "HOST_PROMETHEUS_PORT"),
        ("host_l3af_config_port", "HOST_L3AFD_API_PORT"),
        ("host_l3af_debug_port", "HOST_L3AFD_DEBUG_PORT"),
        ("host_l3af_metrics_port", "HOST_L3AFD_METRICS_PORT"),
    ] {
        assert_eq!(
            yaml.get(key),
            Some(&script_default("where-to-look.sh", var)),
            "config.yaml {key} vs where-to-look.sh {var}"
        );
    }
    assert_eq!(yaml.get("box").map(String::as_str), Some("ubuntu/jammy64"));
    assert_eq!(
        yaml.get("hostname"),
        Some(
            &json(&payload_file())[0]["host_name"]
                .as_str()
                .unwrap()
                .to_owned()
        ),
        "the VM's name is the payload's host_name"
    );
}

#[test]
fn install_deps_installs_what_the_build_and_the_environment_need() {
    let ran = run(&mut script("install-deps.sh", &["--print-packages"]), QUICK);
    ran.assert_ok();
    let listed: BTreeSet<&str> = ran.stdout.lines().collect();
    // scripts/setup.sh's build packages: the crate builds the same way in the VM.
    let setup = read(&repo().join("scripts/setup.sh"));
    let build_line = setup
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("# build"))
        .nth(1)
        .expect("scripts/setup.sh: a line of build packages after '# build'");
    let build: Vec<&str> = build_line.split_whitespace().collect();
    assert!(build.contains(&"clang"), "{build_line}");
    for pkg in build
        .iter()
        .chain(&["nfdump", "jq", "curl", "lsb-release", "iproute2", "python3"])
        .chain(&["prometheus", "libbpf-dev", "linux-tools-common", "git"])
    {
        assert!(
            listed.contains(pkg),
            "install-deps.sh does not install {pkg}"
        );
    }
}

// --- publish-artifact.sh -------------------------------------------------------

#[test]
fn publish_puts_the_artifact_where_l3afd_fetches_it() {
    common::require_tools!("jq");
    let dir = TempDir::new("vagrant-publish-");
    let tarball = dir.join("build/l3af_bpf_ipfix.tar.gz");
    let bytes: Vec<u8> = (0..70_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
    write(&tarball, &bytes);
    let version = payload_value(&["version"]);
    let artifact = payload_value(&["artifact"]);

    let ran = run(
        script("publish-artifact.sh", &[tarball.to_str().unwrap()])
            .env("REPO_DIR", dir.join("srv"))
            .env("BPF_DIR", dir.join("shm"))
            .env("CODENAME", CODENAME),
        QUICK,
    );
    ran.assert_ok();
    // <repo>/<name>/<version>/<lsb_release -cs>/<artifact>, as l3afd's GetArtifacts joins it.
    let dest_dir = dir.join(format!("srv/ipfix-flow-exporter/{version}/{CODENAME}"));
    let dest = dest_dir.join(&artifact);
    assert_eq!(ran.last_line(), dest.to_str().unwrap());
    assert_eq!(read_bytes(&dest), bytes, "published byte for byte");
    assert_eq!(mode(&dest), 0o644);
    for d in [
        dir.join("srv/ipfix-flow-exporter"),
        dest_dir.parent().unwrap().to_owned(),
        dest_dir.clone(),
    ] {
        assert_eq!(mode(&d), 0o755, "{}", d.display());
    }
    let entries: Vec<_> = fs::read_dir(&dest_dir).unwrap().collect();
    assert_eq!(
        entries.len(),
        1,
        "nothing but the artifact (no temporary copy)"
    );
    assert!(!ran.stderr.contains("warning"), "{}", ran.stderr);

    // Again over the top, with l3afd's unpacked copy of that version present:
    // published, and a warning that l3afd will not look at it.
    let unpacked = dir.join(format!("shm/ipfix-flow-exporter/{version}/l3af_bpf_ipfix"));
    fs::create_dir_all(&unpacked).unwrap();
    write(&tarball, b"second build");
    let ran = run(
        script("publish-artifact.sh", &[tarball.to_str().unwrap()])
            .env("REPO_DIR", dir.join("srv"))
            .env("BPF_DIR", dir.join("shm"))
            .env("CODENAME", CODENAME),
        QUICK,
    );
    ran.assert_ok();
    assert_eq!(read_bytes(&dest), b"second build");
    assert!(
        ran.stderr.contains(unpacked.to_str().unwrap()),
        "warns about {}: {}",
        unpacked.display(),
        ran.stderr
    );

    // Another package (tc-root), named on the command line.
    let tc_root = dir.join("tc-root/l3af_tc_root.tar.gz");
    write(&tc_root, b"tc-root");
    run(
        script("publish-artifact.sh", &[tc_root.to_str().unwrap()])
            .env("REPO_DIR", dir.join("srv"))
            .env("CODENAME", CODENAME)
            .env("NAME", "tc-root")
            .env("VERSION", "latest"),
        QUICK,
    )
    .assert_ok();
    assert_eq!(
        read_bytes(&dir.join(format!("srv/tc-root/latest/{CODENAME}/l3af_tc_root.tar.gz"))),
        b"tc-root"
    );

    // No artifact: an error, nothing published.
    let ran = run(
        script("publish-artifact.sh", &[dir.str("missing.tar.gz").as_str()])
            .env("REPO_DIR", dir.join("srv2"))
            .env("CODENAME", CODENAME),
        QUICK,
    );
    ran.assert_fails();
    assert!(ran.stderr.contains("no artifact"), "{}", ran.stderr);
    assert!(!dir.join("srv2").exists());
}

// --- post-payload.sh --------------------------------------------------------------

fn post(l3afd: &FakeL3afd, action: &str) -> Ran {
    run(
        script("post-payload.sh", &[action])
            .env("L3AFD_API", &l3afd.addr)
            .env("HOST_NAME", "vm-under-test")
            .env("IFACE", "enp0s3")
            .env("IPV4_ADDRESS", "10.0.2.15")
            .env("WAIT_SECS", "15")
            .env("RETRY_SECS", "0.2"),
        QUICK,
    )
}

#[test]
fn post_payload_adds_the_payload_for_this_host() {
    common::require_tools!("jq", "curl");
    let l3afd = FakeL3afd::start(&[(200, "")]);
    let ran = post(&l3afd, "add");
    ran.assert_ok();
    let reqs = l3afd.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let req = &reqs[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/l3af/configs/v1/add");
    assert_eq!(
        req.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    assert_eq!(
        req.json(),
        expected_body("l3af/payload.json", "vm-under-test", "enp0s3", "10.0.2.15"),
        "payload.json with host_name, iface and ipv4_address for this host, all else as written"
    );
}

#[test]
fn post_payload_names_this_host_by_default() {
    common::require_tools!("jq", "curl");
    let l3afd = FakeL3afd::start(&[(200, "")]);
    run(
        script("post-payload.sh", &[])
            .env("L3AFD_API", &l3afd.addr)
            .env("IFACE", "enp0s3")
            .env("IPV4_ADDRESS", "10.0.2.15"),
        QUICK,
    )
    .assert_ok();
    // What `hostname` prints, and Go's os.Hostname() in l3afd returns.
    let hostname = read(Path::new("/proc/sys/kernel/hostname"))
        .trim()
        .to_owned();
    let reqs = l3afd.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/l3af/configs/v1/add", "add is the default");
    assert_eq!(
        reqs[0].json(),
        expected_body("l3af/payload.json", &hostname, "enp0s3", "10.0.2.15")
    );
}

#[test]
fn post_payload_deletes_with_the_delete_payload() {
    common::require_tools!("jq", "curl");
    let l3afd = FakeL3afd::start(&[(200, "")]);
    post(&l3afd, "delete").assert_ok();
    let reqs = l3afd.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/l3af/configs/v1/delete");
    assert_eq!(
        reqs[0].json(),
        expected_body(
            "l3af/delete_payload.json",
            "vm-under-test",
            "enp0s3",
            "10.0.2.15"
        ),
        "delete_payload.json for this host"
    );
}

#[test]
fn post_payload_retries_while_l3afd_restarts_and_stops_on_an_error() {
    common::require_tools!("jq", "curl");
    // l3afd answers 200 with this message during a graceful restart.
    let busy = "We are currently in the middle of a restart. Please attempt again after a while.";
    let l3afd = FakeL3afd::start(&[(200, busy), (200, "")]);
    let ran = post(&l3afd, "add");
    ran.assert_ok();
    assert_eq!(l3afd.requests().len(), 2, "{}", ran.stdout);
    assert!(ran.stdout.contains("retrying"), "{}", ran.stdout);

    let refused = "failed to AddEbpfPrograms : provided bpf programs do not belong to this host";
    let l3afd = FakeL3afd::start(&[(500, refused), (200, "")]);
    let ran = post(&l3afd, "add");
    ran.assert_fails();
    assert_eq!(l3afd.requests().len(), 1, "no retry after an error");
    assert!(
        ran.stderr.contains("500") && ran.stderr.contains(refused),
        "{}",
        ran.stderr
    );

    // Nobody listening: retries until WAIT_SECS, then fails.
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap().to_string();
    drop(free);
    let started = Instant::now();
    let ran = run(
        script("post-payload.sh", &[])
            .env("L3AFD_API", &addr)
            .env("HOST_NAME", "h")
            .env("IFACE", "lo")
            .env("WAIT_SECS", "1")
            .env("RETRY_SECS", "0.2"),
        QUICK,
    );
    ran.assert_fails();
    assert!(ran.stderr.contains("not answering"), "{}", ran.stderr);
    assert!(started.elapsed() < Duration::from_secs(20));
}

// --- start-collector.sh ------------------------------------------------------------

/// Stops the nfcapd named in a pid file on drop, should the test fail first.
struct NfcapdGuard(PathBuf);

fn nfcapd_pid(pid_file: &Path) -> Option<i32> {
    let pid: i32 = fs::read_to_string(pid_file).ok()?.trim().parse().ok()?;
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim() == "nfcapd").then_some(pid)
}

impl Drop for NfcapdGuard {
    fn drop(&mut self) {
        if let Some(pid) = nfcapd_pid(&self.0) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One IPFIX message: a template and one UDP flow 192.0.2.1:40000 ->
/// 198.51.100.2:4739, 3 packets, 420 octets.
fn ipfix_message() -> Vec<u8> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    // (element id, length): sourceIPv4Address, destinationIPv4Address,
    // protocolIdentifier, sourceTransportPort, destinationTransportPort,
    // packetDeltaCount, octetDeltaCount, flowStartMilliseconds, flowEndMilliseconds.
    let fields: [(u16, u16); 9] = [
        (8, 4),
        (12, 4),
        (4, 1),
        (7, 2),
        (11, 2),
        (2, 8),
        (1, 8),
        (152, 8),
        (153, 8),
    ];
    let mut template = vec![];
    template.extend(256u16.to_be_bytes());
    template.extend((fields.len() as u16).to_be_bytes());
    for (id, len) in fields {
        template.extend(id.to_be_bytes());
        template.extend(len.to_be_bytes());
    }
    let mut record = vec![192, 0, 2, 1, 198, 51, 100, 2, 17];
    record.extend(40000u16.to_be_bytes());
    record.extend(4739u16.to_be_bytes());
    record.extend(3u64.to_be_bytes());
    record.extend(420u64.to_be_bytes());
    record.extend((now_ms - 2000).to_be_bytes());
    record.extend((now_ms - 1000).to_be_bytes());
    let mut sets = vec![];
    for (set_id, body) in [(2u16, template), (256u16, record)] {
        sets.extend(set_id.to_be_bytes());
        sets.extend((body.len() as u16 + 4).to_be_bytes());
        sets.extend(body);
    }
    let mut msg = vec![];
    msg.extend(10u16.to_be_bytes());
    msg.extend((sets.len() as u16 + 16).to_be_bytes());
    msg.extend(((now_ms / 1000) as u32).to_be_bytes());
    msg.extend(0u32.to_be_bytes());
    msg.extend(1u32.to_be_bytes());
    msg.extend(sets);
    msg
}

#[test]
fn collector_runs_nfcapd_on_the_port_and_stops_it() {
    common::require_tools!("jq", "nfcapd", "nfdump", "ss");
    let dir = TempDir::new("vagrant-collector-");
    let pid_file = dir.join("run/nfcapd.pid");
    let _guard = NfcapdGuard(pid_file.clone());
    let port = free_udp_port();
    let collector = |action: &str| {
        run(
            script("start-collector.sh", &[action])
                .env("FLOW_DIR", dir.join("flows"))
                .env("PID_FILE", &pid_file)
                .env("LOG_FILE", dir.join("log/nfcapd.log"))
                .env("COLLECTOR_PORT", port.to_string())
                .env("BIND", "127.0.0.1")
                .env("WAIT_SECS", "10"),
            Duration::from_secs(30),
        )
    };

    // Returns (with its output closed: run() checks) once nfcapd is up.
    collector("start").assert_ok();
    let pid = nfcapd_pid(&pid_file).expect("nfcapd running, its pid in PID_FILE");
    let taken = UdpSocket::bind(("127.0.0.1", port));
    assert_eq!(
        taken.map(|_| ()).map_err(|e| e.kind()),
        Err(ErrorKind::AddrInUse),
        "nfcapd holds udp port {port}"
    );
    let again = collector("start");
    again.assert_ok();
    assert!(
        again
            .stdout
            .contains(&format!("already running (pid {pid})")),
        "{}",
        again.stdout
    );
    let status = collector("status");
    status.assert_ok();
    assert!(
        status.stdout.contains(&port.to_string()),
        "{}",
        status.stdout
    );

    // It collects: one flow in, one flow out of nfdump once the file is closed.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(&ipfix_message(), ("127.0.0.1", port)).unwrap();
    thread::sleep(Duration::from_millis(500));

    collector("stop").assert_ok();
    assert!(
        nfcapd_pid(&pid_file).is_none() && !Path::new(&format!("/proc/{pid}")).exists(),
        "nfcapd {pid} gone"
    );
    assert!(!pid_file.exists(), "pid file removed");
    assert_eq!(
        collector("status").status.code(),
        Some(3),
        "status: not running"
    );
    let ran = run(
        Command::new("nfdump")
            .arg("-R")
            .arg(dir.join("flows"))
            .args(["-o", "json"]),
        QUICK,
    );
    ran.assert_ok();
    let flows: Value =
        serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {}", ran.stdout));
    let flows = flows.as_array().unwrap();
    assert_eq!(flows.len(), 1, "{flows:?}");
    let f = &flows[0];
    assert_eq!(f["src4_addr"], "192.0.2.1");
    assert_eq!(f["dst4_addr"], "198.51.100.2");
    assert_eq!(f["proto"], 17);
    assert_eq!(f["src_port"], 40000);
    assert_eq!(f["dst_port"], 4739);
    assert_eq!(f["in_packets"], 3);
    assert_eq!(f["in_bytes"], 420);
}

#[test]
fn collector_listens_on_the_payload_collector_port_by_default() {
    common::require_tools!("jq");
    let dir = TempDir::new("vagrant-collector-default-");
    let ran = run(
        script("start-collector.sh", &["status"])
            .env("PID_FILE", dir.join("none.pid"))
            .env("FLOW_DIR", dir.join("flows")),
        QUICK,
    );
    assert_eq!(ran.status.code(), Some(3), "{}{}", ran.stdout, ran.stderr);
    let port = payload_value(&["start_args", "collector_port"]);
    assert!(
        ran.stdout.contains(&format!("udp port {port},")),
        "{}",
        ran.stdout
    );
    assert_eq!(payload_value(&["start_args", "collector_ip"]), "127.0.0.1");
}

#[test]
fn collector_refuses_a_port_in_use() {
    common::require_tools!("jq", "nfcapd", "ss");
    let dir = TempDir::new("vagrant-collector-busy-");
    let _guard = NfcapdGuard(dir.join("nfcapd.pid"));
    let busy = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let ran = run(
        script("start-collector.sh", &[])
            .env("FLOW_DIR", dir.join("flows"))
            .env("PID_FILE", dir.join("nfcapd.pid"))
            .env("LOG_FILE", dir.join("nfcapd.log"))
            .env("COLLECTOR_PORT", port.to_string())
            .env("WAIT_SECS", "5"),
        Duration::from_secs(30),
    );
    ran.assert_fails();
    assert!(ran.stderr.contains("already in use"), "{}", ran.stderr);
    assert!(nfcapd_pid(&dir.join("nfcapd.pid")).is_none());
}

// --- where-to-look.sh -----------------------------------------------------------------

#[test]
fn where_to_look_names_the_places_and_what_is_there() {
    common::require_tools!("jq");
    let dir = TempDir::new("vagrant-where-");
    let version = payload_value(&["version"]);
    let port = payload_value(&["start_args", "collector_port"]);
    let uid = json(&repo().join("l3af/grafana/ipfix-flow-exporter.json"))["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let look = |bpf_root: &str, flow_dir: &str| {
        let ran = run(
            script("where-to-look.sh", &[])
                .env("IFACE", "enp0s3")
                .env("BPF_ROOT", dir.join(bpf_root))
                .env("FLOW_DIR", dir.join(flow_dir)),
            QUICK,
        );
        ran.assert_ok();
        ran.stdout.clone()
    };

    let pins = dir.join(format!(
        "bpf/tc/globals/enp0s3/ipfix-flow-exporter/{}",
        version.replace('.', "_")
    ));
    for map in [
        "ipfix_ingress_packets",
        "ipfix_egress_packets",
        "ipfix_ingress_jmp_table",
    ] {
        write(&pins.join(map), "");
    }
    write(&dir.join("flows/nfcapd.202601010000"), "");
    write(&dir.join("flows/nfcapd.current.42"), "");
    let out = look("bpf", "flows");
    let flows = dir.str("flows");
    for want in [
        format!("nfdump -R {flows} -o extended"),
        format!("udp port {port}"),
        format!("http://localhost:33000/d/{uid}"),
        "http://localhost:39090/graph?g0.expr=l3afd_BPFMonitorMap%7Bebpf_program%3D%22ipfix-flow-exporter%22%7D".to_owned(),
        "curl -s http://localhost:37080/l3af/configs/v1/enp0s3".to_owned(),
        "curl -s http://localhost:38899/bpfs/enp0s3".to_owned(),
        "curl -s http://localhost:38898/metrics".to_owned(),
        format!("sudo ls {}/", pins.display()),
        format!("{}/ipfix_ingress_packets key 0 0 0 0", pins.display()),
        "/var/log/l3af/bpf_ipfix_ingress.log".to_owned(),
        "journalctl -u l3afd".to_owned(),
        format!("pins     3 under {}", pins.display()),
        format!("flows    1 closed nfcapd files in {flows}"),
    ] {
        assert!(out.contains(&want), "missing {want:?} in\n{out}");
    }

    let out = look("nothing", "no-flows");
    assert!(out.contains("pins     none yet"), "{out}");
    assert!(out.contains("flows    no "), "{out}");
}

// --- install-l3af.sh, setup-monitoring.sh --------------------------------------------

#[test]
fn install_l3af_installs_l3afd_publishes_tc_root_and_starts_the_service() {
    common::require_tools!("jq", "make");
    let dir = TempDir::new("vagrant-install-l3af-");
    // vagrant/l3afd.cfg with its directories moved into the scratch directory.
    let cfg = read(&vagrant_dir().join("l3afd.cfg"))
        .replace("/srv/l3afd", &dir.str("srv"))
        .replace("/var/log/l3af", &dir.str("log"))
        .replace("/var/l3afd/", &format!("{}/", dir.str("store")));
    write(&dir.join("l3afd.cfg"), &cfg);
    // Sources standing in for the l3afd and eBPF-Package-Repository checkouts:
    // the same make targets, fake products.
    write(
        &dir.join("l3afd-src/Makefile"),
        "# -X main.Version=v9.8.7\ninstall:\n\
         \tmkdir -p $(HOME)/go/bin\n\
         \tprintf '#!/bin/sh\\necho fake l3afd\\n' >$(HOME)/go/bin/l3afd\n\
         \tchmod 755 $(HOME)/go/bin/l3afd\n",
    );
    write(
        &dir.join("pkg-src/tc-root/Makefile"),
        "all:\n\tmkdir -p l3af_tc_root\n\techo tc > l3af_tc_root/tc_root_ingress.bpf.o\n\
         \ttar -czf l3af_tc_root.tar.gz l3af_tc_root\n",
    );
    let calls = dir.join("systemctl.calls");
    let systemctl = stub_systemctl(&dir, &calls);
    let env = |cmd: &mut Command| {
        cmd.env("HOME", dir.join("home"))
            .env("L3AFD_SRC", dir.join("l3afd-src"))
            .env("EBPF_PKG_SRC", dir.join("pkg-src"))
            .env("L3AFD_CFG", dir.join("l3afd.cfg"))
            .env("L3AFD_PREFIX", dir.join("usr-local-l3afd"))
            .env("REPO_DIR", dir.join("srv"))
            .env("SYSTEMD_DIR", dir.join("systemd"))
            .env("SYSTEMCTL", &systemctl)
            .env("CODENAME", CODENAME);
    };
    let mut cmd = script("install-l3af.sh", &[]);
    env(&mut cmd);
    run(&mut cmd, Duration::from_secs(120)).assert_ok();

    let prefix = dir.join("usr-local-l3afd");
    let bin = prefix.join("v9.8.7/l3afd/l3afd");
    assert_eq!(read(&bin), read(&dir.join("home/go/bin/l3afd")));
    assert_eq!(mode(&bin), 0o755);
    assert_eq!(read(&prefix.join("v9.8.7/l3afd/l3afd.cfg")), cfg);
    assert_eq!(fs::read_link(prefix.join("latest/l3afd")).unwrap(), bin);
    assert_eq!(
        fs::read_link(prefix.join("latest/l3afd.cfg")).unwrap(),
        prefix.join("v9.8.7/l3afd/l3afd.cfg")
    );
    // tc-root where l3afd.cfg's [tc-root] (version latest) makes l3afd look.
    let cfg_map = ini(&dir.join("l3afd.cfg"));
    let tc_root = dir.join(format!(
        "srv/{}/{}/{CODENAME}/{}",
        cfg_get(&cfg_map, "tc-root", "package-name"),
        cfg_get(&cfg_map, "tc-root", "version"),
        cfg_get(&cfg_map, "tc-root", "artifact")
    ));
    assert_eq!(
        read_bytes(&tc_root),
        read_bytes(&dir.join("pkg-src/tc-root/l3af_tc_root.tar.gz"))
    );
    assert!(dir.join("log").is_dir() && dir.join("store").is_dir());
    let unit = read(&dir.join("systemd/l3afd.service"));
    let exec = format!(
        "ExecStart={0}/latest/l3afd --config {0}/latest/l3afd.cfg",
        prefix.display()
    );
    assert!(unit.lines().any(|l| l == exec), "{exec} in\n{unit}");
    assert!(unit.lines().any(|l| l == "KillMode=mixed"), "{unit}");
    // l3afd's graceful restart: the old process exits after its successor
    // wrote the pid file; systemd follows it there (/var/run is /run).
    let pid_file = cfg_get(&cfg_map, "l3afd", "pid-file").replace("/var/run/", "/run/");
    assert!(
        unit.lines().any(|l| l == format!("PIDFile={pid_file}")),
        "PIDFile={pid_file} in\n{unit}"
    );
    if common::have_tool("systemd-analyze") {
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(dir.join("systemd/l3afd.service"))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "systemd-analyze verify: {said}");
        assert!(
            !said.contains("l3afd.service"),
            "systemd-analyze verify has remarks on the unit: {said}"
        );
    }
    assert_eq!(
        lines(&calls),
        [
            "daemon-reload",
            "enable l3afd.service",
            "restart l3afd.service"
        ]
    );

    // Published somewhere l3afd does not look: refused before anything happens.
    let mut cmd = script("install-l3af.sh", &[]);
    env(&mut cmd);
    cmd.env("REPO_DIR", dir.join("elsewhere"))
        .env("L3AFD_PREFIX", dir.join("prefix2"));
    let ran = run(&mut cmd, QUICK);
    ran.assert_fails();
    assert!(ran.stderr.contains("[ebpf-repo] url"), "{}", ran.stderr);
    assert!(!dir.join("prefix2").exists() && !dir.join("elsewhere").exists());
}

#[test]
fn setup_monitoring_points_prometheus_at_l3afd_and_grafana_at_the_dashboard() {
    common::require_tools!("jq");
    let dir = TempDir::new("vagrant-monitoring-");
    let calls = dir.join("systemctl.calls");
    let systemctl = stub_systemctl(&dir, &calls);
    run(
        script("setup-monitoring.sh", &[])
            .env("PROMETHEUS_CONFIG", dir.join("prometheus/prometheus.yml"))
            .env("GRAFANA_PROVISIONING", dir.join("provisioning"))
            .env("GRAFANA_DASHBOARDS", dir.join("dashboards"))
            .env("GRAFANA_OWNER", "")
            .env("SYSTEMCTL", &systemctl),
        QUICK,
    )
    .assert_ok();

    let cfg = ini(&vagrant_dir().join("l3afd.cfg"));
    let metrics_port = port_of(&cfg_get(&cfg, "web", "metrics-addr")).to_owned();
    let prometheus = read(&dir.join("prometheus/prometheus.yml"));
    assert!(
        prometheus.contains(&format!("- targets: ['localhost:{metrics_port}']")),
        "scrapes l3afd's metrics-addr:\n{prometheus}"
    );
    let datasource = read(&dir.join("provisioning/datasources/l3af.yaml"));
    assert!(datasource.contains("type: prometheus"), "{datasource}");
    assert!(
        datasource.contains("url: http://localhost:9090"),
        "{datasource}"
    );
    let provider = read(&dir.join("provisioning/dashboards/l3af.yaml"));
    assert!(
        provider.contains(&format!("path: {}", dir.str("dashboards"))),
        "{provider}"
    );
    let dashboard = "ipfix-flow-exporter.json";
    assert_eq!(
        read_bytes(&dir.join("dashboards").join(dashboard)),
        read_bytes(&repo().join("l3af/grafana").join(dashboard))
    );
    assert_eq!(
        lines(&calls),
        [
            "daemon-reload",
            "enable prometheus.service prometheus-node-exporter.service grafana-server.service",
            "restart prometheus.service prometheus-node-exporter.service grafana-server.service",
        ]
    );
}

// --- build-package.sh, redeploy.sh --------------------------------------------------

#[test]
fn build_package_builds_and_checks_the_artifact() {
    common::require_tools!("jq", "cargo", "make");
    // The target directory `make package` uses (make test builds it first, so
    // this is quick there); the tarball goes to scratch.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    let dir = TempDir::new("vagrant-build-");
    let ran = run(
        script("build-package.sh", &[])
            .env("CARGO_TARGET_DIR", &target)
            .env("L3AF_OUT", dir.join("out")),
        Duration::from_secs(1800),
    );
    ran.assert_ok();
    let tarball = dir.join("out/l3af_bpf_ipfix.tar.gz");
    assert_eq!(ran.last_line(), tarball.to_str().unwrap());
    assert!(ran.stdout.contains("artifact OK"), "{}", ran.stdout);
    // The build is reproducible: the same bytes as `make package` made for
    // the other tests.
    if let Some(artifact) = std::env::var_os("IPFIX_ARTIFACT") {
        assert_eq!(read_bytes(&tarball), read_bytes(Path::new(&artifact)));
    }
}

#[test]
fn redeploy_deletes_replaces_the_unpacked_copy_and_adds_again() {
    common::require_tools!("jq", "curl");
    let version = payload_value(&["version"]);
    for first in [
        (200, ""),
        (500, "failed to DeleteEbpfPrograms : nothing deployed"),
    ] {
        let dir = TempDir::new("vagrant-redeploy-");
        let tarball = dir.join("new/l3af_bpf_ipfix.tar.gz");
        write(&tarball, b"new build");
        let stale = dir.join(format!("shm/ipfix-flow-exporter/{version}/l3af_bpf_ipfix"));
        write(&stale.join("bpf_ipfix_ingress"), b"old build");
        write(&dir.join("shm/tc-root/latest/l3af_tc_root/keep"), b"");
        let l3afd = FakeL3afd::start(&[first, (200, "")]);
        let ran = run(
            script("redeploy.sh", &[])
                .env("TARBALL", &tarball)
                .env("SUDO", "")
                .env("REPO_DIR", dir.join("srv"))
                .env("BPF_DIR", dir.join("shm"))
                .env("CODENAME", CODENAME)
                .env("L3AFD_API", &l3afd.addr)
                .env("HOST_NAME", "vm-under-test")
                .env("IFACE", "enp0s3")
                .env("IPV4_ADDRESS", "10.0.2.15")
                .env("WAIT_SECS", "10")
                .env("RETRY_SECS", "0.2"),
            QUICK,
        );
        ran.assert_ok();
        let reqs = l3afd.requests();
        let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/l3af/configs/v1/delete", "/l3af/configs/v1/add"]);
        assert_eq!(
            reqs[1].json(),
            expected_body("l3af/payload.json", "vm-under-test", "enp0s3", "10.0.2.15")
        );
        assert!(
            !dir.join(format!("shm/ipfix-flow-exporter/{version}"))
                .exists(),
            "l3afd's unpacked copy removed"
        );
        assert!(dir.join("shm/tc-root/latest/l3af_tc_root/keep").exists());
        assert_eq!(
            read_bytes(&dir.join(format!(
                "srv/ipfix-flow-exporter/{version}/{CODENAME}/l3af_bpf_ipfix.tar.gz"
            ))),
            b"new build"
        );
        if first.0 != 200 {
            assert!(ran.stderr.contains("delete failed"), "{}", ran.stderr);
        }
    }
}
