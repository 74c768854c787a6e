//! Two network namespaces joined by a veth pair, removed on drop (also when
//! the test panics). All addresses are TEST-NET / documentation ranges.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;
use std::process::{Command, Output};

use nix::sched::{setns, CloneFlags};

pub const A_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const B_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub const A_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
pub const B_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

/// Runs a command, panicking with its output when it fails.
pub fn sh(cmd: &str, args: &[&str]) -> Output {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {cmd}: {e}"));
    succeeded(cmd, args, out)
}

/// `out`, or a panic with what `cmd` printed when it failed.
fn succeeded(cmd: &str, args: &[&str], out: Output) -> Output {
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a command with `input` on its standard input; its output, and a
/// panic naming it when it fails.
pub fn sh_with_stdin(cmd: &str, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {cmd}: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .unwrap_or_else(|e| panic!("writing to {cmd}: {e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {cmd}: {e}"));
    succeeded(cmd, args, out)
}

pub struct NetnsPair {
    /// Namespace A holds `veth_a` (192.0.2.1, 2001:db8::1): the exporter's side.
    pub a: String,
    pub b: String,
    pub veth_a: String,
    pub veth_b: String,
}

impl NetnsPair {
    pub fn new() -> Self {
        let tag = super::unique("");
        let pair = NetnsPair {
            a: format!("ipxa{tag}"),
            b: format!("ipxb{tag}"),
            veth_a: format!("va{tag}"),
            veth_b: format!("vb{tag}"),
        };
        // From here on, Drop cleans up whatever part got created.
        sh("ip", &["netns", "add", &pair.a]);
        sh("ip", &["netns", "add", &pair.b]);
        pair.add_veth();
        pair
    }

    /// The veth pair between A and B, addressed and up; again after the test
    /// deleted it.
    pub fn add_veth(&self) {
        sh(
            "ip",
            &[
                "link",
                "add",
                &self.veth_a,
                "netns",
                &self.a,
                "type",
                "veth",
                "peer",
                "name",
                &self.veth_b,
                "netns",
                &self.b,
            ],
        );
        for (ns, dev, v4, v6) in [
            (&self.a, &self.veth_a, A_V4, A_V6),
            (&self.b, &self.veth_b, B_V4, B_V6),
        ] {
            sh(
                "ip",
                &["-n", ns, "addr", "add", &format!("{v4}/24"), "dev", dev],
            );
            sh(
                "ip",
                &[
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{v6}/64"),
                    "dev",
                    dev,
                    "nodad",
                ],
            );
            sh("ip", &["-n", ns, "link", "set", dev, "up"]);
            sh("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
    }

    /// Turns segmentation and receive offloads off on both ends, so that
    /// every skb tc sees is one wire packet.
    pub fn offloads_off(&self) {
        for (ns, dev) in [(&self.a, &self.veth_a), (&self.b, &self.veth_b)] {
            sh(
                "ip",
                &[
                    "netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro",
                    "off",
                ],
            );
        }
    }

    /// No IPv6 on either end: no neighbour discovery or MLD packets, so the
    /// only IP traffic is what the test sends.
    pub fn ipv6_off(&self) {
        for ns in [&self.a, &self.b] {
            sh(
                "ip",
                &[
                    "netns",
                    "exec",
                    ns,
                    "sh",
                    "-c",
                    "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6",
                ],
            );
        }
    }

    pub fn ns_path(ns: &str) -> String {
        format!("/run/netns/{ns}")
    }

    /// Runs `f` on a thread inside namespace `ns` (sockets it opens live
    /// there).
    pub fn run_in<R: Send + 'static>(ns: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
        let path = Self::ns_path(ns);
        std::thread::spawn(move || {
            let file = File::open(&path).unwrap_or_else(|e| panic!("opening {path}: {e}"));
            setns(file.as_fd(), CloneFlags::CLONE_NEWNET).expect("setns into the test namespace");
            f()
        })
        .join()
        .expect("thread in test namespace panicked")
    }

    /// Spawns `f` on a thread inside namespace `ns` without waiting.
    pub fn spawn_in<R: Send + 'static>(
        ns: &str,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> std::thread::JoinHandle<R> {
        let path = Self::ns_path(ns);
        std::thread::spawn(move || {
            let file = File::open(&path).unwrap_or_else(|e| panic!("opening {path}: {e}"));
            setns(file.as_fd(), CloneFlags::CLONE_NEWNET).expect("setns into the test namespace");
            f()
        })
    }

    /// Resolves each side's link-layer address for the other (one IPv4 ping
    /// from A to B), so that datagrams counted afterwards never wait for
    /// ARP: while it is pending, sendto() succeeds and the kernel drops
    /// what the neighbour queue cannot hold, before any tc hook sees it.
    pub fn resolve_neighbours(&self) {
        let b = Self::ip(false, false).to_string();
        Self::exec(&self.a, &["ping", "-c", "1", "-W", "5", &b]);
    }

    /// `ip netns exec <ns> <cmd...>` (fine for tools that need no bpffs).
    pub fn exec(ns: &str, cmd: &[&str]) -> Output {
        let mut args = vec!["netns", "exec", ns];
        args.extend_from_slice(cmd);
        sh("ip", &args)
    }

    pub fn ifindex_in(ns: &str, dev: &str) -> u32 {
        let dev = dev.to_owned();
        Self::run_in(ns, move || {
            nix::net::if_::if_nametoindex(dev.as_str()).expect("ifindex")
        })
    }

    pub fn ip(v6: bool, side_a: bool) -> IpAddr {
        match (v6, side_a) {
            (false, true) => IpAddr::V4(A_V4),
            (false, false) => IpAddr::V4(B_V4),
            (true, true) => IpAddr::V6(A_V6),
            (true, false) => IpAddr::V6(B_V6),
        }
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth in it, and its qdiscs, links.
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        // An exporter killed with SIGKILL leaves its (unlocked) lock file.
        let lock_dir = std::path::Path::new(ipfix_flow_exporter::lock::LOCK_DIR);
        let _ = std::fs::remove_file(lock_dir.join(format!("{}.lock", self.veth_a)));
        let _ = std::fs::remove_dir(lock_dir);
    }
}
