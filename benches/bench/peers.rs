//! Other tc programs timed beside ours, in the same interleaved rounds:
//! `make bench PEERS=name=OBJ:PROG,...` (the name is optional; it defaults
//! to the object's file name). Each peer object is opened with libbpf, only
//! PROG is loaded (as a tc program, whatever its section says), and its
//! pinned maps, if it asks for pinning, go to a scratch directory under
//! /sys/fs/bpf that is removed afterwards. Their code never enters this
//! repository: BENCHMARKS.md says how to rebuild them.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use libbpf_rs::{MapCore, MapType, Object, ObjectBuilder, ProgramType};

/// One peer program, loaded.
pub struct Peer {
    /// Short name for the tables and the results' keys.
    pub name: String,
    /// `OBJ:PROG` as given.
    pub spec: String,
    obj: Object,
    prog: String,
    pin_dir: PathBuf,
}

impl Peer {
    pub fn prog(&self) -> BorrowedFd<'_> {
        let p = self
            .obj
            .progs()
            .find(|p| p.name().to_string_lossy() == self.prog)
            .expect("the loaded program");
        // SAFETY: the program lives as long as `self.obj`, which outlives
        // the borrow of `self`.
        unsafe { BorrowedFd::borrow_raw(std::os::fd::AsRawFd::as_raw_fd(&p.as_fd())) }
    }

    /// Deletes every entry of the peer's hash maps: its flow tables start
    /// empty, so that the next frames are new flows to it.
    pub fn clear_flows(&self) {
        for map in self.hash_maps() {
            let keys: Vec<Vec<u8>> = map.keys().collect();
            for k in keys {
                let _ = map.delete(&k);
            }
        }
    }

    fn hash_maps(&self) -> impl Iterator<Item = libbpf_rs::Map<'_>> {
        self.obj.maps().filter(|m| {
            matches!(
                m.map_type(),
                MapType::Hash | MapType::LruHash | MapType::PercpuHash | MapType::LruPercpuHash
            )
        })
    }

    /// The peer's flow maps, found by measurement: the hash maps holding at
    /// least `flows` entries after `flows` new flows. Each with the octets
    /// of key and value one entry stores (value × CPUs for per-CPU maps).
    pub fn flow_maps(&self, flows: usize) -> Vec<(String, u32)> {
        let cpus = libbpf_rs::num_possible_cpus().unwrap_or(1) as u32;
        self.hash_maps()
            .filter(|m| m.keys().count() >= flows)
            .map(|m| {
                let per_cpu = matches!(m.map_type(), MapType::PercpuHash | MapType::LruPercpuHash);
                let value = m.value_size() * if per_cpu { cpus } else { 1 };
                (
                    m.name().to_string_lossy().into_owned(),
                    m.key_size() + value,
                )
            })
            .collect()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.pin_dir);
    }
}

/// The peers `PEERS` names (`make bench` passes it through as
/// `BENCH_PEERS`); none when unset.
pub fn from_env() -> Vec<Peer> {
    let Ok(list) = std::env::var("BENCH_PEERS") else {
        return Vec::new();
    };
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| load(s).unwrap_or_else(|e| panic!("PEERS entry {s:?}: {e:#}")))
        .collect()
}

fn load(entry: &str) -> anyhow::Result<Peer> {
    let (name, spec) = match entry.split_once('=') {
        Some((n, s)) => (Some(n.to_owned()), s),
        None => (None, entry),
    };
    let (path, prog) = spec
        .rsplit_once(':')
        .ok_or_else(|| anyhow::anyhow!("want OBJ:PROG"))?;
    let path = Path::new(path);
    let name = name.unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "peer".to_owned())
    });
    let pin_dir = PathBuf::from("/sys/fs/bpf")
        .join(format!("ipfix-bench-peer-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&pin_dir)?;
    let mut builder = ObjectBuilder::default();
    builder.pin_root_path(&pin_dir)?;
    let mut open = builder.open_file(path)?;
    let mut found = false;
    for mut p in open.progs_mut() {
        let this = p.name().to_string_lossy() == prog;
        p.set_autoload(this);
        if this {
            p.set_prog_type(ProgramType::SchedCls);
            found = true;
        }
    }
    anyhow::ensure!(found, "no program {prog:?} in {}", path.display());
    let obj = open.load()?;
    Ok(Peer {
        name,
        spec: spec.to_owned(),
        obj,
        prog: prog.to_owned(),
        pin_dir,
    })
}

/// The names of the peers this run timed, from its figures.
pub fn names(r: &crate::report::Report) -> Vec<String> {
    let mut out: Vec<String> = r
        .sections
        .iter()
        .flat_map(|s| &s.rows)
        .filter_map(|row| {
            let rest = row.key.strip_prefix("kernel.peer.")?;
            let (name, tail) = rest.split_once('.')?;
            (tail == "hit.ipv4_tcp.over_empty_ns").then(|| name.to_owned())
        })
        .collect();
    out.dedup();
    out
}

/// How the peers of the published run were built: their code stays out of
/// this repository, so this is how a reader rebuilds them.
pub const REBUILD: &str = "**The peers of this run, and how to rebuild them.** \
    *c-package*: the C `ipfix-flow-exporter` this project replaces, from \
    `github.com/l3af-project/eBPF-Package-Repository` at commit 69fd6d7 \
    (`ipfix-flow-exporter/bpf_ipfix_ingress.bpf.c`), compiled as its Makefile does \
    (`clang -g -O2 -target bpf -D__TARGET_ARCH_x86`) against a `vmlinux.h` from \
    `bpftool btf dump file /sys/kernel/btf/vmlinux format c` and libbpf's \
    `bpf_helpers.h`; program `_ingress_flow_monitoring` (its section name is \
    not a tc one, so the harness sets the tc program type). *netobserv*: \
    netobserv-ebpf-agent v1.12.0-community (commit 56a7d35f), the object its \
    repository ships, `pkg/ebpf/bpf_x86_bpfel.o`; program `tc_ingress_flow_parse`, \
    its read-only configuration left as compiled (all zero: no sampling, no \
    optional feature). Then `make bench \
    PEERS=c-package=PATH/c_ingress.bpf.o:_ingress_flow_monitoring,netobserv=PATH/bpf_x86_bpfel.o:tc_ingress_flow_parse`. \
    A peer's *new-flow* figure is one call per frame on the same {n} distinct \
    frames as ours, its hash maps emptied before each round; its memory per flow \
    is the key and value octets of every hash map that held a new entry per \
    frame afterwards (the maps are named in the kernel section's rows). The \
    c-package's 4-octet key is a hash of the 5-tuple: two flows whose hashes \
    collide are counted as one.";

/// The table BENCHMARKS.md leads with: ours against each peer.
pub fn lead(r: &crate::report::Report) -> String {
    use std::fmt::Write as _;
    let peers = names(r);
    let g = |k: &str| r.get(k);
    let f = |v: Option<f64>| v.map_or("n/a".to_owned(), crate::report::fmt_value);
    let mut md = String::from("## Ours and the peers, side by side\n\n| | ours |");
    for p in &peers {
        let _ = write!(md, " {p} |");
    }
    md.push_str("\n|---|---:|");
    for _ in &peers {
        md.push_str("---:|");
    }
    md.push('\n');
    let mut row = |what: &str, ours: String, theirs: &dyn Fn(&str) -> String| {
        let _ = write!(md, "| {what} | {ours} |");
        for p in &peers {
            let _ = write!(md, " {} |", theirs(p));
        }
        md.push('\n');
    };
    for (case, what) in [
        ("ipv4_tcp", "hit path, IPv4 TCP (ns over empty)"),
        ("ipv6_udp", "hit path, IPv6 UDP (ns over empty)"),
        (
            "vlan_ipv4",
            "hit path, VLAN-tagged IPv4 UDP (ns over empty)",
        ),
    ] {
        row(
            what,
            f(g(&format!("kernel.hit.{case}.over_empty_ns"))),
            &|p| f(g(&format!("kernel.peer.{p}.hit.{case}.over_empty_ns"))),
        );
    }
    row(
        "new flow, one call per frame (ns over empty)",
        f(g("kernel.new_flow.over_empty_ns")),
        &|p| f(g(&format!("kernel.peer.{p}.new_flow.over_empty_ns"))),
    );
    row(
        "per record: drain + encode at 100 k flows, steady (µs)",
        f(g("userspace.100000.steady_records_per_s").map(|r| 1e6 / r)),
        &|_| "not measured (their user space)".to_owned(),
    );
    row(
        "kernel memory per flow: key + value (octets; ours: IPv4, IPv6 112)",
        f(g("kernel.flow_octets")),
        &|p| f(g(&format!("kernel.peer.{p}.flow_octets"))),
    );
    if peers.is_empty() {
        md.push_str("\nNo peer was timed in this run (`make bench PEERS=...`).\n");
    } else {
        md.push('\n');
        md.push_str(&REBUILD.replace("{n}", "20 000"));
        md.push_str(
            "\n\nWhat the peers' figures mean: the c-package meters neither IPv6 \
             nor a tagged frame (`handle_eth_prot` returns for anything but IPv4), so \
             its IPv6 and VLAN figures are its early exit; netobserv meters IPv6 but \
             discards a frame whose VLAN tag is still in the frame (`fill_ethhdr`). \
             Their IPv4 hit paths write more per packet: the c-package rewrites its \
             whole record with `bpf_map_update_elem` on every packet, netobserv reads \
             the precise clock and runs its optional-feature checks.\n",
        );
    }
    md
}
