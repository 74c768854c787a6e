//! The targets checked against this run's figures, and the notes
//! on what limits each figure (numbers filled in from this run).

use crate::report::{fmt_value, Report, TargetCheck};

fn fmt(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() && x.abs() >= 1000.0 => fmt_value(x),
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        _ => "n/a".to_owned(),
    }
}

pub fn check(r: &mut Report) {
    let mut out: Vec<TargetCheck> = Vec::new();
    let mut target = |what: &str, measured: String, met: bool| {
        out.push(TargetCheck {
            target: what.to_owned(),
            measured,
            met,
        })
    };
    let g = |k: &str| r.get(k);

    // Kernel: ours against the peers timed in the same rounds
    // (`make bench PEERS=...`), on the IPv4 TCP frame the issue compares.
    let ours: Vec<(&str, Option<f64>)> = ["ipv4_tcp", "ipv6_udp", "vlan_ipv4"]
        .iter()
        .map(|c| (*c, g(&format!("kernel.hit.{c}.over_empty_ns"))))
        .collect();
    let best_peer = crate::peers::names(r)
        .into_iter()
        .filter_map(|p| {
            let v = g(&format!("kernel.peer.{p}.hit.ipv4_tcp.over_empty_ns"))?;
            Some((p, v))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1));
    if ours.iter().all(|(_, v)| v.is_some()) {
        let worst = ours
            .iter()
            .filter_map(|(_, v)| *v)
            .fold(f64::NEG_INFINITY, f64::max);
        let list = ours
            .iter()
            .map(|(c, v)| format!("{c} {}", fmt(*v, 0)))
            .collect::<Vec<_>>()
            .join(", ");
        let what = "hit path ≤ 0.6 × the better peer's (IPv4 TCP), every case";
        match &best_peer {
            Some((peer, v)) => target(
                what,
                format!("{list} ns vs {peer} {v:.0} ns: worst {:.2}×", worst / v),
                worst <= 0.6 * v,
            ),
            None => target(
                what,
                format!("{list} ns; no peer in this run (PEERS unset)"),
                false,
            ),
        }
    }
    // The new-flow path "before" is the design of ABI 3 (IPv4 flows under
    // the 48-byte key, on-demand maps), re-measured in this run as a bench
    // build of the body, so the ratio is like for like.
    for (before, what) in [
        ("kernel.new_flow_before.over_empty_ns", "one call per frame"),
        ("designs.warm.new_flow_before.over_empty_ns", "warm loop"),
    ] {
        let prefix = before.trim_end_matches("_before.over_empty_ns");
        let (own, pre) = (
            g(&format!("{prefix}.over_empty_ns")),
            g(&format!("{prefix}_prealloc.over_empty_ns")),
        );
        if let (Some(b), Some(n), Some(p)) = (g(before), own, pre) {
            target(
                &format!("new-flow path ≤ 0.5 × before ({what})"),
                format!(
                    "before (48-byte key) {b:.0} ns; default (24-byte IPv4 key, on-demand) \
                     {n:.0} ns = {:.2}×; `--flow-map-alloc preallocated` {p:.0} ns = {:.2}×",
                    n / b,
                    p / b
                ),
                n <= 0.5 * b,
            );
        }
    }
    if let (Some(small), Some(big)) = (
        g("kernel.table_full.small.ns"),
        g("kernel.table_full.default.ns"),
    ) {
        target(
            "table-full path ≤ 1 µs, never a retry loop",
            format!(
                "{small:.0} ns (16 entries), {big:.0} ns (131 072); no retry: a refused \
                 insert is counted and the packet passes (flow_track.h)"
            ),
            small.max(big) <= 1000.0,
        );
    }
    if let (Some(ratio), Some(est)) = (g("veth.ratio"), veth_estimate(&g)) {
        // This VM's run-to-run noise is of the order of the exporter's cost
        // on a veth: a measured ratio counts only where the kernel figures
        // agree, and one well above 1 is noise, not evidence.
        let noise = if ratio > VETH_NOISE_ABOVE {
            " (above 1: the noise of this run exceeded the exporter's cost; inconclusive)"
        } else {
            ""
        };
        target(
            "veth pps with the exporter ≥ 0.97 × without",
            format!(
                "measured {ratio:.3}×{noise}; from the kernel's hit path and the \
                 packet's cost without: {est:.3}×"
            ),
            (0.97..=VETH_NOISE_ABOVE).contains(&ratio) && est >= 0.97,
        );
    }
    // The target is at 100 k flows (10 k and 1 M are in the results),
    // for what ships and for the opt-in, each against the design before
    // re-measured in the same alternating rounds.
    let design = |d: &str, phase: &str| g(&format!("userspace.design.{d}.{phase}_records_per_s"));
    if let (Some(sf), Some(ss), Some(pf), Some(ps), Some(bf), Some(bs)) = (
        design("shipped", "first"),
        design("shipped", "steady"),
        design("prealloc", "first"),
        design("prealloc", "steady"),
        design("before", "first"),
        design("before", "steady"),
    ) {
        target(
            "≥ 1 M flow records/s drained + encoded, 100 k flows",
            format!(
                "default: first {}/s, steady {}/s ({:.2}×, {:.2}× before); \
                 preallocated: {}/s, {}/s ({:.2}×, {:.2}×)",
                fmt_value(sf),
                fmt_value(ss),
                sf / bf,
                ss / bs,
                fmt_value(pf),
                fmt_value(ps),
                pf / bf,
                ps / bs,
            ),
            sf.min(ss) >= 1e6,
        );
    }
    if let (Some(cpu), Some(own), Some(pre), Some(before)) = (
        g("userspace.interval_1m.udp.cpu_s"),
        g("userspace.interval_1m.discard.cpu_s"),
        g("userspace.interval_1m_prealloc.udp.cpu_s"),
        g("userspace.interval_1m_before.udp.cpu_s"),
    ) {
        target(
            "1 M flows in one interval with ≤ 1 s CPU",
            format!(
                "default {cpu:.2} s sending over loopback ({own:.2} s encoding only), \
                 {:.2}× before ({before:.2} s); preallocated {pre:.2} s",
                cpu / before
            ),
            cpu.max(own) <= 1.0,
        );
    }
    if let (Some(rss), Some(own)) = (
        g("userspace.interval_1m.udp.peak_rss_mb"),
        g("userspace.interval_1m.discard.peak_rss_mb"),
    ) {
        target(
            "1 M flows in one interval with RSS ≤ 256 MB",
            format!("{rss:.0} MB ({own:.0} MB encoding only)"),
            rss.max(own) <= 256.0,
        );
    }
    if let (Some(wakeups), Some(cpu)) = (g("idle.wakeups_per_s"), g("idle.cpu_pct")) {
        target(
            "idle `run`: ≤ 2 wake-ups/s, ≤ 0.05 % CPU (before: 50 wake-ups/s, 0.17 % CPU)",
            format!("{wakeups:.1} wake-ups/s, {cpu:.3} % CPU"),
            wakeups <= 2.0 && cpu <= 0.05,
        );
    }
    if let Some(ms) = g("startup.first_export_ms") {
        target(
            "first export ≤ 1 s after start",
            format!("{ms:.0} ms"),
            ms <= 1000.0,
        );
    }
    r.targets.extend(out);
    notes(r);
}

/// A veth ratio above this is noise: the exporter cannot speed a packet up.
const VETH_NOISE_ABOVE: f64 = 1.02;

/// The veth ratio the kernel figures predict: the sending CPU, which runs
/// the whole path of a packet, spends the egress program's hit path (over
/// an empty program: a lower bound) on each packet on top of its cost
/// without the exporter.
fn veth_estimate(g: &impl Fn(&str) -> Option<f64>) -> Option<f64> {
    let hit = g("kernel.hit.ipv4_tcp.over_empty_ns")?;
    let per_packet = 1e9 / g("veth.without.pps")?;
    Some(per_packet / (per_packet + hit))
}

/// A design's steady rate over the design before, as text.
fn ratio(g: impl Fn(&str) -> Option<f64>, key: &str) -> String {
    fmt(
        g(key)
            .zip(g("userspace.design.before.steady_records_per_s"))
            .map(|(a, b)| a / b),
        2,
    )
}

fn notes(r: &mut Report) {
    let g = |k: &str| r.get(k);
    let f0 = |k: &str| fmt(g(k), 0);
    let f2 = |k: &str| fmt(g(k), 2);
    let mut notes = Vec::new();

    notes.push(format!(
        "**Changed for performance (before → after, both measured on this machine \
         while working on it; the \"before\" of the parser is re-measured in every \
         run as a bench variant).**\n\n\
         1. *Parser reads headers in place* (`bpf/parse.h`, `skb_header()`): a \
         pointer into the linear data when the header is there, a copy by \
         `bpf_skb_load_bytes()` only for headers in paged data. Hit path, IPv4 TCP, \
         over empty: 129 → 84 ns (this run: {} ns with the old helper reads vs {} ns \
         for the same body reading in place). An intermediate version that copied \
         the headers out of the packet with `__builtin_memcpy` reached only 93 ns: \
         the packet's alignment is unknown to clang, so it copies byte by byte and \
         reassembles words. The helper path meters exactly like the direct one \
         (checked each run on VLAN, QinQ, IPv6 extension headers, fragments, ICMP, \
         SCTP and truncated frames). Verifier: 11 743 → {} instructions processed \
         (ingress).\n\
         2. *First templates at start* (`src/export/session.rs`): a UDP session \
         sends its templates as soon as the collector's address is known instead \
         of with the first interval's records. Start to first export: 10 115 → {} ms.\n\
         3. *User space* (`src/flow/ids.rs`, `src/ipfix/templates.rs`, \
         `src/ipfix/builder.rs`): the flowId table is probed once per record \
         (entry API; it was a lookup and then an insert for every new flow) with \
         the key hashed as the bytes of its flow map's key in one piece (the derived `Hash` fed \
         SipHash field by field, with length prefixes), a \
         record is encoded straight into its message slot (it was built in a \
         fresh `Vec` per record and copied), and a message reserves its MTU once. \
         Measured old against new binary, alternating, \
         three times on a quiet machine (medians): drain + expire + encode at \
         100 k flows 0.74 → 0.83 M records/s (first interval) and 0.82 → 0.87 \
         (steady), at 1 M flows 0.56 → 0.60; encoding alone 13.9 → 17.6 M \
         records/s.\n\
         4. *IPv4 flows under a 24-byte key* (flow ABI 4, `bpf/flow_abi.h`): \
         maps of their own, keyed by a prefix of the full key. The body, IPv4 TCP, \
         over empty: {} ns with IPv4 under the 48-byte key, {} ns with the \
         compact one (this run, same rounds); kernel memory per IPv4 flow 112 → \
         88 octets of key and value.\n\
         5. *Drain on two threads* (`src/datapath/kernel_source.rs`): at 100 k \
         flows, steady state, {} records/s on one thread, {} on two (this run, \
         alternating rounds).",
        f0("designs.one_cpu.helper_parse.over_empty_ns"),
        f0("designs.one_cpu.shared_atomic.over_empty_ns"),
        f0("verifier.ingress.verified_insns"),
        f0("startup.first_export_ms"),
        f0("designs.one_cpu.full_key.over_empty_ns"),
        f0("designs.one_cpu.shared_atomic.over_empty_ns"),
        f0("userspace.design.one_thread.steady_records_per_s"),
        f0("userspace.design.shipped.steady_records_per_s"),
    ));

    notes.push(format!(
        "**Hit path (target 0.6 × the better peer).** The designs table takes the hit \
         path apart. The precise clock (`bpf_ktime_get_boot_ns`, {} ns over empty \
         here: `read_tsc` is `lfence; rdtsc` in this KVM guest, and every helper \
         call and return goes through the Spectre mitigations' thunks) was a third \
         of it; the coarse clock, now the default (ABI 3, `--clock precise` keeps \
         the old one), costs {} ns, and the shipped body with the precise clock \
         measures {} ns against {} with the coarse one. ABI 4 gives IPv4 flows \
         maps of their own, keyed by the first 24 bytes of the flow key (`struct \
         flow_key4`: the key puts its addresses last, packed, so that an IPv4 key \
         is a prefix of the full one and the parser fills one key for both \
         families): a hit costs {} ns against {} on the 48-byte key (jhash over 6 \
         words instead of 12, half the `memcmp`), and the whole body {} ns against \
         {} with IPv4 flows under the 48-byte key, in the same rounds. IPv6 flows \
         keep the full key (their addresses alone are 32 bytes). What is left on \
         the IPv4 path: the coarse clock and the hit together ({} ns, the floor of \
         this key), parsing ({} ns), two atomic adds, the statistics, config and \
         selector lookups, and the tail call. Tried and measured: plain instead \
         of atomic adds saves {} ns (and loses counts when CPUs share a flow); a \
         per-CPU map is no cheaper on one CPU ({} ns); the selector, config and \
         statistics-slot lookups together cost {} ns (array lookups the verifier \
         inlines), so one combined slot could save at most that — not taken.",
        f0("designs.one_cpu.clock_boot.over_empty_ns"),
        f0("designs.one_cpu.clock_coarse.over_empty_ns"),
        f0("designs.one_cpu.shared_precise.over_empty_ns"),
        f0("designs.one_cpu.shared_atomic.over_empty_ns"),
        f0("designs.one_cpu.lookup_v4.over_empty_ns"),
        f0("designs.one_cpu.lookup.over_empty_ns"),
        f0("designs.one_cpu.shared_atomic.over_empty_ns"),
        f0("designs.one_cpu.full_key.over_empty_ns"),
        f0("designs.one_cpu.clock_lookup_v4.over_empty_ns"),
        f0("designs.one_cpu.parse.over_empty_ns"),
        fmt(
            g("designs.one_cpu.shared_atomic.over_empty_ns")
                .zip(g("designs.one_cpu.shared_plain.over_empty_ns"))
                .map(|(a, b)| a - b),
            0
        ),
        f0("designs.one_cpu.percpu.over_empty_ns"),
        f0("designs.one_cpu.slots.over_empty_ns"),
    ));

    let shared2 = g("designs.two_cpus.shipped.ns");
    let percpu2 = g("designs.two_cpus.percpu.ns");
    let together = g("designs.two_cpus.side_by_side");
    let contended = shared2.zip(percpu2).is_some_and(|(s, p)| s > 1.1 * p);
    let two_cpus = if contended {
        format!(
            "With two CPUs hitting one flow the shared map costs {} ns/packet \
             against {} for per-CPU: the flow's cache line moves between the CPUs \
             on every packet (the pinned threads ran side by side for {} of each \
             run).",
            fmt(shared2, 0),
            fmt(percpu2, 0),
            fmt(together, 2),
        )
    } else {
        format!(
            "With two CPUs hitting one flow this run measured {} ns/packet for the \
             shared map and {} per-CPU, although the pinned threads ran side by \
             side ({} of each run) and the plain adds lost counts, so their \
             accesses did interleave: most likely the two vCPUs sat on one physical \
             core of the host, sharing its caches. Where the host placed them apart the \
             same test measured 145 ns shared against 108 per-CPU (earlier runs \
             while preparing this file).",
            fmt(shared2, 0),
            fmt(percpu2, 0),
            fmt(together, 2),
        )
    };
    notes.push(format!(
        "**Shared map with atomics vs per-CPU map.** On one CPU they cost the same \
         ({} vs {} ns over empty). {two_cpus} The shipped design stays: a flow sent \
         by two CPUs at once at line rate is the exception (RSS steers a flow to \
         one queue), per-CPU values would multiply the kernel memory of every flow \
         by the CPU count and the drain work with it, and the ABI (one \
         `flow_value` per key) would change. Plain adds on the shared map are not \
         an option: they lost {} % of the counts in the same test.",
        f0("designs.one_cpu.shared_atomic.over_empty_ns"),
        f0("designs.one_cpu.percpu.over_empty_ns"),
        f2("designs.two_cpus.shared_plain.lost_packets_pct"),
    ));

    notes.push(format!(
        "**New-flow path (target 0.5 × before).** \"Before\" is the design of ABI 3, \
         IPv4 flows under the 48-byte key in on-demand maps, re-measured in every \
         run as a bench build of the body. Measured one call per frame, a new flow \
         costs {} ns over empty against {} before ({}×), and a hit on the same \
         frames {} ns; a single call runs with cold caches, which inflates the hit \
         more than the insert. In a warm loop (bench variant: the shipped \
         `flow_account()` on a key made new by a run counter) a new flow costs {} \
         ns against {} before ({}×), and a hit {} ns. The compact key saves little \
         here because the insert is the kernel's: in a `BPF_F_NO_PREALLOC` hash \
         map, a second hash and bucket walk under the bucket lock, an element from \
         the BPF memory allocator (refilled from slab in irq_work, and given back \
         through it when the drain deletes the entry) and writing cold cache lines \
         (a random bucket, a fresh element). `run --flow-map-alloc preallocated` \
         creates the flow maps without that flag: an insert takes an element off \
         a per-CPU free list, {} ns one call per frame ({}× before) and {} ns in \
         the warm loop ({}×). Its price is memory, reserved whether flows come or \
         not: {} MiB per interface and direction (four maps of {} entries) against \
         {} MiB for the on-demand maps with no flow and {} MiB with the active IPv4 \
         map full (the kernel section's memory rows, `memlock` of every map). So \
         the default stays on-demand — what l3afd loads, and what a host of many \
         quiet interfaces can afford — and a DNS or load-balancer host, which sees \
         a new flow per packet, opts in. Not taken: an LRU map (preallocated, but \
         it evicts flows silently when full, and their counts with them); a \
         per-CPU staging area for new flows (the packets that follow still need \
         the flow in the shared map to be counted once). Every flow pays the \
         insert once per interval (the retired map is emptied), not once per \
         lifetime.",
        f0("kernel.new_flow.over_empty_ns"),
        f0("kernel.new_flow_before.over_empty_ns"),
        fmt(
            g("kernel.new_flow.over_empty_ns")
                .zip(g("kernel.new_flow_before.over_empty_ns"))
                .map(|(a, b)| a / b),
            2
        ),
        f0("kernel.per_call.hit_over_empty_ns"),
        f0("designs.warm.new_flow.over_empty_ns"),
        f0("designs.warm.new_flow_before.over_empty_ns"),
        fmt(
            g("designs.warm.new_flow.over_empty_ns")
                .zip(g("designs.warm.new_flow_before.over_empty_ns"))
                .map(|(a, b)| a / b),
            2
        ),
        f0("designs.warm.same_flow.over_empty_ns"),
        f0("kernel.new_flow_prealloc.over_empty_ns"),
        fmt(
            g("kernel.new_flow_prealloc.over_empty_ns")
                .zip(g("kernel.new_flow_before.over_empty_ns"))
                .map(|(a, b)| a / b),
            2
        ),
        f0("designs.warm.new_flow_prealloc.over_empty_ns"),
        fmt(
            g("designs.warm.new_flow_prealloc.over_empty_ns")
                .zip(g("designs.warm.new_flow_before.over_empty_ns"))
                .map(|(a, b)| a / b),
            2
        ),
        fmt(g("kernel.memory.prealloc.idle_mib"), 1),
        crate::report::fmt_value(f64::from(ipfix_flow_exporter::abi::FLOW_MAP_MAX_ENTRIES)),
        fmt(g("kernel.memory.on_demand.idle_mib"), 1),
        fmt(g("kernel.memory.on_demand.full_mib"), 1),
    ));

    notes.push(format!(
        "**User space (targets 1 M records/s; 1 M flows in ≤ 1 s CPU).** The \
         kernel's side of the drain bounds both. `BPF_MAP_LOOKUP_AND_DELETE_BATCH` \
         alone, with nothing done with the entries, moves {} entries/s at 100 k \
         IPv4 entries when each call takes one message's worth (what the meter did \
         before), {} with the meter's chunk of {} messages (what ships now), {} with \
         4096 (one key at a time: {}); from preallocated flow maps {} with the \
         meter's chunk, because a deleted element goes back on a free list instead \
         of through the BPF memory allocator. Per bucket the call takes the bucket \
         lock, copies keys and values out with two `copy_to_user` calls (each \
         through the hardened-usercopy checks) and frees every element. At 1 M \
         entries the default drain alone runs at {} entries/s, about {} s for the \
         interval. User space adds about {} µs per record at 100 k flows on one \
         thread (flowId table: SipHash and the cache misses of a probe into a \
         table far larger than the caches; building the record; encoding, {} M \
         records/s on its own). Whole runs of `make bench` on this VM moved the \
         default's steady rate between 0.82 and 1.41 M records/s on one day; the \
         ratios to the design before, taken in alternating rounds, hold better. \
         So the drain now runs as two stages on two \
         threads (`src/datapath/kernel_source.rs`): one takes chunks from the \
         kernel while the other turns the chunk before into records, at most one \
         chunk ahead (a crash loses at most two chunks, the README's SIGKILL \
         row). The designs rows put the changes side by side at 100 k flows, \
         against the design before re-measured in the same alternating rounds: \
         steady state {} records/s before, {} with the larger chunk on one thread \
         ({}×), {} on two threads ({}×), {} with preallocated maps as well ({}×). \
         The two threads shorten the interval, not its CPU time: one interval at \
         1 M flows sent to loopback took {} s of CPU before, {} s on one thread \
         with the larger chunk, {} s on two, {} s preallocated. Measured and not \
         taken: swapping a fresh inner map into a map of maps each interval and \
         reading the retired one without deletes. At 1 M entries the read costs \
         this process {} s of CPU against {} s for the lookup-and-delete, but the \
         kernel then frees the dropped map's elements one by one in a kworker: {} \
         ms of CPU, outside this process's accounting and not gone — more in all \
         than the drain it replaces, and l3afd would have to load an outer map \
         whose inner maps only the daemon creates. Not taken: a faster, weaker \
         hash for the flowId table, such as foldhash (hashbrown's default): flow \
         keys are chosen by whoever sends packets, and foldhash's own \
         documentation advises against it where someone may study a \
         long-running program to make colliding inputs; SipHash stays. Keeping \
         IPv4 keys as their 24 bytes (a table of their own) halved the table's \
         entries for them. Peak RSS at 1 M flows ({} MB) is the flowId table while it \
         doubles (old and new table side by side), within the 256 MB target.",
        f0("userspace.drain.batch_message_per_s"),
        f0("userspace.drain.batch_chunk_per_s"),
        ipfix_flow_exporter::daemon::DRAIN_CHUNK_MESSAGES,
        f0("userspace.drain.batch_4096_per_s"),
        f0("userspace.drain.per_key_per_s"),
        f0("userspace.drain_prealloc.batch_chunk_per_s"),
        f0("userspace.drain_1m.batch_chunk_per_s"),
        fmt(
            g("userspace.drain_1m.batch_chunk_per_s").map(|r| 1e6 / r),
            2
        ),
        fmt(
            g("userspace.design.one_thread.first_records_per_s")
                .zip(g("userspace.drain.batch_chunk_per_s"))
                .map(|(t, d)| 1e6 / t - 1e6 / d),
            2
        ),
        fmt(g("userspace.drain.encode_only_per_s").map(|v| v / 1e6), 1),
        f0("userspace.design.before.steady_records_per_s"),
        f0("userspace.design.one_thread.steady_records_per_s"),
        ratio(g, "userspace.design.one_thread.steady_records_per_s"),
        f0("userspace.design.shipped.steady_records_per_s"),
        ratio(g, "userspace.design.shipped.steady_records_per_s"),
        f0("userspace.design.prealloc.steady_records_per_s"),
        ratio(g, "userspace.design.prealloc.steady_records_per_s"),
        f2("userspace.interval_1m_before.udp.cpu_s"),
        f2("userspace.interval_1m_one_thread.udp.cpu_s"),
        f2("userspace.interval_1m.udp.cpu_s"),
        f2("userspace.interval_1m_prealloc.udp.cpu_s"),
        f2("userspace.swap_1m.lookup_cpu_s"),
        f2("userspace.swap_1m.delete_cpu_s"),
        f0("userspace.swap_1m.free_busy_ms"),
        f0("userspace.interval_1m.udp.peak_rss_mb"),
    ));

    let veth_ratio = g("veth.ratio");
    let veth_cost = if veth_ratio.is_some_and(|r| r > VETH_NOISE_ABOVE) {
        format!(
            "this run measured more packets per second with the exporter than \
             without ({}×): the noise of the run exceeded the exporter's cost, so \
             the measurement says nothing either way",
            fmt(veth_ratio, 3)
        )
    } else {
        format!(
            "the exporter's two tc programs cost {:.1} % of that CPU",
            veth_ratio.map_or(f64::NAN, |x| (1.0 - x) * 100.0)
        )
    };
    notes.push(format!(
        "**veth.** {} packets/s without, {} with: {veth_cost}. The sending CPU \
         spends about {:.1} µs on each 60-byte packet (sender, veth and receiver \
         path together); the kernel figures put the hit path at {} ns of that, \
         which predicts {}× — the target line counts the measurement only where \
         it lies between 0.97 and {VETH_NOISE_ABOVE} and the prediction agrees. The \
         per-packet cost in a live stack is somewhat above the test-run figure \
         (caches shared with the rest of the stack). Runs on this 2-vCPU VM vary \
         by ±10 % with whatever else is running, so the ratio is taken per \
         alternating pair; over earlier runs it came out between 0.835 and \
         0.958, and over six full runs on the day flow ABI 4 landed at 0.879, \
         0.915, 0.933, 0.973, 1.000 and 1.070 — so the target line may read met in one run \
         and missed in the next.",
        f0("veth.without.pps"),
        f0("veth.with.pps"),
        g("veth.without.pps").map_or(f64::NAN, |p| 1e6 / p),
        f0("kernel.hit.ipv4_tcp.over_empty_ns"),
        fmt(veth_estimate(&g), 3),
    ));
    notes.push(format!(
        "**Idle.** An idle `run` used to poll every 20 ms (50 wake-ups a second, \
         0.17 % of a CPU over 30 s, measured when the issue was filed). It now \
         sleeps until its next deadline and a signal wakes it through a pipe: \
         {} wake-ups/s, {} % of a CPU. What is left: one look a second at the \
         datapath totals for the monitor maps (a per-CPU lookup per counter and \
         direction: 12 `bpf()` calls), and the interval itself every 10 s \
         (flip, RCU grace period, an empty drain, the interface list, the \
         options records).",
        fmt(g("idle.wakeups_per_s"), 1),
        fmt(g("idle.cpu_pct"), 3),
    ));
    r.notes = notes;
}
