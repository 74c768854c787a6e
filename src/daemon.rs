//! The export loop: tick, retire, drain, export; signals; final flush.
//!
//! It does not care who loaded the objects: standalone `run` and the l3afd
//! modes hand it exporters over their maps.

use std::time::{Duration, Instant};

use std::net::TcpListener;
use std::os::fd::BorrowedFd;
use std::rc::Rc;

use crate::config::ExportConfig;
use crate::datapath::kernel_source::KernelSource;
use crate::datapath::maps::DatapathMaps;
use crate::datapath::rcu::RcuBarrier;
use crate::export::sinks::ExportSinks;
use crate::flow::clock::{Clock, TimeBase};
use crate::flow::exporter::{ExporterConfig, FlowExporter};
use crate::flow::ids::IdAllocator;
use crate::flow::record_sink::RecordSink;
use crate::flow::FlowStats;
use crate::ifselect::InterfaceSelector;
use crate::metrics::Metrics;

use crate::ipfix::Mtu;
use crate::schema::records_per_message;
use crate::sys::SystemClock;

/// How often the monitor maps get the datapath's totals, whatever the export
/// interval. l3afd reads them once a second and its `max-rate` aggregator
/// takes the largest difference of two readings: published this often, a
/// difference spans 0.9–1.1 s of traffic, so max-rate is a per-second rate
/// within 10 % (published once per 10 s interval, it would read 10 s of
/// traffic once and 0 nine times).
pub const MONITOR_PUBLISH: Duration = Duration::from_millis(100);
/// While the totals do not change, the monitor maps are looked at half as
/// often each time, down to once a second (l3afd reads them once a
/// second): an idle exporter wakes about once a second, not ten times.
pub const MONITOR_IDLE: Duration = Duration::from_secs(1);

/// When to look at the datapath totals next for the monitor maps: every
/// [`MONITOR_PUBLISH`] while they change, backing off to [`MONITOR_IDLE`]
/// while they do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorSchedule {
    pub next: Instant,
    period: Duration,
}

impl MonitorSchedule {
    pub fn new(now: Instant) -> Self {
        MonitorSchedule {
            next: now + MONITOR_PUBLISH,
            period: MONITOR_PUBLISH,
        }
    }

    /// After a look at `now`: `changed` says whether the totals moved.
    pub fn looked(&mut self, now: Instant, changed: bool) {
        self.period = if changed {
            MONITOR_PUBLISH
        } else {
            (self.period * 2).min(MONITOR_IDLE)
        };
        self.next = now + self.period;
    }
}

pub use crate::stop::StopFlag;
use crate::stop::Woken;

/// Logs at most once per power-of-two count of the same failure.
#[derive(Default)]
pub struct FailureLog {
    count: u64,
}

impl FailureLog {
    pub fn record(&mut self, what: &str, err: &anyhow::Error) {
        self.count += 1;
        if self.count.is_power_of_two() {
            log::error!("{what} failed ({} times so far): {err:#}", self.count);
        }
    }
}

pub type KernelExporter = FlowExporter<KernelSource>;

/// Messages' worth of flow records taken from the kernel per batch call.
/// One message per call spent a sixth of an interval's CPU on the calls
/// themselves (BENCHMARKS.md, "User space"); a crash between taking a chunk
/// and sending it loses at most this many messages' records.
pub const DRAIN_CHUNK_MESSAGES: usize = 16;

/// Flow records drained per batch call at `mtu`.
pub fn drain_chunk(mtu: Mtu) -> usize {
    records_per_message(mtu) * DRAIN_CHUNK_MESSAGES
}

/// Flow exporters over the maps of each direction, sharing one flowId space.
pub fn exporters(
    maps: Vec<DatapathMaps>,
    rcu: &Rc<RcuBarrier>,
    cfg: &ExportConfig,
    max_flows: usize,
    clock: &dyn Clock,
) -> Vec<KernelExporter> {
    let ids = IdAllocator::new(clock.epoch_ms());
    let chunk = drain_chunk(cfg.mtu);
    maps.into_iter()
        .map(|m| {
            let direction = m.direction;
            FlowExporter::new(
                KernelSource::new(m, Rc::clone(rcu)),
                &ExporterConfig {
                    direction,
                    idle_timeout: cfg.idle_timeout,
                    ids: ids.clone(),
                    // One interval brings at most max_flows IPv4 and as many
                    // other flows; the ids of two intervals are remembered.
                    max_known_flows: 4 * max_flows,
                    chunk,
                },
            )
        })
        .collect()
}

fn maps(m: &mut KernelExporter) -> &DatapathMaps {
    &m.source_mut().maps
}

/// One interval for every exporter; failures are logged and survived.
pub fn run_interval(
    exporters: &mut [KernelExporter],
    clock: &dyn Clock,
    shutting_down: bool,
    sink: &mut dyn RecordSink,
    failures: &mut FailureLog,
    mut metrics: Option<&mut Metrics>,
) {
    for m in exporters.iter_mut() {
        let dir = m.direction().as_str();
        let started = Instant::now();
        match m.interval(clock, shutting_down, sink) {
            Ok(r) => {
                if let Some(metrics) = metrics.as_deref_mut() {
                    metrics.interval(m.direction(), r.records, started.elapsed());
                }
                log::debug!(
                    "{dir}: exported {} records, {} packets, {} octets",
                    r.records,
                    r.packets,
                    r.octets
                );
                // The totals the sinks got, not a second read.
                if let Err(e) = maps(m).publish_monitors(&r.totals) {
                    failures.record("publishing monitor maps", &e);
                }
            }
            Err(e) => failures.record(&format!("{dir} export interval"), &e),
        }
    }
    sink.end_of_interval();
}

/// Publishes the datapath totals into the monitor maps when they moved
/// since `last`; true when they did.
fn publish_monitors(
    m: &mut KernelExporter,
    last: &mut Option<FlowStats>,
    failures: &mut FailureLog,
) -> bool {
    let res = maps(m).stats().and_then(|s| {
        if *last == Some(s) {
            return Ok(false);
        }
        maps(m).publish_monitors(&s)?;
        *last = Some(s);
        Ok(true)
    });
    res.unwrap_or_else(|e| {
        failures.record("publishing monitor maps", &e);
        true
    })
}

/// The interfaces a mode attaches to, followed while the loop runs
/// (standalone `run`; l3afd attaches for us).
pub trait FollowedInterfaces {
    /// Readable when interfaces came or went.
    fn events(&self) -> BorrowedFd<'_>;
    /// Looks at the interfaces again after `events` was readable, attaching
    /// and detaching; the indices of the interfaces that went away.
    fn changed(&mut self) -> Vec<u32>;
    /// A reload: meters the interfaces `selector` matches from now on;
    /// the indices of the interfaces detached.
    fn reselect(&mut self, selector: InterfaceSelector) -> Vec<u32>;
    /// At the stop, before the final flush.
    fn detach_all(&mut self);
    /// How many interfaces are attached now.
    fn attached(&self) -> usize;
}

/// What a reload (SIGHUP, standalone `run`) changes while the loop runs.
#[derive(Debug, Clone)]
pub struct Reloaded {
    pub export: ExportConfig,
    pub interfaces: InterfaceSelector,
}

/// Reads the configuration again; `None` when it cannot be applied (the
/// hook logs why, the run goes on as it was).
pub type ReloadHook<'i> = &'i mut dyn FnMut() -> Option<Reloaded>;

/// What the loop keeps up to date besides the export: the interfaces the
/// mode follows, the metrics it serves, the reload it answers.
#[derive(Default)]
pub struct Watch<'i> {
    pub interfaces: Option<&'i mut dyn FollowedInterfaces>,
    pub metrics: Option<Metrics>,
    pub reload: Option<ReloadHook<'i>>,
}

/// How long after the last of a batch of departures the interval that
/// exports the departed interfaces' last flows runs (ahead of the regular
/// one, never after it).
pub const GONE_EXPORT_DELAY: Duration = Duration::from_millis(500);

/// Exports what predecessors left, then an interval every `every` until
/// `stop` is set, following `interfaces` as they change. Returns without
/// the final flush (the caller decides, after detaching, see
/// [`final_flush`]).
pub fn run_until_stopped<'i>(
    exporters: &mut [KernelExporter],
    clock: &dyn Clock,
    mut every: Duration,
    stop: &StopFlag,
    sink: &mut ExportSinks,
    failures: &mut FailureLog,
    watch: &mut Watch<'i>,
) {
    for m in exporters.iter_mut() {
        match m.drain_leftovers(clock, sink) {
            Ok(r) if r.records > 0 => log::info!(
                "{}: exported {} records a previous run left in the maps",
                m.direction().as_str(),
                r.records
            ),
            Ok(_) => {}
            Err(e) => failures.record("draining leftovers", &e),
        }
    }
    let mut next = clock.now() + every;
    // An interval ahead of `next` for the last flows of interfaces that
    // went away.
    let mut departures: Option<Instant> = None;
    let mut monitors = MonitorSchedule::new(clock.now());
    let mut published: Vec<Option<FlowStats>> = vec![None; exporters.len()];
    while !stop.is_set() {
        let now = clock.now();
        if now >= monitors.next {
            let mut changed = false;
            for (m, last) in exporters.iter_mut().zip(&mut published) {
                changed |= publish_monitors(m, last, failures);
                if let (Some(metrics), Some(totals)) = (watch.metrics.as_mut(), last) {
                    metrics.datapath(m.direction(), totals);
                }
            }
            monitors.looked(now, changed);
            if let Some(metrics) = watch.metrics.as_mut() {
                metrics.collectors(&sink.collectors());
                if let Some(i) = watch.interfaces.as_deref() {
                    metrics.interfaces(i.attached());
                }
            }
        }
        let due = departures.map_or(next, |d| d.min(next));
        if now < due {
            // Sleep until the next deadline: the interval, the monitor
            // maps, or a sink with work in progress; a signal or an
            // interface coming or going ends it.
            let wake = sink
                .next_poll(now)
                .unwrap_or(due)
                .min(due)
                .min(monitors.next);
            let events = watch.interfaces.as_deref().map(FollowedInterfaces::events);
            let woken = stop.sleep_watching(wake.saturating_duration_since(now), events);
            let gone = match (woken, watch.interfaces.as_deref_mut()) {
                (Woken::Event, Some(i)) => i.changed(),
                (Woken::Reload, _) if stop.take_reload() => {
                    reload(watch, sink, clock.now(), &mut every, &mut next)
                }
                _ => Vec::new(),
            };
            if !gone.is_empty() {
                for m in exporters.iter_mut() {
                    m.interfaces_gone(&gone);
                }
                // Their last flows go out once departures have settled for
                // a moment (a batch of them shares one interval), and no
                // later than the interval's end.
                departures = Some(clock.now() + GONE_EXPORT_DELAY);
            }
            sink.poll();
            continue;
        }
        run_interval(
            exporters,
            clock,
            false,
            sink,
            failures,
            watch.metrics.as_mut(),
        );
        if departures.take().is_some_and(|d| d < next) {
            // Ahead of the schedule, which stays.
            continue;
        }
        next += every;
        if next < clock.now() {
            // The export took longer than an interval: do not try to catch up.
            next = clock.now() + every;
        }
    }
}

/// SIGHUP: reads the configuration again through the mode's hook and, when
/// it can be applied, moves the sinks, the interval (the next one comes no
/// later than a new, shorter interval from `now`) and the interfaces over
/// to it; the interfaces it detached.
fn reload(
    watch: &mut Watch<'_>,
    sink: &mut ExportSinks,
    now: Instant,
    every: &mut Duration,
    next: &mut Instant,
) -> Vec<u32> {
    let Some(r) = watch.reload.as_mut().and_then(|hook| hook()) else {
        return Vec::new();
    };
    sink.reconfigure(&r.export, now + FLUSH_DEADLINE);
    if r.export.active_timeout != *every {
        *every = r.export.active_timeout;
        *next = (*next).min(now + *every);
    }
    log::info!("reloaded the configuration");
    watch
        .interfaces
        .as_deref_mut()
        .map_or_else(Vec::new, |i| i.reselect(r.interfaces))
}

/// How long the final flush may wait for slow collectors: SIGTERM must end
/// the process within 2 s.
pub const FLUSH_DEADLINE: Duration = Duration::from_millis(600);

/// Exports both pairs of flow maps of every exporter as "forced end" (two flips, so that
/// even packets metered during the first drain are exported), then gives
/// the sinks until the deadline to write it out.
pub fn final_flush(
    exporters: &mut [KernelExporter],
    clock: &dyn Clock,
    sink: &mut ExportSinks,
    failures: &mut FailureLog,
    started: Instant,
) {
    for _ in 0..2 {
        run_interval(exporters, clock, true, sink, failures, None);
    }
    sink.flush(started + FLUSH_DEADLINE);
}

/// What the mode around the export loop does while it runs.
pub struct Hooks<'a> {
    /// The interfaces standalone `run` follows; detached at the stop,
    /// before the final flush.
    pub interfaces: Option<&'a mut dyn FollowedInterfaces>,
    /// After the signal, before the final flush (and the detach).
    pub before_flush: &'a mut dyn FnMut(),
    /// Where Prometheus scrapes (`--metrics-listen`, bound at start).
    pub metrics: Option<TcpListener>,
    /// SIGHUP's reload (standalone `run`; l3afd stops on SIGHUP).
    pub reload: Option<ReloadHook<'a>>,
}

/// The export side of every mode: exporters over `maps`, the sinks `cfg`
/// asks for, intervals until a signal, then `hooks.before_flush` and the
/// final flush.
pub fn serve(
    maps: Vec<DatapathMaps>,
    rcu: &Rc<RcuBarrier>,
    cfg: &ExportConfig,
    default_domain: u32,
    max_flows: usize,
    stop: &StopFlag,
    mut hooks: Hooks<'_>,
) -> anyhow::Result<()> {
    let clock = SystemClock { kernel: cfg.clock };
    let mut exporters = exporters(maps, rcu, cfg, max_flows, &clock);
    let boot_epoch_ms = TimeBase::sample(&clock).boot_epoch_ms();
    let mut sink = ExportSinks::new(cfg, default_domain, boot_epoch_ms);
    let mut failures = FailureLog::default();
    let metrics = match hooks.metrics.take() {
        Some(listener) => {
            let (metrics, registry) = Metrics::new();
            crate::metrics::serve(listener, registry)?;
            Some(metrics)
        }
        None => None,
    };
    let mut watch = Watch {
        interfaces: hooks.interfaces.take(),
        metrics,
        reload: hooks.reload.take(),
    };
    run_until_stopped(
        &mut exporters,
        &clock,
        cfg.active_timeout,
        stop,
        &mut sink,
        &mut failures,
        &mut watch,
    );
    let stopping = clock.now();
    (hooks.before_flush)();
    if let Some(i) = watch.interfaces {
        i.detach_all();
    }
    log::debug!("detached after {} ms", stopping.elapsed().as_millis());
    rcu.wait()?;
    // The collectors get FLUSH_DEADLINE to drain counted from the signal,
    // as the 2 s stop promises; when the detach alone took that long (many
    // interfaces, an RCU grace period each), counted from here instead: a
    // deadline already past would leave every final record queued for a
    // TCP collector unsent.
    let detached = clock.now();
    let started = if detached.saturating_duration_since(stopping) < FLUSH_DEADLINE {
        stopping
    } else {
        detached
    };
    final_flush(&mut exporters, &clock, &mut sink, &mut failures, started);
    log::info!(
        "final export done {} ms after the signal",
        stopping.elapsed().as_millis()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitors_back_off_while_idle_and_snap_back_on_change() {
        let t0 = Instant::now();
        let mut m = MonitorSchedule::new(t0);
        assert_eq!(m.next, t0 + MONITOR_PUBLISH);
        let mut now = m.next;
        let mut periods = Vec::new();
        for _ in 0..6 {
            m.looked(now, false);
            periods.push((m.next - now).as_millis());
            now = m.next;
        }
        assert_eq!(periods, [200, 400, 800, 1000, 1000, 1000]);
        m.looked(now, true);
        assert_eq!(m.next - now, MONITOR_PUBLISH);
    }
}
