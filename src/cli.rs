//! Command-line arguments, as parsed by clap. Validation into typed
//! configuration happens in `config.rs`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::endpoint::Endpoint;

#[derive(Debug, Parser)]
#[command(
    name = "ipfix-flow-exporter",
    version,
    about = "eBPF flow meter at tc ingress/egress, exporting IPFIX (RFC 7011)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load, attach and export flows of interfaces until stopped.
    Run(Box<RunArgs>),
    /// Receive IPFIX from any exporter and print the flows.
    Collect(CollectArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// A readable table, one flow per line.
    Table,
    /// One JSON object per record, one per line.
    Json,
}

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Where to listen: udp://ADDR:PORT or tcp://ADDR:PORT (repeatable).
    #[arg(long, value_name = "URL", default_value = "udp://127.0.0.1:4739", value_parser = parse_listen)]
    pub listen: Vec<Endpoint>,
    /// How to print what arrives.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
}

fn parse_listen(s: &str) -> Result<Endpoint, String> {
    Endpoint::parse_listen(s).map_err(|e| e.to_string())
}

fn parse_collector(s: &str) -> Result<Endpoint, String> {
    Endpoint::parse(s).map_err(|e| e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DirectionArg {
    Ingress,
    Egress,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AttachArg {
    /// TCX where the kernel has it (6.6+), clsact otherwise.
    Auto,
    Tcx,
    Tc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SampleModeArg {
    /// Every Nth packet, counted over all CPUs: the metered share is exact.
    Systematic,
    /// Each packet with probability 1/N.
    Random,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClockArg {
    /// CLOCK_MONOTONIC at the last kernel tick: one tick's resolution.
    Coarse,
    /// CLOCK_BOOTTIME: nanosecond resolution, a clocksource read per packet.
    Precise,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FlowMapAllocArg {
    /// Memory for the flows in use only, taken as each flow starts.
    OnDemand,
    /// Every entry of both flow maps reserved at start: new flows and the
    /// drain cost less, 2 x --max-flows entries stay allocated.
    Preallocated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    /// One JSON object per flow record on stdout.
    Json,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Interface to meter: a name, or a pattern (`*` any run of
    /// characters, `?` one) followed as interfaces come and go; repeatable.
    #[arg(
        long,
        value_name = "IFACE",
        required_unless_present = "all_interfaces",
        conflicts_with = "all_interfaces"
    )]
    pub iface: Vec<String>,
    /// Every interface of the network namespace, followed as interfaces
    /// come and go.
    #[arg(long)]
    pub all_interfaces: bool,
    /// Interfaces not to meter: a name or pattern; repeatable.
    #[arg(long, value_name = "IFACE")]
    pub exclude_iface: Vec<String>,
    /// Which tc hooks to meter.
    #[arg(long, value_enum, default_value_t = DirectionArg::Both)]
    pub direction: DirectionArg,
    /// Export interval: every active flow is exported at least this often,
    /// with delta counts (e.g. 10s, 500ms, 1m).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub active_timeout: std::time::Duration,
    /// A flow with no packet for this long has ended; its next packet starts
    /// a new flow (new flowId).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub idle_timeout: std::time::Duration,
    /// Capacity of each of the two flow maps per direction.
    #[arg(long, value_name = "N")]
    pub max_flows: Option<u32>,
    /// How the flow maps get their entries' memory (see README, "Memory").
    #[arg(long, value_enum, value_name = "HOW", default_value = "on-demand")]
    pub flow_map_alloc: FlowMapAllocArg,
    /// How to attach to tc.
    #[arg(long, value_enum, default_value_t = AttachArg::Auto)]
    pub attach: AttachArg,
    /// Directory the maps are pinned in [default:
    /// /sys/fs/bpf/ipfix-flow-exporter/<IFACE> for one plain --iface,
    /// /sys/fs/bpf/ipfix-flow-exporter/:host otherwise].
    #[arg(long, value_name = "DIR")]
    pub pin_path: Option<PathBuf>,
    /// Print exported flow records on stdout.
    #[arg(long, value_enum)]
    pub output: Option<OutputArg>,
    /// IPFIX collector, [udp://|tcp://]HOST[:PORT] (port 4739 when omitted);
    /// repeat for several collectors.
    #[arg(long, value_name = "URL", value_parser = parse_collector)]
    pub collector: Vec<Endpoint>,
    /// Largest IPFIX message in bytes (header included).
    #[arg(long, value_name = "BYTES", default_value_t = 1400)]
    pub mtu: usize,
    /// Resend templates over UDP this often.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub template_refresh: std::time::Duration,
    /// IPFIX observation domain ID [default: the interface's ifindex for
    /// one plain --iface, 1 otherwise: one domain for the host].
    #[arg(long, value_name = "ID")]
    pub observation_domain_id: Option<u32>,
    /// Flow records held per TCP collector while it is away or slow; beyond
    /// it the oldest are dropped and counted (notSentFlowTotalCount).
    #[arg(long, value_name = "N", default_value_t = 65_536)]
    pub tcp_queue_records: usize,
    /// Least time between two connection attempts to a TCP collector
    /// (RFC 7011 §10.4.4: once a minute).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub tcp_reconnect: std::time::Duration,
    /// Replace pinned maps in the pin directory that do not match this build
    /// (left by an older version) instead of refusing to start.
    #[arg(long)]
    pub replace_pins: bool,
    /// Records also carry flowStart/EndSysUpTime (templates 278-285, as the
    /// C package's do; always under l3afd). Collectors that see them may
    /// take them over the exact absolute times (nfdump does).
    #[arg(long)]
    pub sysuptime_elements: bool,
    /// Meter 1 in N packets (see --sample-mode); 1 meters every packet.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub sample_period: u32,
    /// How the 1 in N packets are chosen.
    #[arg(long, value_enum, value_name = "MODE", default_value = "systematic")]
    pub sample_mode: SampleModeArg,
    /// Serve Prometheus metrics at http://ADDR:PORT/metrics (a port of 1024
    /// or above: the exporter keeps no privilege to bind below).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The clock flows are timed with: coarse (the kernel tick, 1-10 ms
    /// resolution; the cheapest) or precise (CLOCK_BOOTTIME, ns).
    #[arg(long, value_enum, value_name = "CLOCK", default_value = "coarse")]
    pub clock: ClockArg,
}

/// `10s`, `500ms`, `2m`, `1h`, or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (like 10s, 500ms, 2m)"))?;
    let secs = match unit {
        "" | "s" => value,
        "ms" => value / 1e3,
        "us" => value / 1e6,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "{s:?} has unknown unit {unit:?} (use ms, s, m or h)"
            ))
        }
    };
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
