//! Command-line arguments, as parsed by clap. Validation into typed
//! configuration happens in `config.rs`.

use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgAction, Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::config_file::FlagKind;

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
    /// A live view of the biggest flows of the last --window, per exporter
    /// and direction, redrawn each second; keys: o sort by octets, p by
    /// packets, q quit. Needs stdout to be a terminal.
    Top,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortArg {
    Octets,
    Packets,
}

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Where to listen: udp://ADDR:PORT, tcp://ADDR:PORT or
    /// tls://ADDR:PORT (repeatable).
    #[arg(long, value_name = "URL", default_value = "udp://127.0.0.1:4739", value_parser = parse_listen)]
    pub listen: Vec<Endpoint>,
    /// Certificate (PEM, with its chain) tls:// listeners show exporters.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Require exporters on tls:// listeners to show a certificate this CA
    /// (PEM) signed (mutual authentication).
    #[arg(long, value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,
    /// How to print what arrives.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
    /// --format top: rows sum the records received in the last DURATION, a
    /// sliding window (a record counts from its arrival until DURATION
    /// later; the view is redrawn each second) [default: 10s, run's
    /// --active-timeout, so a row is about one export interval's traffic].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub window: Option<Duration>,
    /// --format top: rank flows by octets or packets first (the keys o and p
    /// switch) [default: octets].
    #[arg(long, value_enum, value_name = "KEY")]
    pub sort: Option<SortArg>,
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
    /// Every entry of every flow map reserved at start: new flows and the
    /// drain cost less, 4 x --max-flows entries stay allocated.
    Preallocated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    /// One JSON object per flow record on stdout.
    Json,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A TOML file of run's flags (`iface = ["eth0"]`, `active-timeout =
    /// "10s"`); flags given here win over it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
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
    /// Capacity of each flow map: per direction, this many IPv4 flows and as
    /// many others (IPv6) per interval.
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
    /// IPFIX collector, [udp://|tcp://|tls://]HOST[:PORT] (port 4739 when
    /// omitted, 4740 for tls://); repeat for several collectors.
    #[arg(long, value_name = "URL", value_parser = parse_collector)]
    pub collector: Vec<Endpoint>,
    /// CA certificates (PEM) that tls:// collectors' certificates must
    /// chain to [default: /etc/ssl/certs/ca-certificates.crt].
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM, with its chain) shown to tls:// collectors
    /// that ask for one; needs --tls-key.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
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

impl Cli {
    /// Parses `argv`; for `run --config FILE`, the file's keys become the
    /// flags the command line does not give (`config_file.rs`), and the
    /// whole is parsed again, so that both are checked by one definition.
    pub fn parse_with_config(argv: &[String]) -> Result<Self, CliError> {
        // Leniently first: a flag the file gives (--iface) may be missing.
        let matches = Cli::command()
            .ignore_errors(true)
            .try_get_matches_from(argv)?;
        let given = matches.subcommand_matches("run");
        let Some(path) = given.and_then(|m| m.get_one::<PathBuf>("config")).cloned() else {
            return Ok(Cli::try_parse_from(argv)?);
        };
        let text = std::fs::read_to_string(&path).map_err(|e| CliError::File {
            path: path.clone(),
            why: e.to_string(),
        })?;
        let cmd = Cli::command();
        let run_cmd = cmd.find_subcommand("run").ok_or_else(|| CliError::File {
            path: path.clone(),
            why: "no run command".to_owned(),
        })?;
        let by_long = |long: &str| run_cmd.get_arguments().find(|a| a.get_long() == Some(long));
        let kind = |long: &str| {
            let arg = by_long(long).filter(|a| a.get_id() != "config")?;
            Some(match arg.get_action() {
                ArgAction::SetTrue => FlagKind::Switch,
                ArgAction::Append => FlagKind::Many,
                _ => FlagKind::One,
            })
        };
        let keys = crate::config_file::flags(&text, kind).map_err(|e| CliError::File {
            path: path.clone(),
            why: e.to_string(),
        })?;
        let mut all = argv.to_vec();
        for (key, words) in keys {
            let on_command_line = by_long(&key).is_some_and(|a| {
                given.and_then(|m| m.value_source(a.get_id().as_str()))
                    == Some(ValueSource::CommandLine)
            });
            if !on_command_line {
                all.extend(words);
            }
        }
        Cli::try_parse_from(all).map_err(|e| {
            let first = e.to_string();
            let first = first.lines().next().unwrap_or("invalid value").to_owned();
            CliError::File { path, why: first }
        })
    }
}

/// Why the arguments (or the `--config` file) were refused.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Clap(#[from] clap::Error),
    #[error("--config {}: {why}", path.display())]
    File { path: PathBuf, why: String },
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

    /// `run --config FILE ...` with `toml` as the file's text.
    fn with_file(toml: &str, args: &[&str]) -> Result<RunArgs, String> {
        let dir = std::env::temp_dir().join(format!(
            "ipfix-cli-test-{}-{}",
            std::process::id(),
            toml.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.toml");
        std::fs::write(&file, toml).unwrap();
        let mut argv: Vec<String> = ["ipfix-flow-exporter", "run", "--config"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        argv.push(file.display().to_string());
        argv.extend(args.iter().map(|s| s.to_string()));
        let got = Cli::parse_with_config(&argv);
        std::fs::remove_dir_all(&dir).unwrap();
        match got.map_err(|e| e.to_string())?.command {
            Command::Run(r) => Ok(*r),
            Command::Collect(_) => unreachable!("run was parsed"),
        }
    }

    #[test]
    fn a_config_file_gives_every_flag_and_the_command_line_wins() {
        let toml = "iface = [\"eth0\", \"veth*\"]\nactive-timeout = \"5s\"\n\
                    collector = [\"192.0.2.1\", \"tcp://192.0.2.2\"]\nreplace-pins = true\n\
                    mtu = 1200\n";
        let a = with_file(toml, &[]).unwrap();
        assert_eq!(a.iface, ["eth0", "veth*"]);
        assert_eq!(a.active_timeout, Duration::from_secs(5));
        assert_eq!(a.collector.len(), 2);
        assert!(a.replace_pins);
        assert_eq!(a.mtu, 1200);
        // The command line replaces a key, lists included.
        let a = with_file(toml, &["--iface", "lo", "--active-timeout", "1s"]).unwrap();
        assert_eq!(a.iface, ["lo"]);
        assert_eq!(a.active_timeout, Duration::from_secs(1));
        assert_eq!(a.collector.len(), 2, "what the command line does not give");
    }

    /// The README's example file is a valid one.
    #[test]
    fn the_readme_example_config_parses() {
        let readme = include_str!("../README.md");
        let start = readme
            .find("```toml\n")
            .expect("a toml block in the README")
            + 8;
        let len = readme[start..].find("```").expect("its end");
        let a = with_file(&readme[start..start + len], &[]).unwrap();
        assert_eq!(a.iface, ["eth0", "veth*"]);
        assert_eq!(a.collector.len(), 2);
        assert!(a.metrics_listen.is_some() && !a.sysuptime_elements);
    }

    /// The Debian package's example config (l3af/deb/) is a valid one.
    #[test]
    fn the_packaged_config_parses() {
        let a = with_file(include_str!("../l3af/deb/config.toml"), &[]).unwrap();
        assert_eq!(a.exclude_iface, ["lo"]);
        assert_eq!(a.collector.len(), 1);
        assert_eq!(a.observation_domain_id, Some(1));
    }

    #[test]
    fn a_config_file_mistake_names_the_file_the_line_and_the_key() {
        let err = with_file("iface = \"eth0\"\nactive-timeuot = \"5s\"\n", &[]).unwrap_err();
        assert!(
            err.starts_with("--config ")
                && err.contains("config.toml: line 2: unknown key \"active-timeuot\""),
            "{err}"
        );
        let err = with_file("iface = \"eth0\"\nmtu = \"big\"\n", &[]).unwrap_err();
        assert!(
            err.contains("config.toml") && err.contains("--mtu") && err.contains("big"),
            "{err}"
        );
        let err = with_file("iface = \"eth0\"\nconfig = \"other.toml\"\n", &[]).unwrap_err();
        assert!(err.contains("line 2: unknown key \"config\""), "{err}");
    }

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
