//! The Debian package of `make deb` (`$IPFIX_DEB`): lintian finds nothing
//! to warn about, it installs into a scratch root with dpkg, and what it
//! installs works there — the binary runs, the example config is one `run`
//! accepts, the man pages name every flag, the bash completion loads, and
//! `systemd-analyze verify` passes the unit against the installed files.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::tempdir::TempDir;

const UNIT: &str = "usr/lib/systemd/system/ipfix-flow-exporter.service";
const CONFIG: &str = "/etc/ipfix-flow-exporter/config.toml";

/// `$IPFIX_DEB`, or a skip (a failure under IPFIX_TESTS_STRICT).
fn deb() -> Option<PathBuf> {
    match std::env::var_os("IPFIX_DEB") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            common::skip("set IPFIX_DEB to the package `make deb` writes");
            None
        }
    }
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The package installed by dpkg into a fresh root (its own database; the
/// host's libraries are not in it, so dependencies are forced).
fn installed(deb: &Path) -> TempDir {
    let root = TempDir::new("ipfix-deb-");
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    run(Command::new("dpkg")
        .arg(format!("--root={}", root.path().display()))
        .args(["--force-depends", "--force-script-chrootless", "-i"])
        .arg(deb));
    root
}

#[test]
fn lintian_finds_nothing_to_warn_about() {
    let Some(deb) = deb() else { return };
    common::require_tools!("lintian");
    // initial-upload-closes-no-bugs is Debian's archive process (an ITP bug
    // closed by the first upload); this package is not uploaded there.
    let out = run(Command::new("lintian")
        .args(["--fail-on", "error,warning"])
        .args(["--suppress-tags", "initial-upload-closes-no-bugs"])
        .arg(&deb));
    let text = String::from_utf8_lossy(&out.stdout);
    let findings: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
        .collect();
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn the_package_installs_what_a_service_needs() {
    let Some(deb) = deb() else { return };
    common::require_tools!("dpkg", "zcat");
    let root = installed(&deb);
    let listed = run(Command::new("dpkg")
        .arg(format!("--root={}", root.path().display()))
        .args(["-L", "ipfix-flow-exporter"]));
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    for path in [
        "/usr/bin/ipfix-flow-exporter",
        CONFIG,
        "/usr/lib/systemd/system/ipfix-flow-exporter.service",
        "/usr/share/man/man1/ipfix-flow-exporter.1.gz",
        "/usr/share/man/man1/ipfix-flow-exporter-run.1.gz",
        "/usr/share/man/man1/ipfix-flow-exporter-collect.1.gz",
        "/usr/share/bash-completion/completions/ipfix-flow-exporter",
        "/usr/share/zsh/vendor-completions/_ipfix-flow-exporter",
        "/usr/share/fish/vendor_completions.d/ipfix-flow-exporter.fish",
        "/usr/share/doc/ipfix-flow-exporter/copyright",
        "/usr/share/doc/ipfix-flow-exporter/changelog.Debian.gz",
    ] {
        assert!(listed.lines().any(|l| l == path), "{path} not in\n{listed}");
        assert!(root.join(&path[1..]).exists(), "{path} not installed");
    }
    // The config is a conffile: an upgrade keeps the operator's edits.
    let conffiles =
        std::fs::read_to_string(root.join("var/lib/dpkg/info/ipfix-flow-exporter.conffiles"))
            .unwrap();
    assert_eq!(conffiles.trim(), CONFIG);

    // The installed binary runs (Debian's libelf and zlib, from the host).
    let bin = root.join("usr/bin/ipfix-flow-exporter");
    let version = run(Command::new(&bin).arg("--version"));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("ipfix-flow-exporter {}", env!("CARGO_PKG_VERSION"))
    );

    // The example config is one `run` accepts as it is.
    let config = root.join(&CONFIG[1..]);
    let argv: Vec<String> = ["ipfix-flow-exporter", "run", "--config"]
        .iter()
        .map(|s| s.to_string())
        .chain([config.display().to_string()])
        .collect();
    let cli = ipfix_flow_exporter::cli::Cli::parse_with_config(&argv)
        .unwrap_or_else(|e| panic!("the packaged config: {e}"));
    let ipfix_flow_exporter::cli::Command::Run(args) = cli.command else {
        panic!("not a run")
    };
    ipfix_flow_exporter::config::RunConfig::from_args(&args).unwrap();

    // The man page of `run` documents every one of its long flags.
    let page =
        run(Command::new("zcat").arg(root.join("usr/share/man/man1/ipfix-flow-exporter-run.1.gz")));
    let page = String::from_utf8_lossy(&page.stdout).into_owned();
    use clap::CommandFactory;
    let cmd = ipfix_flow_exporter::cli::Cli::command();
    let run_cmd = cmd.find_subcommand("run").unwrap();
    let mut flags = 0;
    for arg in run_cmd.get_arguments() {
        if let Some(long) = arg.get_long() {
            let roff = format!("\\-\\-{}", long.replace('-', "\\-"));
            assert!(page.contains(&roff), "--{long} not in the man page");
            flags += 1;
        }
    }
    assert!(flags > 20, "{flags} flags");

    // The bash completion defines one for the command.
    let completion = root.join("usr/share/bash-completion/completions/ipfix-flow-exporter");
    let out = run(Command::new("bash").arg("-c").arg(format!(
        "source '{}' && complete -p ipfix-flow-exporter",
        completion.display()
    )));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ipfix-flow-exporter"),
        "{out:?}"
    );
}

#[test]
fn the_unit_verifies_and_keeps_three_capabilities() {
    let Some(deb) = deb() else { return };
    common::require_tools!("dpkg", "systemd-analyze");
    let root = installed(&deb);
    let unit = std::fs::read_to_string(root.join(UNIT)).unwrap();

    // The three capabilities e2e_security shows `run` needs and works with,
    // and none other; the config it starts with is the package's conffile.
    let value = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key}= in the unit"))
            .to_owned()
    };
    for key in ["CapabilityBoundingSet", "AmbientCapabilities"] {
        let mut caps: Vec<String> = value(key).split_whitespace().map(str::to_owned).collect();
        caps.sort();
        assert_eq!(caps, ["CAP_BPF", "CAP_NET_ADMIN", "CAP_PERFMON"], "{key}");
    }
    assert_eq!(value("NoNewPrivileges"), "yes");
    assert_eq!(value("ProtectSystem"), "strict");
    assert_eq!(
        value("ExecStart"),
        format!("/usr/bin/ipfix-flow-exporter run --config {CONFIG}")
    );
    assert_eq!(value("ExecReload"), "/bin/kill -HUP $MAINPID");

    // `systemd-analyze verify` against the scratch root: it checks every
    // key and that the commands and the documented man page exist there, so
    // the root gets the host's own units (the targets the unit is ordered
    // after) and `kill`; man looks in the root's man pages. Any line it
    // prints (an unknown key is only a warning) is a failure.
    copy_tree(
        Path::new("/usr/lib/systemd/system"),
        &root.join("usr/lib/systemd/system"),
    );
    std::fs::copy("/usr/bin/kill", root.join("usr/bin/kill")).unwrap();
    if !root.join("bin").exists() {
        std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
    }
    let out = run(Command::new("systemd-analyze")
        .env("MANPATH", root.join("usr/share/man"))
        .arg(format!("--root={}", root.path().display()))
        .args(["verify", "ipfix-flow-exporter.service"]));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.trim().is_empty(), "systemd-analyze verify: {said}");

    // Its sandbox, as systemd rates it offline: "OK" (below 4.0 of 10).
    let out = run(Command::new("systemd-analyze")
        .arg(format!("--root={}", root.path().display()))
        .args([
            "security",
            "--offline=yes",
            "--no-pager",
            "ipfix-flow-exporter.service",
        ]));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let level = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for ipfix-flow-exporter.service: ")
                .nth(1)
        })
        .unwrap_or_else(|| panic!("no exposure level in\n{text}"));
    let score: f64 = level.split_whitespace().next().unwrap().parse().unwrap();
    assert!(score < 4.0, "exposure {level}");
}

/// `from` copied under `to` (files and symlinks; the host's unit tree).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if dst.symlink_metadata().is_ok() {
            continue; // the package's own unit stays
        }
        let kind = e.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if kind.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}
