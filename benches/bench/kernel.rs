//! The shipped BPF program through BPF_PROG_TEST_RUN: hit path, new-flow
//! path, table-full path, each against an empty tc program measured in the
//! same rounds; and the verifier's instruction counts.

use std::ffi::CString;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use ipfix_flow_exporter::abi::{
    FlowKey, FlowMapAlloc, FlowValue, FLOW_KEY4_SIZE, FLOW_KEY_SIZE, FLOW_MAP_MAX_ENTRIES,
    FLOW_VALUE_SIZE,
};
use ipfix_flow_exporter::datapath::maps::FlowMaps;
use ipfix_flow_exporter::datapath::test_run::{self, SkbContext};
use ipfix_flow_exporter::flow::Direction;
use libbpf_rs::libbpf_sys;
use libbpf_rs::{MapCore, MapFlags, MapHandle};

use crate::common::bpfobj::TestObject;
use crate::common::frames::{Ethernet, Ipv4, Ipv6, Tcp, Transport, TPID_8021Q};
use crate::peers::Peer;
use crate::report::{Report, Section};
use crate::stats::{median, median_diff, range};

/// Rounds per figure; the median is reported.
pub const ROUNDS: usize = 7;
/// Repetitions per BPF_PROG_TEST_RUN call for the looped figures.
pub const REPEAT: u32 = 1_000_000;
/// Distinct frames per round for the per-call (new-flow) figures.
const NEW_FLOWS_PER_ROUND: usize = 20_000;

pub const A4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const B4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
pub const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
pub const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
const TCP_ACK: u16 = 0x010;

pub fn frame_ipv4_tcp(sport: u16) -> Vec<u8> {
    let tcp = Tcp::new(sport, 443).flags(TCP_ACK).payload(&[0; 32]);
    Ethernet::new().ipv4(&Ipv4::new(A4, B4).carrying(&Transport::tcp(&tcp)))
}

pub fn frame_ipv6_udp(sport: u16) -> Vec<u8> {
    Ethernet::new().ipv6(&Ipv6::new(A6, B6).carrying(&Transport::udp(sport, 53, &[0; 32])))
}

pub fn frame_vlan_ipv4(sport: u16) -> Vec<u8> {
    Ethernet::new()
        .vlan(TPID_8021Q, 7)
        .ipv4(&Ipv4::new(A4, B4).carrying(&Transport::udp(sport, 53, &[0; 32])))
}

/// A distinct IPv4 UDP frame per `i` (source address and port vary).
pub fn frame_distinct(i: usize) -> Vec<u8> {
    let src = Ipv4Addr::new(203, 0, 113, (i / 60_000) as u8);
    let sport = 1024 + (i % 60_000) as u16;
    Ethernet::new().ipv4(&Ipv4::new(src, B4).carrying(&Transport::udp(sport, 53, &[0; 32])))
}

/// `r0 = TC_ACT_UNSPEC; exit`: the baseline every kernel figure is
/// measured against (the cost of BPF_PROG_TEST_RUN's loop itself).
pub fn empty_prog() -> OwnedFd {
    use libbpf_sys::*;
    let insn = |code: u32, imm: i32| {
        let mut i = bpf_insn {
            code: code as u8,
            imm,
            ..Default::default()
        };
        i.set_dst_reg(0);
        i
    };
    let insns = [
        insn(BPF_ALU64 | BPF_MOV | BPF_K, -1),
        insn(BPF_JMP | BPF_EXIT, 0),
    ];
    let mut opts = bpf_prog_load_opts {
        sz: std::mem::size_of::<bpf_prog_load_opts>() as _,
        ..Default::default()
    };
    let name = CString::new("bench_empty").unwrap_or_default();
    let license = CString::new("GPL").unwrap_or_default();
    // SAFETY: two valid instructions, NUL-terminated strings, opts of the
    // size it claims; all alive for the call.
    let fd = unsafe {
        bpf_prog_load(
            BPF_PROG_TYPE_SCHED_CLS,
            name.as_ptr(),
            license.as_ptr(),
            insns.as_ptr(),
            insns.len() as _,
            &mut opts,
        )
    };
    assert!(
        fd >= 0,
        "loading the empty tc program: {}",
        std::io::Error::from_raw_os_error(-fd)
    );
    // SAFETY: a fresh fd nobody else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// The kernel's `bpf_prog_info` of a loaded program.
pub fn prog_info(prog: BorrowedFd<'_>) -> libbpf_sys::bpf_prog_info {
    let mut info = libbpf_sys::bpf_prog_info::default();
    let mut len = std::mem::size_of_val(&info) as u32;
    // SAFETY: info is a bpf_prog_info of `len` bytes; no array pointers are
    // set, so the kernel writes only the fixed fields.
    let ret = unsafe {
        libbpf_sys::bpf_obj_get_info_by_fd(
            prog.as_raw_fd(),
            (&mut info as *mut libbpf_sys::bpf_prog_info).cast(),
            &mut len,
        )
    };
    assert_eq!(ret, 0, "bpf_obj_get_info_by_fd");
    info
}

/// The JITed machine code of a program (for `objdump -b binary`).
pub fn jited_image(prog: BorrowedFd<'_>) -> Vec<u8> {
    let len = prog_info(prog).jited_prog_len as usize;
    let mut image = vec![0u8; len];
    let mut info = libbpf_sys::bpf_prog_info {
        jited_prog_len: len as u32,
        jited_prog_insns: image.as_mut_ptr() as u64,
        ..Default::default()
    };
    let mut info_len = std::mem::size_of_val(&info) as u32;
    // SAFETY: jited_prog_insns points at `len` writable bytes, alive for
    // the call; info is a bpf_prog_info of `info_len` bytes.
    let ret = unsafe {
        libbpf_sys::bpf_obj_get_info_by_fd(
            prog.as_raw_fd(),
            (&mut info as *mut libbpf_sys::bpf_prog_info).cast(),
            &mut info_len,
        )
    };
    assert_eq!(ret, 0, "bpf_obj_get_info_by_fd (JIT image)");
    image
}

/// Mean ns per repetition, as the kernel timed it.
pub fn mean_ns(prog: BorrowedFd<'_>, frame: &[u8], repeat: u32) -> f64 {
    let r = test_run::run(prog, frame, &SkbContext::default(), repeat).expect("BPF_PROG_TEST_RUN");
    r.duration.as_nanos() as f64
}

/// One call per frame with repeat = 1; the mean of the kernel-timed
/// durations (each includes one clock read, as the empty program's do).
pub fn per_call_ns(prog: BorrowedFd<'_>, frames: &[Vec<u8>]) -> f64 {
    let total: f64 = frames.iter().map(|f| mean_ns(prog, f, 1)).sum();
    total / frames.len() as f64
}

fn note(v: &[f64]) -> String {
    let (lo, hi) = range(v);
    format!("median of {}; range {lo:.0}–{hi:.0}", v.len())
}

/// Fills the pair `maps` with `n` synthetic flows from user space, each in
/// the map of its family.
pub fn fill_map(maps: &FlowMaps, n: usize, make: impl Fn(usize) -> (FlowKey, FlowValue)) {
    let (v4, other): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| make(i).0.ip_version == 4);
    fill_one(&maps.ipv4, &v4, &make);
    fill_one(&maps.other, &other, &make);
}

/// Fills `map` with the flows `make` gives for `which`, all of the family
/// the map holds.
pub fn fill_one(map: &MapHandle, which: &[usize], make: impl Fn(usize) -> (FlowKey, FlowValue)) {
    for chunk in which.chunks(16_384) {
        let mut keys = Vec::with_capacity(chunk.len() * FLOW_KEY_SIZE);
        let mut values = Vec::with_capacity(chunk.len() * FLOW_VALUE_SIZE);
        for &i in chunk {
            let (k, v) = make(i);
            keys.extend_from_slice(&k.emit_for_map());
            values.extend_from_slice(&v.emit());
        }
        map.update_batch(
            &keys,
            &values,
            chunk.len() as u32,
            MapFlags::ANY,
            MapFlags::ANY,
        )
        .expect("BPF_MAP_UPDATE_BATCH");
    }
}

pub fn run(report: &mut Report, peers: &[Peer]) {
    let empty = empty_prog();
    let empty = empty.as_fd();
    let mut sec = Section::new(
        "Kernel: BPF_PROG_TEST_RUN (ingress object)",
        format!(
            "Method. The shipped ingress object is loaded as the exporter loads it \
             (`datapath::object::load`) and run with `BPF_PROG_TEST_RUN` on crafted \
             frames; the kernel times the loop and reports the mean ns per \
             repetition. Baseline: an empty tc program (`r0 = -1; exit`, loaded from \
             raw instructions) run on the same frame. {ROUNDS} rounds, each running \
             the baseline and every case once, interleaved; the figure is the median \
             over rounds, and *over empty* is the median of the per-round \
             differences. **Hit path**: the flow exists (created by one warm-up \
             run), then {REPEAT} repetitions per round — every repetition updates \
             that flow (checked: its packet count equals the repetitions). \
             **New-flow path**: one call of repeat = 1 per frame on \
             {NEW_FLOWS_PER_ROUND} distinct frames (source address and port vary), \
             map drained before each round; the design before ABI 4 (IPv4 flows \
             under the 48-byte key) is the shipped body built that way \
             (`benches/bpf/body.bpf.c`, `-DBENCH_FULL_KEY`, no tail call), run in \
             the same rounds; each call's duration covers one program \
             run plus one clock read, so the baseline is the empty program measured \
             the same way (one call per frame), and the hit path is measured that \
             way too (the same frames again, flows now existing) for a like-for-like \
             ratio. **Table full**: every slot taken — (a) a map resized to 16 \
             entries filled by the program, (b) the default {FLOW_MAP_MAX_ENTRIES} \
             entries filled from user space (`BPF_MAP_UPDATE_BATCH`) — then \
             {REPEAT} repetitions of a frame of a new flow per round (checked: all \
             counted in `table_full_packets`). **Verifier**: `verified_insns` of \
             `bpf_prog_info` after loading (deterministic for a given kernel and \
             object), with the translated and JITed sizes."
        ),
    );

    // --- hit path -------------------------------------------------------
    let obj = TestObject::load(Direction::Ingress);
    let prog = obj.obj.prog.as_fd();
    let cases: [(&str, &str, Vec<u8>); 3] = [
        ("ipv4_tcp", "IPv4 TCP", frame_ipv4_tcp(40_000)),
        ("ipv6_udp", "IPv6 UDP", frame_ipv6_udp(40_001)),
        ("vlan_ipv4", "VLAN-tagged IPv4 UDP", frame_vlan_ipv4(40_002)),
    ];
    for (_, _, f) in &cases {
        mean_ns(prog, f, 1);
        for p in peers {
            mean_ns(p.prog(), f, 1);
        }
    }
    let mut base = Vec::new();
    let mut hit = vec![Vec::new(); cases.len()];
    // [peer][case]
    let mut peer_hit = vec![vec![Vec::new(); cases.len()]; peers.len()];
    for _ in 0..ROUNDS {
        base.push(mean_ns(empty, &cases[0].2, REPEAT));
        for (i, (_, _, f)) in cases.iter().enumerate() {
            hit[i].push(mean_ns(prog, f, REPEAT));
            for (j, p) in peers.iter().enumerate() {
                peer_hit[j][i].push(mean_ns(p.prog(), f, REPEAT));
            }
        }
    }
    let flows = obj.drain_flows();
    for (_, v) in &flows {
        assert_eq!(
            v.packets,
            ROUNDS as u64 * u64::from(REPEAT) + 1,
            "every repetition hit its flow"
        );
    }
    sec.row(
        "kernel.empty_ns",
        "empty tc program (baseline)",
        median(&base),
        "ns/packet",
        note(&base),
    );
    for (i, (key, what, _)) in cases.iter().enumerate() {
        sec.row(
            &format!("kernel.hit.{key}.ns"),
            &format!("hit path, {what}"),
            median(&hit[i]),
            "ns/packet",
            note(&hit[i]),
        );
        sec.row(
            &format!("kernel.hit.{key}.over_empty_ns"),
            &format!("hit path, {what}, over empty"),
            median_diff(&hit[i], &base),
            "ns/packet",
            String::new(),
        );
        for (j, p) in peers.iter().enumerate() {
            sec.row(
                &format!("kernel.peer.{}.hit.{key}.over_empty_ns", p.name),
                &format!("peer {}: hit path, {what}, over empty", p.name),
                median_diff(&peer_hit[j][i], &base),
                "ns/packet",
                format!("`{}`; absolute {:.0}", p.spec, median(&peer_hit[j][i])),
            );
        }
    }
    drop(obj);

    // --- new-flow path (per call) ---------------------------------------
    let obj = TestObject::load(Direction::Ingress);
    let prog = obj.obj.prog.as_fd();
    let pre = TestObject::load_alloc(Direction::Ingress, None, FlowMapAlloc::Preallocated);
    // The design before ABI 4 (IPv4 flows under the 48-byte key): the
    // shipped body built that way, without the tail call.
    let full_key = crate::designs::load(&crate::designs::compile(
        "body",
        "body_full_key",
        &["-DBENCH_FULL_KEY"],
        &crate::out_dir(),
    ));
    let before_prog = crate::designs::prog(&full_key, "v_body");
    let before_map = crate::designs::map(&full_key, "body_flows");
    let frames: Vec<Vec<u8>> = (0..NEW_FLOWS_PER_ROUND).map(frame_distinct).collect();
    let (mut e1, mut new, mut hit1, mut new_pre) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut before = Vec::new();
    let mut peer_new = vec![Vec::new(); peers.len()];
    for _ in 0..ROUNDS {
        for o in [&obj, &pre] {
            let left = o.drain_flows().len();
            assert!(
                left == 0 || left == NEW_FLOWS_PER_ROUND,
                "{left} flows left"
            );
        }
        let left = crate::designs::empty_map(&before_map);
        assert!(
            left == 0 || left == NEW_FLOWS_PER_ROUND,
            "{left} flows left"
        );
        e1.push(per_call_ns(empty, &frames));
        before.push(per_call_ns(before_prog.as_fd(), &frames));
        new.push(per_call_ns(prog, &frames));
        hit1.push(per_call_ns(prog, &frames));
        new_pre.push(per_call_ns(pre.obj.prog.as_fd(), &frames));
        for (j, p) in peers.iter().enumerate() {
            p.clear_flows();
            peer_new[j].push(per_call_ns(p.prog(), &frames));
        }
    }
    let flows = obj.drain_flows();
    assert_eq!(flows.len(), NEW_FLOWS_PER_ROUND, "one flow per frame");
    assert!(flows.iter().all(|(_, v)| v.packets == 2));
    let flows = pre.drain_flows();
    assert_eq!(flows.len(), NEW_FLOWS_PER_ROUND, "one flow per frame");
    assert!(flows.iter().all(|(_, v)| v.packets == 1));
    drop(obj);
    drop(pre);
    sec.row(
        "kernel.per_call.empty_ns",
        "empty tc program, one call per frame",
        median(&e1),
        "ns/packet",
        note(&e1),
    );
    sec.row(
        "kernel.new_flow.ns",
        "new-flow path (IPv4 UDP), one call per frame",
        median(&new),
        "ns/packet",
        note(&new),
    );
    sec.row(
        "kernel.new_flow.over_empty_ns",
        "new-flow path, over empty",
        median_diff(&new, &e1),
        "ns/packet",
        String::new(),
    );
    sec.row(
        "kernel.new_flow_before.ns",
        "new-flow path, IPv4 under the 48-byte key (before ABI 4), one call per frame",
        median(&before),
        "ns/packet",
        format!("{}; the body without the tail call", note(&before)),
    );
    sec.row(
        "kernel.new_flow_before.over_empty_ns",
        "new-flow path, 48-byte key (before ABI 4), over empty",
        median_diff(&before, &e1),
        "ns/packet",
        String::new(),
    );
    sec.row(
        "kernel.new_flow_prealloc.ns",
        "new-flow path, --flow-map-alloc preallocated, one call per frame",
        median(&new_pre),
        "ns/packet",
        note(&new_pre),
    );
    sec.row(
        "kernel.new_flow_prealloc.over_empty_ns",
        "new-flow path, --flow-map-alloc preallocated, over empty",
        median_diff(&new_pre, &e1),
        "ns/packet",
        String::new(),
    );
    sec.row(
        "kernel.flow_octets",
        "key + value octets kept per IPv4 flow",
        (FLOW_KEY4_SIZE + FLOW_VALUE_SIZE) as f64,
        "octets",
        format!(
            "`struct flow_key4` + `struct flow_value`, in the active map only; an IPv6 \
             flow {} (`struct flow_key`)",
            FLOW_KEY_SIZE + FLOW_VALUE_SIZE
        ),
    );
    for (j, p) in peers.iter().enumerate() {
        sec.row(
            &format!("kernel.peer.{}.new_flow.over_empty_ns", p.name),
            &format!("peer {}: new-flow path, over empty", p.name),
            median_diff(&peer_new[j], &e1),
            "ns/packet",
            format!("absolute {:.0}", median(&peer_new[j])),
        );
        let maps = p.flow_maps(NEW_FLOWS_PER_ROUND);
        assert!(!maps.is_empty(), "peer {} kept no flow", p.name);
        sec.row(
            &format!("kernel.peer.{}.flow_octets", p.name),
            &format!("peer {}: key + value octets kept per flow", p.name),
            f64::from(maps.iter().map(|(_, o)| o).sum::<u32>()),
            "octets",
            maps.iter()
                .map(|(m, o)| format!("`{m}` {o}"))
                .collect::<Vec<_>>()
                .join(" + "),
        );
    }
    sec.row(
        "kernel.per_call.hit_ns",
        "hit path (same frames again), one call per frame",
        median(&hit1),
        "ns/packet",
        note(&hit1),
    );
    sec.row(
        "kernel.per_call.hit_over_empty_ns",
        "hit path, one call per frame, over empty",
        median_diff(&hit1, &e1),
        "ns/packet",
        String::new(),
    );

    memory_rows(&mut sec);

    // --- table full -----------------------------------------------------
    let small = TestObject::load_with(Direction::Ingress, Some(16));
    for i in 0..16 {
        small.run(&frame_distinct(i));
    }
    let big = TestObject::load(Direction::Ingress);
    let active = big.obj.maps.active().expect("selector");
    let now = ipfix_flow_exporter::sys::kernel_clock_ns(Default::default());
    let all: Vec<usize> = (0..FLOW_MAP_MAX_ENTRIES as usize).collect();
    fill_one(&big.obj.maps.flows[active].ipv4, &all, |i| {
        synthetic_flow4(i, now)
    });
    let miss = frame_distinct(100_000);
    let (mut be, mut small_full, mut big_full) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        be.push(mean_ns(empty, &miss, REPEAT));
        small_full.push(mean_ns(small.obj.prog.as_fd(), &miss, REPEAT));
        big_full.push(mean_ns(big.obj.prog.as_fd(), &miss, REPEAT));
    }
    let want = ROUNDS as u64 * u64::from(REPEAT);
    assert_eq!(
        small.stats().table_full_packets,
        want,
        "16-entry table full"
    );
    assert_eq!(big.stats().table_full_packets, want, "default table full");
    drop(small);
    drop(big);
    sec.row(
        "kernel.table_full.small.ns",
        "table full (16 entries)",
        median(&small_full),
        "ns/packet",
        note(&small_full),
    );
    sec.row(
        "kernel.table_full.small.over_empty_ns",
        "table full (16 entries), over empty",
        median_diff(&small_full, &be),
        "ns/packet",
        String::new(),
    );
    sec.row(
        "kernel.table_full.default.ns",
        &format!("table full ({FLOW_MAP_MAX_ENTRIES} entries)"),
        median(&big_full),
        "ns/packet",
        note(&big_full),
    );
    sec.row(
        "kernel.table_full.default.over_empty_ns",
        &format!("table full ({FLOW_MAP_MAX_ENTRIES} entries), over empty"),
        median_diff(&big_full, &be),
        "ns/packet",
        String::new(),
    );

    // --- verifier -------------------------------------------------------
    for dir in Direction::ALL {
        let obj = TestObject::load(dir);
        let info = prog_info(obj.obj.prog.as_fd());
        let d = dir.as_str();
        sec.row(
            &format!("verifier.{d}.verified_insns"),
            &format!("{d}: instructions the verifier processed"),
            f64::from(info.verified_insns),
            "insns",
            String::new(),
        );
        sec.row(
            &format!("verifier.{d}.xlated_insns"),
            &format!("{d}: program size after verification"),
            f64::from(info.xlated_prog_len / 8),
            "insns",
            format!("JITed {} bytes", info.jited_prog_len),
        );
    }
    report.sections.push(sec);
}

/// What the kernel charges for one map (`memlock` in its fdinfo: the
/// map's own estimate of the memory it holds, elements included).
pub fn map_memlock(map: &MapHandle) -> u64 {
    let fdinfo = format!("/proc/self/fdinfo/{}", map.as_fd().as_raw_fd());
    std::fs::read_to_string(&fdinfo)
        .expect("reading a map's fdinfo")
        .lines()
        .find_map(|l| l.strip_prefix("memlock:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("memlock in a map's fdinfo")
}

/// Every map of one loaded object: one interface and direction.
fn object_memlock(o: &TestObject) -> u64 {
    let m = &o.obj.maps;
    let mut all: Vec<&MapHandle> = m.flows.iter().flat_map(|pair| pair.both()).collect();
    all.extend([
        &m.selector,
        &m.config,
        &m.stats,
        &m.refused_flows,
        &m.jmp_table,
    ]);
    all.extend(m.monitors.iter());
    all.into_iter().map(map_memlock).sum()
}

/// Kernel memory of one interface and direction for each allocation, idle
/// and with the active IPv4 flow map full.
fn memory_rows(sec: &mut Section) {
    let now = ipfix_flow_exporter::sys::kernel_clock_ns(Default::default());
    let full = FLOW_MAP_MAX_ENTRIES as usize;
    for (alloc, key, what) in [
        (FlowMapAlloc::OnDemand, "on_demand", "on-demand (default)"),
        (FlowMapAlloc::Preallocated, "prealloc", "preallocated"),
    ] {
        let o = TestObject::load_alloc(Direction::Ingress, None, alloc);
        let idle = object_memlock(&o);
        let active = o.obj.maps.active().expect("selector");
        let all: Vec<usize> = (0..full).collect();
        fill_one(&o.obj.maps.flows[active].ipv4, &all, |i| {
            synthetic_flow4(i, now)
        });
        let busy = object_memlock(&o);
        assert_eq!(o.drain_flows().len(), full, "the active IPv4 map was full");
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        sec.row(
            &format!("kernel.memory.{key}.idle_mib"),
            &format!("kernel memory per interface and direction, {what}, no flow"),
            mib(idle),
            "MiB",
            "`memlock` of every map of one object (fdinfo)".to_owned(),
        );
        sec.row(
            &format!("kernel.memory.{key}.full_mib"),
            &format!(
                "kernel memory per interface and direction, {what}, {full} IPv4 flows in the active map"
            ),
            mib(busy),
            "MiB",
            format!(
                "{:.0} octets per flow over idle",
                (busy - idle) as f64 / full as f64
            ),
        );
    }
}

/// A plausible flow entry `i` as the program would have written it: every
/// fourth an IPv6 flow, the rest IPv4.
pub fn synthetic_flow(i: usize, now_ns: u64) -> (FlowKey, FlowValue) {
    synthetic_flow_of(i, now_ns, i % 4 == 3)
}

/// [`synthetic_flow`], IPv4 only (the key of one IPv4 flow map).
pub fn synthetic_flow4(i: usize, now_ns: u64) -> (FlowKey, FlowValue) {
    synthetic_flow_of(i, now_ns, false)
}

fn synthetic_flow_of(i: usize, now_ns: u64, v6: bool) -> (FlowKey, FlowValue) {
    let (src, dst): (std::net::IpAddr, std::net::IpAddr) = if v6 {
        let mut s = A6.octets();
        s[8..16].copy_from_slice(&(i as u64).to_be_bytes());
        (Ipv6Addr::from(s).into(), B6.into())
    } else {
        let b = (i as u32).to_be_bytes();
        (Ipv4Addr::new(10, b[1], b[2], b[3]).into(), B4.into())
    };
    let protocol = if i.is_multiple_of(2) { 6 } else { 17 };
    let mut key = FlowKey::from_tuple(src, dst, protocol, 1024 + (i % 50_000) as u16, 443);
    key.ifindex = 1;
    let value = FlowValue {
        packets: 10 + (i % 7) as u64,
        octets: 1500 * (10 + (i % 7) as u64),
        first_seen_ns: now_ns.saturating_sub(5_000_000_000),
        last_seen_ns: now_ns.saturating_sub(1_000_000),
        tcp_flags: if protocol == 6 { 0x18 } else { 0 },
        ttl_min: 60,
        ttl_max: 64,
        peer_ifindex: 0,
        tos: 0,
        src_mac: [0x02, 0, 0, 0, 0, 0x01],
        dst_mac: [0x02, 0, 0, 0, 0, 0x02],
    };
    (key, value)
}

/// `--child spin CASE SECS`: runs one case (`hit_ipv4_tcp`, `hit_ipv6_udp`,
/// `hit_vlan_ipv4`, `table_full`, `empty`, `new_flow_warm`) in a loop for SECS seconds, for
/// `perf record -a -g -e cpu-clock` (the JITed program shows up as
/// `bpf_prog_<tag>__ingress_flow_monitoring`).
pub fn spin(args: &[String]) {
    let case = args.first().map_or("hit_ipv4_tcp", String::as_str);
    let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    if case == "new_flow_warm" {
        return crate::designs::spin_new_flow(secs);
    }
    let obj = TestObject::load_with(Direction::Ingress, (case == "table_full").then_some(16));
    let empty = empty_prog();
    let frame = match case {
        "hit_ipv6_udp" => frame_ipv6_udp(1),
        "hit_vlan_ipv4" => frame_vlan_ipv4(1),
        "table_full" => {
            for i in 0..16 {
                obj.run(&frame_distinct(i));
            }
            frame_distinct(100)
        }
        _ => frame_ipv4_tcp(1),
    };
    let prog = if case == "empty" {
        empty.as_fd()
    } else {
        obj.obj.prog.as_fd()
    };
    if let Some(path) = std::env::var_os("BENCH_JIT_DUMP") {
        std::fs::write(&path, jited_image(prog)).expect("writing the JIT image");
    }
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut runs = Vec::new();
    while std::time::Instant::now() < end {
        runs.push(mean_ns(prog, &frame, REPEAT));
    }
    println!(
        "{case}: median {:.1} ns over {} runs",
        median(&runs),
        runs.len()
    );
}
