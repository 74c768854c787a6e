//! User space: one export interval (retire, drain, expire, encode) over
//! flow maps filled from user space, each size in its own child process so
//! that its peak RSS is its own; and drain strategies compared.

use std::net::UdpSocket;
use std::os::fd::{AsFd, AsRawFd};
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use ipfix_flow_exporter::abi::FlowMapAlloc;
use ipfix_flow_exporter::abi::{FlowKey, FLOW_KEY4_SIZE, FLOW_KEY_SIZE, FLOW_VALUE_SIZE};
use ipfix_flow_exporter::config::ExportSettings;
use ipfix_flow_exporter::daemon::DRAIN_CHUNK_MESSAGES;
use ipfix_flow_exporter::datapath::batch::Drain;
use ipfix_flow_exporter::datapath::kernel_source::KernelSource;
use ipfix_flow_exporter::datapath::maps::DatapathMaps;
use ipfix_flow_exporter::datapath::rcu::RcuBarrier;
use ipfix_flow_exporter::endpoint::Endpoint;
use ipfix_flow_exporter::export::ipfix_sink::IpfixSink;
use ipfix_flow_exporter::flow::clock::TimeBase;
use ipfix_flow_exporter::flow::exporter::{ExporterConfig, FlowExporter};
use ipfix_flow_exporter::flow::flow_source::{FlowEntry, FlowSource};
use ipfix_flow_exporter::flow::ids::IdAllocator;
use ipfix_flow_exporter::flow::record_sink::RecordSink;
use ipfix_flow_exporter::flow::FlowStats;
use ipfix_flow_exporter::flow::{Direction, FlowRecord};
use ipfix_flow_exporter::ipfix::{Mtu, Session};
use ipfix_flow_exporter::schema::{records_per_message, FlowMessages};
use ipfix_flow_exporter::sys::SystemClock;
use libbpf_rs::libbpf_sys;
use libbpf_rs::{MapCore, MapHandle};
use serde_json::{json, Value};

use crate::common::bpfobj::TestObject;
use crate::kernel::{fill_map, fill_one, synthetic_flow, synthetic_flow4};
use crate::report::{Report, Section};
use crate::stats::{median, range};

pub const SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];
/// Flow records of one interval for the CPU and RSS figure.
pub const INTERVAL_FLOWS: usize = 1_000_000;
/// Entries per drain comparison.
const DRAIN_FLOWS: usize = 100_000;

/// A user-space design under test: how the flow maps are allocated and how
/// many messages' worth of records one batch call drains.
#[derive(Clone, Copy)]
pub struct Design {
    pub key: &'static str,
    pub what: &'static str,
    alloc: FlowMapAlloc,
    chunk_messages: usize,
    /// Drained by two threads (`KernelSource::pipelined`).
    pipelined: bool,
}

/// What ships, the opt-in, and the design before this one, re-measured.
pub const DESIGNS: [Design; 4] = [
    Design {
        key: "shipped",
        what: "on-demand maps, drain chunk of 16 messages, two threads (the default)",
        alloc: FlowMapAlloc::OnDemand,
        chunk_messages: DRAIN_CHUNK_MESSAGES,
        pipelined: true,
    },
    Design {
        key: "prealloc",
        what: "`--flow-map-alloc preallocated`, drain chunk of 16 messages, two threads",
        alloc: FlowMapAlloc::Preallocated,
        chunk_messages: DRAIN_CHUNK_MESSAGES,
        pipelined: true,
    },
    Design {
        key: "one_thread",
        what: "on-demand maps, drain chunk of 16 messages, one thread",
        alloc: FlowMapAlloc::OnDemand,
        chunk_messages: DRAIN_CHUNK_MESSAGES,
        pipelined: false,
    },
    Design {
        key: "before",
        what: "on-demand maps, drain chunk of one message, one thread (before)",
        alloc: FlowMapAlloc::OnDemand,
        chunk_messages: 1,
        pipelined: false,
    },
];

fn design(key: &str) -> Design {
    DESIGNS
        .into_iter()
        .find(|d| d.key == key)
        .unwrap_or_else(|| panic!("unknown design {key:?}"))
}

/// A [`FlowSource`] that times the flip (selector update + RCU grace
/// period), so that throughput counts drain + expire + encode only.
struct TimedSource {
    inner: KernelSource,
    retire: Duration,
}

impl FlowSource for TimedSource {
    fn retire_active(&mut self) -> Result<()> {
        let t = Instant::now();
        let r = self.inner.retire_active();
        self.retire = t.elapsed();
        r
    }

    fn adopt_inactive(&mut self) -> Result<()> {
        self.inner.adopt_inactive()
    }

    fn drain_retired(&mut self, chunk: usize, sink: &mut dyn FnMut(&[FlowEntry])) -> Result<u64> {
        self.inner.drain_retired(chunk, sink)
    }

    fn take_refused(&mut self) -> Result<Vec<FlowKey>> {
        self.inner.take_refused()
    }

    fn stats(&mut self) -> Result<FlowStats> {
        self.inner.stats()
    }

    fn initial_stats(&self) -> FlowStats {
        self.inner.initial_stats()
    }
}

/// Encodes every chunk into IPFIX messages exactly as a UDP collector
/// session does (`Session::builder`, `add_flow_records`, `finish`) and
/// discards them.
struct EncodeSink {
    session: Session,
    system_init_ms: u64,
    export_time_secs: u32,
    messages: u64,
    octets: u64,
}

impl EncodeSink {
    fn new() -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        EncodeSink {
            session: Session::new(1),
            system_init_ms: TimeBase::sample(&SystemClock::default()).boot_epoch_ms(),
            export_time_secs: now.as_secs() as u32,
            messages: 0,
            octets: 0,
        }
    }
}

impl RecordSink for EncodeSink {
    fn records(&mut self, records: &[FlowRecord]) {
        let mut b = self.session.builder(self.export_time_secs, Mtu::DEFAULT);
        b.add_flow_records(records, Some(self.system_init_ms))
            .expect("encoding flow records");
        for m in b.finish().expect("finishing messages") {
            self.messages += 1;
            self.octets += m.bytes.len() as u64;
            std::hint::black_box(&m.bytes);
        }
    }
}

fn meter_config(max_flows: usize, chunk_messages: usize) -> ExporterConfig {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    ExporterConfig {
        direction: Direction::Ingress,
        idle_timeout: Duration::from_secs(30),
        ids: IdAllocator::new(secs),
        // As the daemon sizes it: two maps' worth of remembered ids.
        max_known_flows: 2 * max_flows,
        chunk: records_per_message(Mtu::DEFAULT) * chunk_messages,
    }
}

/// Capacity of each flow map for `n` flows (`--max-flows`).
fn capacity(n: usize) -> usize {
    n.next_power_of_two().max(131_072)
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Resets VmHWM to the current RSS (proc(5), clear_refs "5").
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// User and system CPU time of this process so far.
fn cpu_time() -> (Duration, Duration) {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut ru: nix::libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage for the call.
    let ret = unsafe { nix::libc::getrusage(nix::libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(ret, 0, "getrusage");
    let tv = |t: nix::libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    (tv(ru.ru_utime), tv(ru.ru_stime))
}

fn print_result(v: Value) {
    println!("RESULT {v}");
}

/// Child entry: `throughput N RUNS DESIGN`, `interval N udp|discard
/// DESIGN`, `drain N all|batch DESIGN`.
pub fn child(args: &[String]) {
    let n = |i: usize| -> usize {
        args.get(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("child argument {i} missing in {args:?}"))
    };
    let d = design(args.get(3).map_or("shipped", String::as_str));
    match args.first().map(String::as_str) {
        Some("throughput") => child_throughput(n(1), n(2), d),
        Some("interval") => child_interval(n(1), args.get(2).is_some_and(|a| a == "udp"), d),
        Some("drain") => child_drain(n(1), args.get(2).is_some_and(|a| a == "batch"), d),
        Some("swap") => child_swap(n(1)),
        other => panic!("unknown child mode {other:?}"),
    }
}

/// Fresh meter per run: the first interval (every flow new to the flowId
/// table), then a second over the same flows (ids known: steady state).
fn child_throughput(n: usize, runs: usize, d: Design) {
    let cap = capacity(n);
    let obj = TestObject::load_alloc(Direction::Ingress, Some(cap as u32), d.alloc);
    let rcu = Rc::new(RcuBarrier::new().expect("RCU barrier"));
    let (mut first, mut steady, mut flip) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let maps = DatapathMaps::open_pinned(Direction::Ingress, &obj.dir).expect("maps");
        let mut inner = KernelSource::new(maps, Rc::clone(&rcu));
        inner.pipelined = d.pipelined;
        let source = TimedSource {
            inner,
            retire: Duration::ZERO,
        };
        let mut meter = FlowExporter::new(source, &meter_config(cap, d.chunk_messages));
        for pass in 0..2 {
            let now = ipfix_flow_exporter::sys::kernel_clock_ns(Default::default());
            let src = &meter.source_mut().inner.maps;
            let active = src.active().expect("selector");
            fill_map(&src.flows[active], n, |i| synthetic_flow(i, now));
            let mut sink = EncodeSink::new();
            let t = Instant::now();
            let r = meter
                .interval(&SystemClock::default(), false, &mut sink)
                .expect("interval");
            let total = t.elapsed();
            assert_eq!(r.records, n as u64, "every flow exported");
            assert!(sink.messages as usize >= n / 14, "records were encoded");
            let retire = meter.source_mut().retire;
            flip.push(retire.as_secs_f64() * 1e3);
            let secs = (total - retire).as_secs_f64();
            if pass == 0 {
                first.push(n as f64 / secs);
            } else {
                steady.push(n as f64 / secs);
            }
        }
    }
    print_result(json!({
        "first": first, "steady": steady, "flip_ms": flip,
        "hwm_kb": status_kb("VmHWM:"),
    }));
}

/// One interval at `n` flows: CPU time and peak RSS. `udp`: through the
/// real IPFIX sink to a UDP socket on loopback; else encoded and discarded.
fn child_interval(n: usize, udp: bool, d: Design) {
    let cap = capacity(n);
    let obj = TestObject::load_alloc(Direction::Ingress, Some(cap as u32), d.alloc);
    let rcu = Rc::new(RcuBarrier::new().expect("RCU barrier"));
    let maps = DatapathMaps::open_pinned(Direction::Ingress, &obj.dir).expect("maps");
    let mut source = KernelSource::new(maps, rcu);
    source.pipelined = d.pipelined;
    let mut meter = FlowExporter::new(source, &meter_config(cap, d.chunk_messages));
    // A collector that never reads: the kernel drops what overflows its
    // buffer, every send succeeds.
    let collector = UdpSocket::bind("127.0.0.1:0").expect("binding the collector socket");
    let port = collector.local_addr().expect("local addr").port();
    let spec = Endpoint::parse(&format!("udp://127.0.0.1:{port}")).expect("collector");
    let boot_ms = TimeBase::sample(&SystemClock::default()).boot_epoch_ms();
    let cfg = ExportSettings {
        collectors: vec![spec],
        ..ExportSettings::default()
    }
    .validate()
    .expect("export settings");
    let mut ipfix = IpfixSink::new(
        &cfg,
        1,
        boot_ms,
        Box::new(SystemClock::default()),
        Box::new(Vec::new),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while ipfix.sessions[0].peer.is_none() && Instant::now() < deadline {
        ipfix.poll();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(ipfix.sessions[0].peer.is_some(), "collector resolved");
    let mut discard = EncodeSink::new();
    let sink: &mut dyn RecordSink = if udp { &mut ipfix } else { &mut discard };
    let now = ipfix_flow_exporter::sys::kernel_clock_ns(Default::default());
    let src = &meter.source_mut().maps;
    let active = src.active().expect("selector");
    fill_map(&src.flows[active], n, |i| synthetic_flow(i, now));
    let rss_before = status_kb("VmRSS:");
    reset_peak_rss();
    let (u0, s0) = cpu_time();
    let t = Instant::now();
    let r = meter
        .interval(&SystemClock::default(), false, sink)
        .expect("interval");
    sink.end_of_interval();
    let wall = t.elapsed();
    let (u1, s1) = cpu_time();
    assert_eq!(r.records, n as u64);
    let messages = if udp {
        let stats = ipfix.sessions[0].stats();
        assert_eq!(stats.flow_records, n as u64, "every record sent");
        stats.messages
    } else {
        discard.messages
    };
    print_result(json!({
        "user_s": (u1 - u0).as_secs_f64(),
        "sys_s": (s1 - s0).as_secs_f64(),
        "wall_s": wall.as_secs_f64(),
        "rss_before_kb": rss_before,
        "hwm_kb": status_kb("VmHWM:"),
        "messages": messages,
    }));
}

/// Drain strategies over the same `n` entries: the batch call with the
/// meter's chunk, with a large chunk, and one key at a time; with
/// `batch_only` just the first.
fn child_drain(n: usize, batch_only: bool, d: Design) {
    let obj = TestObject::load_alloc(Direction::Ingress, Some(capacity(n) as u32), d.alloc);
    // IPv4 flows: the common case, the compact key.
    let map = &obj.obj.maps.flows[0].ipv4;
    let all: Vec<usize> = (0..n).collect();
    let now = ipfix_flow_exporter::sys::kernel_clock_ns(Default::default());
    let message = records_per_message(Mtu::DEFAULT) as u32;
    let chunk = message * d.chunk_messages as u32;
    let mut out = serde_json::Map::new();
    let strategies: &[(&str, u32)] = if batch_only {
        &[("batch_chunk", chunk)]
    } else {
        &[
            ("batch_message", message),
            ("batch_chunk", chunk),
            ("batch_4096", 4096),
        ]
    };
    for &(name, want) in strategies {
        let mut rates = Vec::new();
        for _ in 0..3 {
            fill_one(map, &all, |i| synthetic_flow4(i, now));
            let t = Instant::now();
            let mut drain = Drain::new(map, want);
            let mut buf = Vec::with_capacity(want as usize * 2);
            let mut got = 0;
            loop {
                buf.clear();
                let k = drain.next_into(&mut buf).expect("draining");
                if k == 0 {
                    break;
                }
                got += k;
            }
            assert_eq!(got, n);
            rates.push(n as f64 / t.elapsed().as_secs_f64());
        }
        out.insert(name.to_owned(), json!(median(&rates)));
    }
    if batch_only {
        return print_result(Value::Object(out));
    }
    let mut rates = Vec::new();
    for _ in 0..3 {
        fill_one(map, &all, |i| synthetic_flow4(i, now));
        let t = Instant::now();
        assert_eq!(per_key_drain(map), n);
        rates.push(n as f64 / t.elapsed().as_secs_f64());
    }
    out.insert("per_key".to_owned(), json!(median(&rates)));
    // Encoding alone, from records already in memory.
    let records: Vec<FlowRecord> = {
        let time = TimeBase::sample(&SystemClock::default());
        (0..n)
            .map(|i| {
                let (k, v) = synthetic_flow(i, now);
                ipfix_flow_exporter::flow::exporter::to_record(
                    &k,
                    &v,
                    Direction::Ingress,
                    &time,
                    ipfix_flow_exporter::flow::FlowEndReason::ActiveTimeout,
                    i as u64,
                )
                .expect("record")
            })
            .collect()
    };
    let mut rates = Vec::new();
    for _ in 0..3 {
        let mut sink = EncodeSink::new();
        let t = Instant::now();
        for c in records.chunks(chunk as usize) {
            sink.records(c);
        }
        rates.push(n as f64 / t.elapsed().as_secs_f64());
    }
    out.insert("encode_only".to_owned(), json!(median(&rates)));
    print_result(Value::Object(out));
}

/// The drain a map of maps would allow, not shipped: instead of deleting
/// every entry, the daemon would swap a fresh inner map in, read the retired
/// one without deletes (BPF_MAP_LOOKUP_BATCH) and drop it whole. Measured on
/// an IPv4-flow-map-shaped map of `n` entries against the shipped batch
/// lookup-and-delete on the same entries: this process's CPU time for each,
/// and the CPU the kernel spends freeing the dropped map afterwards, in a
/// kworker (busy time of all CPUs in /proc/stat over a window after the
/// drop, minus the same window before it; 10 ms ticks).
fn child_swap(n: usize) {
    let chunk = records_per_message(Mtu::DEFAULT) * DRAIN_CHUNK_MESSAGES;
    let now = ipfix_flow_exporter::sys::kernel_clock_ns(Default::default());
    let opts = libbpf_sys::bpf_map_create_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_map_create_opts>() as _,
        map_flags: libbpf_sys::BPF_F_NO_PREALLOC,
        ..Default::default()
    };
    let create = || {
        let m = MapHandle::create(
            libbpf_rs::MapType::Hash,
            Some("swap_bench"),
            FLOW_KEY4_SIZE as u32,
            FLOW_VALUE_SIZE as u32,
            capacity(n) as u32,
            &opts,
        )
        .expect("creating a flow-shaped map");
        let all: Vec<usize> = (0..n).collect();
        fill_one(&m, &all, |i| synthetic_flow4(i, now));
        m
    };
    let cpu = || {
        let (u, s) = cpu_time();
        u + s
    };
    let map = create();
    let c0 = cpu();
    let mut drain = Drain::new(&map, chunk as u32);
    let mut buf = Vec::with_capacity(chunk * 2);
    let mut deleted = 0;
    loop {
        buf.clear();
        match drain.next_into(&mut buf).expect("draining") {
            0 => break,
            k => deleted += k,
        }
    }
    let delete_cpu = (cpu() - c0).as_secs_f64();
    assert_eq!(deleted, n);
    drop(map);
    std::thread::sleep(Duration::from_millis(500));

    let map = create();
    let c0 = cpu();
    assert_eq!(lookup_only(&map, chunk as u32), n);
    let lookup_cpu = (cpu() - c0).as_secs_f64();
    let window = Duration::from_millis(3000);
    let idle = busy_ms_over(window, || {});
    let freed = busy_ms_over(window, || drop(map));
    print_result(json!({
        "delete_cpu_s": delete_cpu,
        "lookup_cpu_s": lookup_cpu,
        "free_busy_ms": freed - idle,
    }));
}

/// Reads every entry of `map` with BPF_MAP_LOOKUP_BATCH, `want` at a time,
/// deleting nothing; the number read.
fn lookup_only(map: &MapHandle, want: u32) -> usize {
    let fd = map.as_fd().as_raw_fd();
    let mut keys = vec![0u8; want as usize * FLOW_KEY_SIZE];
    let mut values = vec![0u8; want as usize * FLOW_VALUE_SIZE];
    let (mut token, mut next) = ([0u8; 4], [0u8; 4]);
    let mut total = 0;
    let mut first = true;
    loop {
        let mut count = want;
        let opts = libbpf_sys::bpf_map_batch_opts {
            sz: std::mem::size_of::<libbpf_sys::bpf_map_batch_opts>() as _,
            ..Default::default()
        };
        let in_batch = if first {
            std::ptr::null_mut()
        } else {
            token.as_mut_ptr().cast()
        };
        // SAFETY: buffers of `want` keys and values of the map's sizes, 4-byte
        // batch tokens (a htab bucket index), all alive for the call.
        let ret = unsafe {
            libbpf_sys::bpf_map_lookup_batch(
                fd,
                in_batch,
                next.as_mut_ptr().cast(),
                keys.as_mut_ptr().cast(),
                values.as_mut_ptr().cast(),
                &mut count,
                &opts,
            )
        };
        let err = std::io::Error::last_os_error().raw_os_error();
        total += count as usize;
        if ret != 0 {
            assert_eq!(err, Some(nix::libc::ENOENT), "BPF_MAP_LOOKUP_BATCH");
            return total;
        }
        token = next;
        first = false;
    }
}

/// Busy time of all CPUs (everything but idle and iowait, /proc/stat) in ms
/// over `window`, starting with `f`.
fn busy_ms_over(window: Duration, f: impl FnOnce()) -> f64 {
    let busy = || -> f64 {
        let stat = std::fs::read_to_string("/proc/stat").expect("reading /proc/stat");
        let cpu: Vec<f64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        let total: f64 = cpu.iter().sum();
        let idle = cpu.get(3).copied().unwrap_or(0.0) + cpu.get(4).copied().unwrap_or(0.0);
        // USER_HZ: 100 ticks a second.
        (total - idle) * 10.0
    };
    let b0 = busy();
    let t = Instant::now();
    f();
    std::thread::sleep(window.saturating_sub(t.elapsed()));
    busy() - b0
}

/// Collects every key (BPF_MAP_GET_NEXT_KEY), then reads and deletes each
/// (BPF_MAP_LOOKUP_AND_DELETE_ELEM): two syscalls per entry.
fn per_key_drain(map: &MapHandle) -> usize {
    let fd = map.as_fd().as_raw_fd();
    let size = map.key_size() as usize;
    assert!(size <= FLOW_KEY_SIZE, "a flow map's key");
    let mut keys: Vec<[u8; FLOW_KEY_SIZE]> = Vec::new();
    let mut key = [0u8; FLOW_KEY_SIZE];
    let mut next = [0u8; FLOW_KEY_SIZE];
    let mut first = true;
    loop {
        let prev = if first {
            std::ptr::null()
        } else {
            key.as_ptr().cast()
        };
        // SAFETY: key buffers of at least the map's key size, alive for the
        // call.
        let ret = unsafe { libbpf_sys::bpf_map_get_next_key(fd, prev, next.as_mut_ptr().cast()) };
        if ret != 0 {
            break;
        }
        keys.push(next);
        key = next;
        first = false;
    }
    let mut value = [0u8; FLOW_VALUE_SIZE];
    let mut n = 0;
    for k in &keys {
        // SAFETY: key and value buffers of the map's sizes.
        let ret = unsafe {
            libbpf_sys::bpf_map_lookup_and_delete_elem(
                fd,
                k.as_ptr().cast(),
                value.as_mut_ptr().cast(),
            )
        };
        if ret == 0 {
            n += 1;
            std::hint::black_box(FlowKey::parse(k).ok());
        }
    }
    n
}

/// Runs `--child ARGS` of this executable; returns its RESULT object.
fn run_child(args: &[&str]) -> Value {
    let exe = std::env::current_exe().expect("own executable");
    let out = Command::new(exe)
        .arg("--child")
        .args(args)
        .output()
        .expect("spawning a bench child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("child {args:?} printed no RESULT: {stdout}"));
    serde_json::from_str(line).expect("child RESULT is JSON")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

fn label(n: usize) -> String {
    match n {
        n if n >= 1_000_000 => format!("{} M", n / 1_000_000),
        n => format!("{} k", n / 1000),
    }
}

/// Median rates of one design at `n` flows over alternating rounds.
struct DesignRates {
    first: Vec<f64>,
    steady: Vec<f64>,
}

pub fn run(report: &mut Report) {
    let message = records_per_message(Mtu::DEFAULT);
    let chunk = message * DRAIN_CHUNK_MESSAGES;
    let mut sec = Section::new(
        "User space: drain + expire + encode",
        format!(
            "Method. A fresh child process per size loads the ingress object with \
             `--max-flows` ≥ the size, fills the active flow map from user space \
             (`BPF_MAP_UPDATE_BATCH`; IPv4 and IPv6, TCP and UDP, distinct keys), \
             and times `FlowExporter::interval` — the daemon's code: flip the selector, \
             wait for RCU, drain with `BPF_MAP_LOOKUP_AND_DELETE_BATCH` in chunks of \
             {chunk} ({DRAIN_CHUNK_MESSAGES} messages' worth), assign flowIds, decide \
             flowEndReason, build records, expire the id table — into a sink that \
             encodes each chunk into IPFIX messages (`Session::builder`, \
             `add_flow_records`, `finish`, MTU 1400) and discards them. The flip and \
             grace period are timed apart (a fixed cost per interval, shown on its \
             own) and left out of the rate. *First*: every flow new to the flowId \
             table (the worst case); *steady*: the same flows again one interval \
             later. Median of the runs. **Designs at {DESIGN_FLOWS_LABEL}**: the \
             same, for each design in turn, {DESIGN_ROUNDS} alternating rounds of \
             2 runs each (so a slow spell of this shared VM hits all alike): what \
             ships, the opt-in preallocated flow maps, and the design before this \
             one (drain chunk of one message, {message} records). **One interval \
             at 1 M flows**: the real `IpfixSink` sending to a UDP socket on \
             loopback that never reads (its buffer overflows, every send succeeds): \
             user + system CPU time of the process (`getrusage`) across the \
             interval, and its peak RSS (`VmHWM`, reset with \
             `/proc/self/clear_refs` after filling the map, so the figure is the \
             exporter's, plus the process's baseline); for each design. **Drain \
             strategies** over {DRAIN_FLOWS} entries, for each allocation: the \
             batch call with one message's worth, with the meter's chunk, with \
             4096, and one key at a time (all keys by `BPF_MAP_GET_NEXT_KEY`, then \
             `BPF_MAP_LOOKUP_AND_DELETE_ELEM` each); and encoding alone from \
             records in memory; the batch call with the meter's chunk also alone \
             at 1 M entries. **Map-of-maps drain** (not shipped), at 1 M entries of \
             a flow-shaped map: the shipped lookup-and-delete against reading \
             without deletes (`BPF_MAP_LOOKUP_BATCH`) and dropping the map whole, \
             as swapping a fresh inner map in each interval would allow — this \
             process's CPU time for each, and the CPU the kernel spends freeing \
             the dropped map (in a kworker: busy time of all CPUs in /proc/stat \
             over 3 s after the drop minus 3 s before)."
        ),
    );
    for n in SIZES {
        let runs = if n >= 1_000_000 { 3 } else { 5 };
        let v = run_child(&["throughput", &n.to_string(), &runs.to_string(), "shipped"]);
        let first = floats(&v["first"]);
        let steady = floats(&v["steady"]);
        let flip = floats(&v["flip_ms"]);
        let (lo, hi) = range(&first);
        sec.row(
            &format!("userspace.{n}.first_records_per_s"),
            &format!("{}: flows, first interval", label(n)),
            median(&first),
            "records/s",
            format!("median of {}; range {lo:.0}–{hi:.0}", first.len()),
        );
        let (lo, hi) = range(&steady);
        sec.row(
            &format!("userspace.{n}.steady_records_per_s"),
            &format!("{}: flows, steady state", label(n)),
            median(&steady),
            "records/s",
            format!("median of {}; range {lo:.0}–{hi:.0}", steady.len()),
        );
        sec.row(
            &format!("userspace.{n}.flip_ms"),
            &format!("{}: flows, flip + RCU grace period", label(n)),
            median(&flip),
            "ms",
            format!(
                "child peak RSS {} MB",
                v["hwm_kb"].as_u64().unwrap_or(0) / 1024
            ),
        );
    }
    design_rows(&mut sec);
    for d in DESIGNS {
        for (kind, what) in [
            ("udp", "to UDP on loopback"),
            ("discard", "encoded, not sent"),
        ] {
            if d.key != "shipped" && kind == "discard" {
                continue;
            }
            let v = run_child(&["interval", &INTERVAL_FLOWS.to_string(), kind, d.key]);
            let user = v["user_s"].as_f64().unwrap_or(f64::NAN);
            let sys = v["sys_s"].as_f64().unwrap_or(f64::NAN);
            let (key, what) = if d.key == "shipped" {
                (format!("userspace.interval_1m.{kind}"), what.to_owned())
            } else {
                (
                    format!("userspace.interval_1m_{}.{kind}", d.key),
                    format!("{what}, {}", d.what),
                )
            };
            sec.row(
                &format!("{key}.cpu_s"),
                &format!("1 M flows, one interval {what}: CPU time"),
                user + sys,
                "s",
                format!(
                    "user {user:.2} s, system {sys:.2} s, wall {:.2} s, {} messages",
                    v["wall_s"].as_f64().unwrap_or(f64::NAN),
                    v["messages"].as_u64().unwrap_or(0)
                ),
            );
            sec.row(
                &format!("{key}.peak_rss_mb"),
                &format!("1 M flows, one interval {what}: peak RSS"),
                v["hwm_kb"].as_f64().unwrap_or(f64::NAN) / 1024.0,
                "MB",
                format!(
                    "RSS before the interval {:.0} MB",
                    v["rss_before_kb"].as_f64().unwrap_or(f64::NAN) / 1024.0
                ),
            );
        }
    }
    for d in &DESIGNS[..2] {
        let v = run_child(&["drain", &DRAIN_FLOWS.to_string(), "all", d.key]);
        let prefix = if d.key == "shipped" {
            "userspace.drain".to_owned()
        } else {
            format!("userspace.drain_{}", d.key)
        };
        let alloc = if d.key == "shipped" {
            "on-demand maps"
        } else {
            "preallocated maps"
        };
        for (key, what) in [
            ("batch_message", format!("batch of {message} (one message)")),
            ("batch_chunk", format!("batch of {chunk} (the meter's)")),
            ("batch_4096", "batch of 4096".to_owned()),
            ("per_key", "one key at a time".to_owned()),
            ("encode_only", "encode only (records in memory)".to_owned()),
        ] {
            sec.row(
                &format!("{prefix}.{key}_per_s"),
                &format!("drain only, {alloc}: {what}"),
                v[key].as_f64().unwrap_or(f64::NAN),
                "entries/s",
                format!("{} entries, median of 3", label(DRAIN_FLOWS)),
            );
        }
    }
    let v = run_child(&["swap", &INTERVAL_FLOWS.to_string()]);
    let delete = v["delete_cpu_s"].as_f64().unwrap_or(f64::NAN);
    let lookup = v["lookup_cpu_s"].as_f64().unwrap_or(f64::NAN);
    let free = v["free_busy_ms"].as_f64().unwrap_or(f64::NAN);
    sec.row(
        "userspace.swap_1m.delete_cpu_s",
        &format!("map-of-maps drain (not shipped), 1 M entries: the shipped lookup-and-delete, batch of {chunk}, CPU"),
        delete,
        "s",
        "this process's user + system time".to_owned(),
    );
    sec.row(
        "userspace.swap_1m.lookup_cpu_s",
        &format!("map-of-maps drain (not shipped), 1 M entries: lookup without delete, batch of {chunk}, CPU"),
        lookup,
        "s",
        format!("{:.2}× the lookup-and-delete", lookup / delete),
    );
    sec.row(
        "userspace.swap_1m.free_busy_ms",
        "map-of-maps drain (not shipped), 1 M entries: the kernel freeing the dropped map",
        free,
        "ms of CPU",
        "all CPUs' busy time over 3 s after the drop minus 3 s before (/proc/stat, 10 ms ticks)"
            .to_owned(),
    );
    let v = run_child(&["drain", &INTERVAL_FLOWS.to_string(), "batch", "shipped"]);
    sec.row(
        "userspace.drain_1m.batch_chunk_per_s",
        &format!("drain only, 1 M entries: batch of {chunk}"),
        v["batch_chunk"].as_f64().unwrap_or(f64::NAN),
        "entries/s",
        "median of 3".to_owned(),
    );
    report.sections.push(sec);
}

/// Flows of the design comparison.
const DESIGN_FLOWS: usize = 100_000;
const DESIGN_FLOWS_LABEL: &str = "100 k flows";
/// Alternating rounds of the design comparison.
const DESIGN_ROUNDS: usize = 3;

/// Each design at [`DESIGN_FLOWS`], in alternating rounds, and its ratio to
/// the design before.
fn design_rows(sec: &mut Section) {
    let mut rates: Vec<DesignRates> = DESIGNS
        .iter()
        .map(|_| DesignRates {
            first: Vec::new(),
            steady: Vec::new(),
        })
        .collect();
    for _ in 0..DESIGN_ROUNDS {
        for (d, r) in DESIGNS.iter().zip(rates.iter_mut()) {
            let v = run_child(&["throughput", &DESIGN_FLOWS.to_string(), "2", d.key]);
            r.first.extend(floats(&v["first"]));
            r.steady.extend(floats(&v["steady"]));
        }
    }
    let before = DESIGNS.iter().position(|d| d.key == "before").unwrap_or(0);
    let base_steady = median(&rates[before].steady);
    let base_first = median(&rates[before].first);
    for (d, r) in DESIGNS.iter().zip(&rates) {
        for (phase, v, base) in [
            ("first", &r.first, base_first),
            ("steady", &r.steady, base_steady),
        ] {
            let (lo, hi) = range(v);
            sec.row(
                &format!("userspace.design.{}.{phase}_records_per_s", d.key),
                &format!("{DESIGN_FLOWS_LABEL}, {phase}: {}", d.what),
                median(v),
                "records/s",
                format!(
                    "{:.2}× before; median of {}; range {lo:.0}–{hi:.0}",
                    median(v) / base,
                    v.len()
                ),
            );
        }
    }
}
