//! The Vagrant dev environment (`vagrant/`), without a VM: the Vagrantfile
//! by `ruby -c` and `vagrant validate`, the scripts by `bash -n` and
//! shellcheck, their defaults against the configs and the payload; the
//! scripts that deploy run against temporary directories, with a `curl` stub
//! first on PATH for l3afd and a real nfcapd on a free port. Tests that need
//! a tool print SKIP without it, and fail under IPFIX_TESTS_STRICT.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

mod common;

use common::tempdir::TempDir;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::{fs, io::ErrorKind, net::UdpSocket, time::Duration};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

const CODENAME: &str = "jammy";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn vagrant(name: &str) -> PathBuf {
    repo().join("vagrant").join(name)
}

fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn write(path: &Path, data: impl AsRef<[u8]>) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// A file of the checkout as JSON.
fn json(rel: &str) -> Value {
    serde_json::from_str(&read(repo().join(rel))).unwrap()
}

/// Asserts that `text` contains `want`, showing `text` when not.
fn has(text: &str, want: &str) {
    assert!(text.contains(want), "no {want:?} in\n{text}");
}

// --- running scripts -----------------------------------------------------------

/// Runs `cmd` to its end, asserting its exit code; its stdout and stderr.
fn run(cmd: &mut Command, code: i32) -> (String, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    let shown = format!("{cmd:?}\n--- stdout\n{stdout}--- stderr\n{stderr}");
    assert_eq!(out.status.code(), Some(code), "{shown}");
    (stdout, stderr)
}

/// `bash vagrant/NAME ARGS` as the Vagrantfile runs it, from `/`, killed
/// after ten minutes, with nothing of the test's environment but PATH: a
/// VERSION or NAME in CI cannot steer the scripts.
fn script(name: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.args(["600", "bash"]).arg(vagrant(name)).args(args);
    cmd.current_dir("/").env_clear();
    cmd.env("PATH", std::env::var_os("PATH").unwrap());
    cmd
}

/// A `curl` stand-in in `dir/bin`, first on the PATH it returns: call N
/// appends its arguments to `bin/calls`, copies its `--data-binary @FILE` to
/// `bin/body.N` and answers as l3afd would with `answers[N-1]` (status,
/// body), or with 200 and no body (done) after the last.
fn stub_curl(dir: &TempDir, answers: &[(u16, &str)]) -> String {
    let bin = dir.join("bin");
    let lines: String = answers.iter().map(|(c, b)| format!("{c} {b}\n")).collect();
    write(&bin.join("answers"), lines);
    write(&bin.join("calls"), "");
    let curl = r#"#!/bin/sh
d=$(dirname "$0") && n=$(($(wc -l <"$d/calls") + 1)) && p=
for a; do case $p in -o) out=$a ;; --data-binary) cp "${a#@}" "$d/body.$n" ;; esac; p=$a; done
echo "$*" >>"$d/calls" && a=$(sed -n "${n}p" "$d/answers") && a=${a:-200 }
printf '%s' "${a#* }" >"$out" && printf '%s' "${a%% *}"
"#;
    write(&bin.join("curl"), curl);
    let exe = fs::Permissions::from_mode(0o755);
    fs::set_permissions(bin.join("curl"), exe).unwrap();
    let path = std::env::var("PATH").unwrap();
    format!("{}:{path}", bin.display())
}

/// Asserts that the stub curl in `dir` posted these (action, body), in
/// order, to l3afd's REST API: its restapi-addr port, on loopback.
fn assert_posted(dir: &TempDir, sent: &[(&str, &Value)]) {
    let addr = get(&l3afd_cfg(), "l3af-configs", "restapi-addr");
    let api = format!("http://127.0.0.1:{}/l3af/configs/v1", port_of(&addr));
    let calls = read(dir.join("bin/calls"));
    assert_eq!(calls.lines().count(), sent.len(), "{calls}");
    for (n, (args, (action, want))) in calls.lines().zip(sent).enumerate() {
        has(args, "-X POST -H Content-Type: application/json ");
        assert!(args.ends_with(&format!(" {api}/{action}")), "{args}");
        let body = read(dir.join(format!("bin/body.{}", n + 1)));
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), **want);
    }
}

// --- the configuration files -----------------------------------------------------

/// A string at path `at` in the payload's ingress program (l3af_payload.rs
/// and the scripts' own payload_value check that egress agrees).
fn payload(at: &[&str]) -> String {
    let prog = &json("l3af/payload.json")[0]["bpf_programs"]["tc_ingress"][0];
    let v = at.iter().fold(prog, |v, k| &v[*k]);
    v.as_str().unwrap().to_owned()
}

/// The payload file as post-payload.sh sends it for this host: host_name,
/// iface and ipv4_address set, all else as written.
fn payload_for(file: &str, host: &str) -> Value {
    let mut v = json(file);
    for entry in v.as_array_mut().unwrap() {
        entry["host_name"] = host.into();
        (entry["iface"], entry["ipv4_address"]) = ("enp0s3".into(), "192.0.2.15".into());
    }
    v
}

type Ini = BTreeMap<(String, String), String>;

/// An l3afd config ("key: value" under "[section]") as (section, key) -> value.
fn ini(path: &Path) -> Ini {
    let (mut map, mut section) = (Ini::new(), String::new());
    for line in read(path).lines().map(str::trim) {
        if line.starts_with(['#', ';']) {
            continue;
        } else if let Some(name) = line.strip_prefix('[') {
            section = name.trim_end_matches(']').to_owned();
        } else if let Some((key, value)) = line.split_once([':', '=']) {
            let key = (section.clone(), key.trim().to_owned());
            map.insert(key, value.trim().to_owned());
        }
    }
    map
}

fn l3afd_cfg() -> Ini {
    ini(&vagrant("l3afd.cfg"))
}

fn get(cfg: &Ini, section: &str, key: &str) -> String {
    let missing = || panic!("no [{section}] {key}");
    let key = (section.to_owned(), key.to_owned());
    cfg.get(&key).cloned().unwrap_or_else(missing)
}

fn port_of(addr: &str) -> &str {
    addr.rsplit(':').next().unwrap()
}

/// `VAR=${VAR:-default}` or `VAR=value` in a vagrant/ script: the value.
fn script_default(file: &str, var: &str) -> String {
    let (text, set) = (read(vagrant(file)), format!("{var}="));
    let line = text.lines().find_map(|l| l.strip_prefix(&set)).unwrap();
    let value = line.trim_start_matches(&format!("${{{var}:-"));
    value.trim_end_matches('}').to_owned()
}

/// vagrant/config.yaml's flat `key: 'value'` settings.
fn config_yaml() -> BTreeMap<String, String> {
    let text = read(vagrant("config.yaml"));
    let settings = text.lines().filter(|l| l.starts_with("  "));
    let pairs = settings.filter_map(|l| l.trim().split_once(": "));
    let unquote = |v: &str| v.trim_matches('\'').to_owned();
    pairs.map(|(k, v)| (k.to_owned(), unquote(v))).collect()
}

// --- static checks -------------------------------------------------------------------

/// Every `*.sh` in vagrant/, sorted.
fn shell_files() -> Vec<String> {
    let entries = fs::read_dir(repo().join("vagrant")).unwrap();
    let names = entries.map(|e| e.unwrap().file_name().into_string());
    let mut found: Vec<String> = names.map(Result::unwrap).collect();
    found.retain(|n| n.ends_with(".sh"));
    found.sort();
    found
}

#[test]
fn every_script_is_executable_strict_bash_that_parses_and_passes_shellcheck() {
    for name in shell_files() {
        let path = vagrant(&name);
        run(Command::new("bash").arg("-n").arg(&path), 0);
        if name == "lib.sh" {
            assert_eq!(mode(&path) & 0o111, 0, "lib.sh is sourced");
            continue;
        }
        let text = read(&path);
        let strict = "#!/usr/bin/env bash\n";
        assert!(text.starts_with(strict), "{name}: shebang");
        has(&text, "\nset -euo pipefail\n");
        assert_eq!(mode(&path) & 0o111, 0o111, "{name}: mode");
    }
    common::require_tools!("shellcheck");
    let files = shell_files().into_iter().map(|n| vagrant(&n));
    run(Command::new("shellcheck").current_dir("/").args(files), 0);
}

#[test]
fn vagrantfile_runs_every_script_in_order_and_validates() {
    let text = read(vagrant("Vagrantfile"));
    let calls = text.split("script(\"").skip(1);
    let called: Vec<&str> = calls.map(|s| &s[..s.find('"').unwrap()]).collect();
    let order = "install-deps.sh install-l3af.sh setup-monitoring.sh \
        build-package.sh publish-artifact.sh start-collector.sh \
        post-payload.sh redeploy.sh where-to-look.sh";
    assert_eq!(called.join(" "), order);
    let mut all: Vec<&str> = called.iter().copied().chain(["lib.sh"]).collect();
    all.sort();
    assert_eq!(all, shell_files(), "every script is run");
    let redeploy = text.lines().find(|l| l.contains("\"redeploy\""));
    has(redeploy.unwrap(), "run: \"never\"");

    common::require_tools!("ruby", "vagrant");
    let mut ruby = Command::new("ruby");
    let (out, _) = run(ruby.arg("-c").arg(vagrant("Vagrantfile")), 0);
    assert_eq!(out, "Syntax OK\n");
    // Vagrant's state and home go to a scratch directory, not the checkout.
    let dir = TempDir::new("vagrant-validate-");
    let mut cmd = Command::new("vagrant");
    cmd.current_dir(dir.path())
        .args(["validate", "--ignore-provider"]);
    cmd.env("VAGRANT_CWD", repo().join("vagrant"));
    cmd.env("VAGRANT_DOTFILE_PATH", dir.join("dot"));
    cmd.env("VAGRANT_HOME", dir.join("home"));
    let (out, _) = run(cmd.env("VAGRANT_CHECKPOINT_DISABLE", "1"), 0);
    has(&out, "validated successfully");
    assert!(!vagrant(".vagrant").exists());
}

// --- the configurations agree -----------------------------------------------------------

#[test]
fn l3afd_cfg_script_defaults_vagrantfile_and_config_yaml_agree() {
    let cfg = l3afd_cfg();
    let wanted = ini(&repo().join("l3af/l3afd.cfg"));
    assert!(wanted.len() > 20, "{wanted:?}");
    for ((section, key), value) in &wanted {
        assert_eq!(&get(&cfg, section, key), value, "[{section}] {key}");
    }
    // l3afd's config/config.go loads these without a default: it exits without them.
    let required = "l3afd/pid-file l3afd/datacenter l3afd/bpf-dir \
        l3afd/bpf-chaining-enabled l3afd/BpfMapDefaultPath ebpf-repo/url \
        l3af-config-store/filename";
    for (section, key) in required.split(' ').flat_map(|k| k.split_once('/')) {
        assert_ne!(get(&cfg, section, key), "", "[{section}] {key}");
    }
    let url = format!("file://{}", script_default("lib.sh", "REPO_DIR"));
    assert_eq!(get(&cfg, "ebpf-repo", "url"), url);
    let restart_url = get(&cfg, "graceful-restart", "restart-artifacts-url");
    assert_eq!(restart_url, url);
    let bpf_dir = script_default("lib.sh", "BPF_DIR");
    assert_eq!(get(&cfg, "l3afd", "bpf-dir"), bpf_dir);
    let prefix = script_default("install-l3af.sh", "L3AFD_PREFIX");
    assert_eq!(get(&cfg, "graceful-restart", "basepath"), prefix);
    let metrics = get(&cfg, "web", "metrics-addr");
    let scraped = script_default("setup-monitoring.sh", "L3AFD_METRICS");
    assert_eq!(port_of(&metrics), port_of(&scraped));

    // The Vagrantfile forwards the ports l3afd listens on to config.yaml's
    // host ports (where_to_look_* ties those to where-to-look.sh).
    let vagrantfile = read(vagrant("Vagrantfile"));
    for (id, section, key, host) in [
        ("api", "l3af-configs", "restapi-addr", "config"),
        ("debug", "ebpf-chain-debug", "addr", "debug"),
        ("metrics", "web", "metrics-addr", "metrics"),
    ] {
        let port = port_of(&get(&cfg, section, key)).to_owned();
        let host = format!("CFG.fetch(\"host_l3af_{host}_port\")");
        has(&vagrantfile, &format!("\"l3afd-{id}\" => [{port}, {host}]"));
    }
    let yaml = config_yaml();
    assert_eq!(yaml["box"], "ubuntu/jammy64");
    let host = json("l3af/payload.json")[0]["host_name"].clone();
    assert_eq!(yaml["hostname"], host.as_str().unwrap(), "payload's");
}

#[test]
fn install_deps_installs_what_the_build_and_the_environment_need() {
    let (listed, _) = run(&mut script("install-deps.sh", &["--print-packages"]), 0);
    let listed: Vec<&str> = listed.lines().collect();
    // scripts/setup.sh's build packages: the crate builds the same way in the VM.
    let setup = read(repo().join("scripts/setup.sh"));
    let mut lines = setup.lines();
    lines.find(|l| l.trim().starts_with("# build")).unwrap();
    let build: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert!(build.contains(&"clang"), "{build:?}");
    let ours = "nfdump jq curl lsb-release iproute2 python3 prometheus \
        libbpf-dev linux-tools-common git";
    for pkg in build.into_iter().chain(ours.split(' ')) {
        assert!(listed.contains(&pkg), "not installed: {pkg}");
    }
}

#[test]
fn where_to_look_names_the_configured_places() {
    common::require_tools!("jq");
    let dir = TempDir::new("vagrant-where-");
    write(&dir.join("flows/nfcapd.202601010000"), "");
    write(&dir.join("flows/nfcapd.current.42"), "");
    let mut cmd = script("where-to-look.sh", &[]);
    cmd.env("IFACE", "enp0s3").env("FLOW_DIR", dir.str("flows"));
    let (out, _) = run(&mut cmd, 0);
    let (cfg, yaml) = (l3afd_cfg(), config_yaml());
    let host = |port: &str| format!("http://localhost:{}", yaml[port]);
    let version = payload(&["version"]).replace('.', "_");
    let bpf_root = get(&cfg, "l3afd", "BpfMapDefaultPath");
    let pins = format!("{bpf_root}/tc/globals/enp0s3/ipfix-flow-exporter/{version}");
    let uid = json("l3af/grafana/ipfix-flow-exporter.json")["uid"].clone();
    let log_dir = get(&cfg, "l3afd", "bpf-log-dir");
    for want in [
        format!(
            "{}/d/{}\n",
            host("host_grafana_port"),
            uid.as_str().unwrap()
        ),
        format!("{}/graph?g0.expr=l3afd_BPF", host("host_prometheus_port")),
        format!("{}/l3af/configs/v1/enp0s3\n", host("host_l3af_config_port")),
        format!("{}/bpfs/enp0s3\n", host("host_l3af_debug_port")),
        format!("{}/metrics |", host("host_l3af_metrics_port")),
        format!("sudo ls {pins}/\n"),
        format!("logs    {log_dir}/bpf_ipfix_ingress.log, "),
        format!("flows    1 closed nfcapd files in {}\n", dir.str("flows")),
    ] {
        has(&out, &want);
    }
}

// --- publish-artifact.sh, post-payload.sh, redeploy.sh -------------------------------------

#[test]
fn publish_puts_the_artifact_where_l3afd_fetches_it() {
    common::require_tools!("jq");
    let dir = TempDir::new("vagrant-publish-");
    let tarball = dir.join("build/l3af_bpf_ipfix.tar.gz");
    let bytes: Vec<u8> = (0..70_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
    write(&tarball, &bytes);
    let publish = |tarball: &Path, env: &[(&str, &str)], code| {
        let mut cmd = script("publish-artifact.sh", &[tarball.to_str().unwrap()]);
        cmd.env("REPO_DIR", dir.str("srv"))
            .env("CODENAME", CODENAME);
        cmd.env("BPF_DIR", dir.str("shm")).envs(env.iter().copied());
        run(&mut cmd, code)
    };
    let (out, err) = publish(&tarball, &[], 0);
    // <url>/<name>/<version>/<lsb_release -cs>/<artifact>, as l3afd joins them.
    let version = payload(&["version"]);
    let name_dir = dir.join("srv/ipfix-flow-exporter");
    let dest_dir = name_dir.join(format!("{version}/{CODENAME}"));
    let dest = dest_dir.join(payload(&["artifact"]));
    assert_eq!(out.lines().last(), dest.to_str());
    assert_eq!(fs::read(&dest).unwrap(), bytes, "byte for byte");
    assert_eq!(mode(&dest), 0o644);
    for d in [&dest_dir, dest_dir.parent().unwrap(), &name_dir] {
        assert_eq!(mode(d), 0o755, "{}", d.display());
    }
    let published = fs::read_dir(&dest_dir).unwrap().count();
    assert_eq!(published, 1, "no temporary copy left");
    assert_eq!(err, "");

    // Over the top, with l3afd's unpacked copy of that version present:
    // published, and a warning that l3afd will not look at it.
    let unpacked = format!("shm/ipfix-flow-exporter/{version}/l3af_bpf_ipfix");
    fs::create_dir_all(dir.join(&unpacked)).unwrap();
    write(&tarball, "second build");
    let (_, err) = publish(&tarball, &[], 0);
    assert_eq!(read(&dest), "second build");
    has(&err, &format!("keeps using {}; ", dir.str(&unpacked)));

    // No artifact: an error, nothing else published.
    let (_, err) = publish(&dir.join("missing.tar.gz"), &[], 1);
    has(&err, "no artifact at");
    assert_eq!(fs::read_dir(dir.join("srv")).unwrap().count(), 1);

    // tc-root, as install-l3af.sh publishes it: where l3afd.cfg's [tc-root] points.
    let cfg = l3afd_cfg();
    let tc_root = ["package-name", "version", "artifact"].map(|k| get(&cfg, "tc-root", k));
    let [name, version, artifact] = &tc_root;
    let tarball = dir.join(format!("tc-root/{artifact}"));
    write(&tarball, "tc-root");
    let named = [("NAME", name), ("VERSION", version), ("ARTIFACT", artifact)];
    publish(&tarball, &named.map(|(k, v)| (k, v.as_str())), 0);
    let dest = format!("srv/{name}/{version}/{CODENAME}/{artifact}");
    assert_eq!(read(dir.join(dest)), "tc-root");
}

#[test]
fn post_payload_posts_for_this_host_retries_while_l3afd_restarts_stops_on_errors() {
    common::require_tools!("jq");
    // l3afd answers 200 with this message during a graceful restart.
    let busy = "We are currently in the middle of a restart. \
        Please attempt again after a while.";
    let refused = "failed to AddEbpfPrograms : \
        provided bpf programs do not belong to this host";
    let dir = TempDir::new("vagrant-post-");
    let path = stub_curl(&dir, &[(200, busy), (200, ""), (200, ""), (500, refused)]);
    let post = |args: &[&str], host: Option<&str>, code| {
        let mut cmd = script("post-payload.sh", args);
        cmd.env("PATH", &path).env("IFACE", "enp0s3");
        cmd.env("IPV4_ADDRESS", "192.0.2.15");
        if let Some(host) = host {
            cmd.env("HOST_NAME", host);
        }
        run(&mut cmd, code)
    };
    // By default: add, as this host (`hostname`, l3afd's os.Hostname()),
    // again after l3afd said it is restarting.
    let (out, _) = post(&[], None, 0);
    has(&out, &format!("==> l3afd: {busy}; retrying in 2s\n"));
    has(&out, "==> l3afd accepted the add request\n");
    post(&["delete"], Some("vm-under-test"), 0);
    let (_, err) = post(&["add"], Some("vm-under-test"), 1);
    let said = format!("post-payload.sh: l3afd answered 500: {refused}\n");
    assert_eq!(err, said, "and no retry");
    post(&["update"], None, 1);

    let hostname = read("/proc/sys/kernel/hostname");
    let me = payload_for("l3af/payload.json", hostname.trim());
    let del = payload_for("l3af/delete_payload.json", "vm-under-test");
    let vm = payload_for("l3af/payload.json", "vm-under-test");
    let sent = [("add", &me), ("add", &me), ("delete", &del), ("add", &vm)];
    assert_posted(&dir, &sent);
}

#[test]
fn redeploy_deletes_replaces_the_unpacked_copy_publishes_and_adds() {
    common::require_tools!("jq");
    let dir = TempDir::new("vagrant-redeploy-");
    let version = payload(&["version"]);
    let tarball = dir.join("new/l3af_bpf_ipfix.tar.gz");
    write(&tarball, "new build");
    let unpacked = dir.join(format!("shm/ipfix-flow-exporter/{version}"));
    write(&unpacked.join("l3af_bpf_ipfix/bpf_ipfix_ingress"), "old");
    let tc_root = dir.join("shm/tc-root/latest/l3af_tc_root/keep");
    write(&tc_root, "");
    // Nothing deployed yet: the delete fails, and redeploy goes on.
    let nothing = "failed to DeleteEbpfPrograms : nothing deployed";
    let mut cmd = script("redeploy.sh", &[]);
    cmd.env("PATH", stub_curl(&dir, &[(500, nothing)]));
    cmd.env("TARBALL", &tarball).env("SUDO", "");
    cmd.env("REPO_DIR", dir.str("srv"))
        .env("BPF_DIR", dir.str("shm"));
    cmd.env("CODENAME", CODENAME);
    cmd.env("HOST_NAME", "vm-under-test").env("IFACE", "enp0s3");
    let (_, err) = run(cmd.env("IPV4_ADDRESS", "192.0.2.15"), 0);
    has(&err, "redeploy.sh: warning: delete failed");
    let add = payload_for("l3af/payload.json", "vm-under-test");
    let delete = payload_for("l3af/delete_payload.json", "vm-under-test");
    assert_posted(&dir, &[("delete", &delete), ("add", &add)]);
    assert!(!unpacked.exists(), "l3afd's unpacked copy removed");
    assert!(tc_root.exists(), "tc-root's left alone");
    let dest = format!("ipfix-flow-exporter/{version}/{CODENAME}/l3af_bpf_ipfix.tar.gz");
    assert_eq!(read(dir.join("srv").join(dest)), "new build");
}

// --- start-collector.sh -----------------------------------------------------------------------

/// Kills the nfcapd of a pid file on drop, should the test fail first.
struct NfcapdGuard(PathBuf);

fn nfcapd_pid(pid_file: &Path) -> Option<i32> {
    let pid = fs::read_to_string(pid_file).ok()?.trim().parse().ok()?;
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm == "nfcapd\n").then_some(pid)
}

impl Drop for NfcapdGuard {
    fn drop(&mut self) {
        if let Some(pid) = nfcapd_pid(&self.0) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// One IPFIX message (RFC 7011 §3): header (version 10, length 109, export
/// time, sequence 0, domain 1); template 256: (element id, length) of source
/// and destination IPv4 address, protocol, source and destination port,
/// packet and octet delta count, flow start and end milliseconds; one flow:
/// UDP 192.0.2.1:40000 -> 198.51.100.2:4739, 3 packets, 420 octets, 1 s.
const IPFIX_MESSAGE: &str = "000a 006d 67748582 00000000 00000001 \
    0002 002c 0100 0009 0008 0004 000c 0004 0004 0001 0007 0002 000b 0002 \
      0002 0008 0001 0008 0098 0008 0099 0008 \
    0100 0031 c0000201 c6336402 11 9c40 1283 \
      0000000000000003 00000000000001a4 000001941f297c00 000001941f297fe8";

fn ipfix_message() -> Vec<u8> {
    let hex: String = IPFIX_MESSAGE.split_whitespace().collect();
    let byte = |i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap();
    (0..hex.len()).step_by(2).map(byte).collect()
}

#[test]
fn collector_runs_nfcapd_on_a_free_port_and_stops_it() {
    common::require_tools!("jq", "nfcapd", "nfdump", "ss");
    let dir = TempDir::new("vagrant-collector-");
    let (flows, pid_file) = (dir.join("flows"), dir.join("flows.pid"));
    let _guard = NfcapdGuard(pid_file.clone());
    // COLLECTOR_PORT empty: the default.
    let collector = |action: &str, port: &str, code| {
        let mut cmd = script("start-collector.sh", &[action]);
        cmd.env("FLOW_DIR", &flows).env("BIND", "127.0.0.1");
        run(cmd.env("COLLECTOR_PORT", port), code)
    };
    let in_flows = format!("flows in {}", flows.display());

    // Not running; it would listen on the payload's collector port.
    let (out, _) = collector("status", "", 3);
    let port = payload(&["start_args", "collector_port"]);
    let off = format!("(start: udp port {port}, {in_flows})");
    assert_eq!(out, format!("==> nfcapd is not running {off}\n"));
    assert_eq!(payload(&["start_args", "collector_ip"]), "127.0.0.1");

    let busy = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let p = &port.to_string();
    let (_, err) = collector("start", p, 1);
    has(&err, &format!("udp port {port} is already in use: "));
    assert_eq!(nfcapd_pid(&pid_file), None);
    drop(busy);

    // Returns once nfcapd is up, with its output closed (or this would wait).
    collector("start", p, 0);
    let pid = nfcapd_pid(&pid_file).expect("nfcapd's pid in FLOW_DIR.pid");
    let taken = UdpSocket::bind(("127.0.0.1", port)).map(drop);
    assert_eq!(taken.map_err(|e| e.kind()), Err(ErrorKind::AddrInUse));
    let (out, _) = collector("start", p, 0);
    let again = format!("==> nfcapd already running (pid {pid}), {in_flows}\n");
    assert_eq!(out, again);
    let (out, _) = collector("status", p, 0);
    let on = format!("(pid {pid}) on udp port {port}, {in_flows}");
    assert_eq!(out, format!("==> nfcapd running {on}\n"));

    // It collects: one flow in, one out of nfdump once nfcapd closed the file.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(&ipfix_message(), ("127.0.0.1", port)).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    collector("stop", p, 0);
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "{pid} gone");
    assert!(!pid_file.exists(), "pid file removed");
    collector("status", p, 3);
    let mut nfdump = Command::new("nfdump");
    let (out, _) = run(nfdump.arg("-R").arg(&flows).args(["-o", "json"]), 0);
    let flows: Value = serde_json::from_str(&out).unwrap();
    let flows = flows.as_array().unwrap();
    assert_eq!(flows.len(), 1, "{flows:?}");
    let keys = "src4_addr dst4_addr proto src_port dst_port in_packets in_bytes";
    let got: Vec<String> = keys.split(' ').map(|k| flows[0][k].to_string()).collect();
    let want = r#""192.0.2.1" "198.51.100.2" 17 40000 4739 3 420"#;
    assert_eq!(got.join(" "), want, "{flows:?}");
}
