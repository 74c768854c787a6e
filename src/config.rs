//! Validated, typed configuration: argv → `Args` → `Config` → components.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use crate::abi::{FlowClock, FlowMapAlloc, SampleMode};
use crate::cli::{
    AttachArg, ClockArg, CollectArgs, DirectionArg, FlowMapAllocArg, FormatArg, OutputArg, RunArgs,
    SampleModeArg, SortArg,
};
use crate::endpoint::{Endpoint, Protocol};
use crate::flow::Direction;
use crate::ifselect::{InterfaceSelector, Pattern, IFNAME_MAX};
use crate::ipfix::Mtu;
use crate::pins::{standalone_dir, PinPathError, STANDALONE_BASE};
use crate::schema::Sampling;

/// Shortest export interval accepted: below it the flip/drain cycle would
/// dominate a CPU.
pub const MIN_ACTIVE_TIMEOUT: Duration = Duration::from_millis(50);
/// Flow map capacity bounds for `--max-flows`.
pub const MIN_FLOWS: u32 = 16;
pub const MAX_FLOWS: u32 = 1 << 24;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("--{flag} {value}: {why}")]
    Invalid {
        flag: &'static str,
        value: String,
        why: String,
    },
    #[error(transparent)]
    PinPath(#[from] PinPathError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

/// A `--tls-*` file given where no endpoint is `tls://` (`what`:
/// "collectors" or "listeners") is a mistake: said, naming the flag.
fn unused_tls_files(
    given: [(&'static str, &Option<PathBuf>); 3],
    what: &str,
) -> Result<(), ConfigError> {
    match given
        .into_iter()
        .find_map(|(flag, p)| Some((flag, p.as_ref()?)))
    {
        Some((flag, path)) => Err(invalid(
            flag,
            path.display(),
            format!("is for tls:// {what}, and none is given"),
        )),
        None => Ok(()),
    }
}

fn invalid(flag: &'static str, value: impl ToString, why: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        flag,
        value: value.to_string(),
        why: why.to_string(),
    }
}

/// `--attach auto|tcx|tc`: how the programs are attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    /// TCX when the kernel supports it, clsact otherwise.
    Auto,
    Tcx,
    Tc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Json,
}

/// How flows are exported, whoever loaded the datapath (standalone `run`
/// or the l3afd modes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportConfig {
    /// The export interval.
    pub active_timeout: Duration,
    pub idle_timeout: Duration,
    pub output: Option<OutputFormat>,
    pub collectors: Vec<Endpoint>,
    pub mtu: Mtu,
    pub template_refresh: Duration,
    /// `None`: the observed interface's ifindex.
    pub observation_domain_id: Option<u32>,
    /// Records a TCP collector session holds while the collector is slow.
    pub tcp_queue_records: usize,
    /// The least time between two TCP connection attempts.
    pub tcp_reconnect: Duration,
    /// Records carry flowStart/EndSysUpTime (templates 278–285, the C
    /// package's records) besides the absolute times: always under l3afd,
    /// with `--sysuptime-elements` for `run`.
    pub sysuptime_elements: bool,
    /// How the datapath selects packets, as the options tell collectors.
    pub sampling: Sampling,
    /// The clock the datapath stamps flows with.
    pub clock: FlowClock,
    /// Where Prometheus scrapes the exporter's own metrics.
    pub metrics_listen: Option<SocketAddr>,
    /// TLS of the `tls://` collectors; `None` when there is none.
    pub tls: Option<crate::tls::ClientTls>,
}

/// The export settings as given, before validation: what `run`'s flags and
/// l3afd's start args both fill in. [`Default`] holds the defaults of both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSettings {
    pub active_timeout: Duration,
    pub idle_timeout: Duration,
    pub output: Option<OutputFormat>,
    pub collectors: Vec<Endpoint>,
    pub mtu: usize,
    pub template_refresh: Duration,
    pub observation_domain_id: Option<u32>,
    pub tcp_queue_records: usize,
    pub tcp_reconnect: Duration,
    pub sysuptime_elements: bool,
    pub sampling: Sampling,
    pub clock: FlowClock,
    pub metrics_listen: Option<SocketAddr>,
    /// `--tls-ca`, `--tls-cert`, `--tls-key`: for `tls://` collectors.
    pub tls_ca: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

/// RFC 7011 §10.4.4: an Exporting Process does not try to reconnect to a
/// TCP collector more often than once a minute.
pub const DEFAULT_TCP_RECONNECT: Duration = Duration::from_secs(60);
/// Shortest `--tcp-reconnect` accepted (tests use it; a collector does
/// not want it).
pub const MIN_TCP_RECONNECT: Duration = Duration::from_millis(100);

pub const DEFAULT_ACTIVE_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_TEMPLATE_REFRESH: Duration = Duration::from_secs(60);
/// Flow records a TCP session holds while its collector is away or slow
/// (`--tcp-queue-records`); beyond it the oldest are dropped and counted as
/// not sent. At about 100 bytes a record this bounds the queue near 6.5 MB
/// per collector.
pub const DEFAULT_TCP_QUEUE_RECORDS: usize = 65_536;

impl Default for ExportSettings {
    fn default() -> Self {
        ExportSettings {
            active_timeout: DEFAULT_ACTIVE_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            output: None,
            collectors: Vec::new(),
            mtu: Mtu::DEFAULT.bytes(),
            template_refresh: DEFAULT_TEMPLATE_REFRESH,
            observation_domain_id: None,
            tcp_queue_records: DEFAULT_TCP_QUEUE_RECORDS,
            tcp_reconnect: DEFAULT_TCP_RECONNECT,
            sysuptime_elements: false,
            sampling: Sampling::default(),
            clock: FlowClock::default(),
            metrics_listen: None,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl ExportSettings {
    /// The one validation of export settings, whoever gave them; an error
    /// names the setting and the value.
    pub fn validate(self) -> Result<ExportConfig, ConfigError> {
        if self.active_timeout < MIN_ACTIVE_TIMEOUT {
            return Err(invalid(
                "active-timeout",
                format!("{:?}", self.active_timeout),
                format!("must be at least {MIN_ACTIVE_TIMEOUT:?}"),
            ));
        }
        if self.idle_timeout.is_zero() {
            return Err(invalid("idle-timeout", "0", "must be more than 0"));
        }
        if self.output.is_none() && self.collectors.is_empty() {
            return Err(invalid(
                "collector",
                "(none)",
                "nothing to export to: give --collector HOST:PORT or --output json",
            ));
        }
        let min_mtu = crate::schema::min_mtu();
        if self.mtu < min_mtu {
            return Err(invalid(
                "mtu",
                self.mtu,
                format!(
                    "must be at least {min_mtu}, the largest template or record with its headers"
                ),
            ));
        }
        let mtu = Mtu::new(self.mtu).map_err(|e| invalid("mtu", self.mtu, e))?;
        if self.tcp_queue_records == 0 {
            return Err(invalid("tcp-queue-records", 0, "must be at least 1"));
        }
        if self.tcp_reconnect < MIN_TCP_RECONNECT {
            return Err(invalid(
                "tcp-reconnect",
                format!("{:?}", self.tcp_reconnect),
                format!("must be at least {MIN_TCP_RECONNECT:?}"),
            ));
        }
        if self.template_refresh < MIN_TEMPLATE_REFRESH {
            return Err(invalid(
                "template-refresh",
                format!("{:?}", self.template_refresh),
                format!("must be at least {MIN_TEMPLATE_REFRESH:?}"),
            ));
        }
        let tls = if self.collectors.iter().any(|c| c.protocol == Protocol::Tls) {
            Some(crate::tls::ClientTls::load(
                self.tls_ca.as_deref(),
                self.tls_cert.as_deref(),
                self.tls_key.as_deref(),
            )?)
        } else {
            unused_tls_files(
                [
                    ("tls-ca", &self.tls_ca),
                    ("tls-cert", &self.tls_cert),
                    ("tls-key", &self.tls_key),
                ],
                "collectors",
            )?;
            None
        };
        Ok(ExportConfig {
            tls,
            active_timeout: self.active_timeout,
            idle_timeout: self.idle_timeout,
            output: self.output,
            collectors: self.collectors,
            mtu,
            template_refresh: self.template_refresh,
            observation_domain_id: self.observation_domain_id,
            tcp_queue_records: self.tcp_queue_records,
            tcp_reconnect: self.tcp_reconnect,
            sysuptime_elements: self.sysuptime_elements,
            sampling: self.sampling,
            clock: self.clock,
            metrics_listen: self.metrics_listen,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunConfig {
    pub interfaces: InterfaceSelector,
    pub directions: Vec<Direction>,
    pub max_flows: Option<u32>,
    pub flow_map_alloc: FlowMapAlloc,
    pub attach: AttachMode,
    pub pin_dir: PathBuf,
    pub replace_pins: bool,
    pub sample_period: u32,
    pub sample_mode: SampleMode,
    pub export: ExportConfig,
}

/// Shortest template refresh accepted.
pub const MIN_TEMPLATE_REFRESH: Duration = Duration::from_secs(1);

impl RunConfig {
    pub fn from_args(a: &RunArgs) -> Result<Self, ConfigError> {
        let directions = match a.direction {
            DirectionArg::Ingress => vec![Direction::Ingress],
            DirectionArg::Egress => vec![Direction::Egress],
            DirectionArg::Both => Direction::ALL.to_vec(),
        };
        if let Some(n) = a.max_flows {
            if !(MIN_FLOWS..=MAX_FLOWS).contains(&n) {
                return Err(invalid(
                    "max-flows",
                    n,
                    format!("must be between {MIN_FLOWS} and {MAX_FLOWS}"),
                ));
            }
        }
        if a.sample_period == 0 {
            return Err(invalid(
                "sample-period",
                0,
                "must be 1 (every packet) or more",
            ));
        }
        let sample_mode = match a.sample_mode {
            SampleModeArg::Systematic => SampleMode::Systematic,
            SampleModeArg::Random => SampleMode::Random,
        };
        let interfaces = selector(a)?;
        let pin_dir = match &a.pin_path {
            Some(p) => p.clone(),
            None => standalone_dir(
                Path::new(STANDALONE_BASE),
                interfaces.single().unwrap_or(HOST_PIN_DIR),
            )?,
        };
        Ok(RunConfig {
            interfaces,
            directions,
            max_flows: a.max_flows,
            flow_map_alloc: match a.flow_map_alloc {
                FlowMapAllocArg::OnDemand => FlowMapAlloc::OnDemand,
                FlowMapAllocArg::Preallocated => FlowMapAlloc::Preallocated,
            },
            attach: match a.attach {
                AttachArg::Auto => AttachMode::Auto,
                AttachArg::Tcx => AttachMode::Tcx,
                AttachArg::Tc => AttachMode::Tc,
            },
            pin_dir,
            replace_pins: a.replace_pins,
            sample_period: a.sample_period,
            sample_mode,
            export: ExportSettings {
                active_timeout: a.active_timeout,
                idle_timeout: a.idle_timeout,
                output: a.output.map(|o| match o {
                    OutputArg::Json => OutputFormat::Json,
                }),
                collectors: a.collector.clone(),
                mtu: a.mtu,
                template_refresh: a.template_refresh,
                observation_domain_id: a.observation_domain_id,
                tcp_queue_records: a.tcp_queue_records,
                tcp_reconnect: a.tcp_reconnect,
                sysuptime_elements: a.sysuptime_elements,
                sampling: Sampling {
                    period: a.sample_period,
                    mode: sample_mode,
                },
                clock: match a.clock {
                    ClockArg::Coarse => FlowClock::Coarse,
                    ClockArg::Precise => FlowClock::Boot,
                },
                metrics_listen: a.metrics_listen,
                tls_ca: a.tls_ca.clone(),
                tls_cert: a.tls_cert.clone(),
                tls_key: a.tls_key.clone(),
            }
            .validate()?,
        })
    }
}

impl RunConfig {
    /// What the instance lock is named after: the interface of a
    /// one-interface run, else the pin directory (":host" by default).
    pub fn instance_name(&self) -> String {
        match self.interfaces.single() {
            Some(iface) => iface.to_owned(),
            None => self.pin_dir.file_name().map_or_else(
                || HOST_PIN_DIR.to_owned(),
                |n| n.to_string_lossy().into_owned(),
            ),
        }
    }
}

/// The pin directory (under the standalone base) of a run that meters
/// patterns or every interface: not an interface name (those cannot hold
/// a ':'), so never one interface's directory.
pub const HOST_PIN_DIR: &str = ":host";

/// The observation domain of a run over patterns or every interface when
/// none is given: one domain for the host.
pub const HOST_OBSERVATION_DOMAIN: u32 = 1;

/// `--iface`, `--exclude-iface` and `--all-interfaces` as one selector.
fn selector(a: &RunArgs) -> Result<InterfaceSelector, ConfigError> {
    let patterns = |flag: &'static str, list: &[String]| {
        list.iter()
            .map(|s| {
                Pattern::parse(s).ok_or_else(|| {
                    invalid(
                        flag,
                        s,
                        format!(
                            "not an interface name or pattern (1 to {IFNAME_MAX} characters, \
                             no '/' or whitespace; * and ? match)"
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let include = patterns("iface", &a.iface)?;
    if include.is_empty() && !a.all_interfaces {
        return Err(invalid(
            "iface",
            "",
            "give an interface (or pattern), or --all-interfaces",
        ));
    }
    Ok(InterfaceSelector {
        include,
        exclude: patterns("exclude-iface", &a.exclude_iface)?,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectFormat {
    Table,
    Json,
    /// The live view (`collect::top`).
    Top,
}

/// What the live view ranks flows by first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopSort {
    Octets,
    Packets,
}

/// The live view's settings (`--window`, `--sort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopConfig {
    /// A record counts this long after it arrived.
    pub window: Duration,
    pub sort: TopSort,
}

/// `--window`: run's default export interval, so that a row of our own
/// records is one interval's traffic.
pub const DEFAULT_TOP_WINDOW: Duration = DEFAULT_ACTIVE_TIMEOUT;
/// `--window` bounds: the view is redrawn each second; an hour of records
/// is more than the window holds at any rate worth watching.
pub const MIN_TOP_WINDOW: Duration = Duration::from_secs(1);
pub const MAX_TOP_WINDOW: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectConfig {
    pub listen: Vec<Endpoint>,
    pub format: CollectFormat,
    pub top: TopConfig,
    /// What tls:// listeners use; `None` when there is none.
    pub tls: Option<crate::tls::ServerTls>,
}

impl CollectConfig {
    pub fn from_args(a: &CollectArgs) -> Result<Self, ConfigError> {
        let mut seen = std::collections::HashSet::new();
        for l in &a.listen {
            if !seen.insert((l.protocol, l.host.clone(), l.port)) {
                return Err(invalid("listen", l, "given twice"));
            }
        }
        let top = a.format == FormatArg::Top;
        if let (Some(w), false) = (a.window, top) {
            return Err(invalid(
                "window",
                format!("{w:?}"),
                "applies to --format top only",
            ));
        }
        if let (Some(s), false) = (a.sort, top) {
            return Err(invalid(
                "sort",
                format!("{s:?}").to_lowercase(),
                "applies to --format top only",
            ));
        }
        let window = a.window.unwrap_or(DEFAULT_TOP_WINDOW);
        if !(MIN_TOP_WINDOW..=MAX_TOP_WINDOW).contains(&window) {
            return Err(invalid(
                "window",
                format!("{window:?}"),
                format!("must be between {MIN_TOP_WINDOW:?} and {MAX_TOP_WINDOW:?}"),
            ));
        }
        let tls = if a.listen.iter().any(|l| l.protocol == Protocol::Tls) {
            let (Some(cert), Some(key)) = (&a.tls_cert, &a.tls_key) else {
                return Err(invalid(
                    "listen",
                    "tls://",
                    "needs --tls-cert and --tls-key",
                ));
            };
            Some(crate::tls::ServerTls(crate::tls::server_config(
                cert,
                key,
                a.tls_client_ca.as_deref(),
            )?))
        } else {
            unused_tls_files(
                [
                    ("tls-cert", &a.tls_cert),
                    ("tls-key", &a.tls_key),
                    ("tls-client-ca", &a.tls_client_ca),
                ],
                "listeners",
            )?;
            None
        };
        Ok(CollectConfig {
            tls,
            listen: a.listen.clone(),
            format: match a.format {
                FormatArg::Table => CollectFormat::Table,
                FormatArg::Json => CollectFormat::Json,
                FormatArg::Top => CollectFormat::Top,
            },
            top: TopConfig {
                window,
                sort: match a.sort {
                    None | Some(SortArg::Octets) => TopSort::Octets,
                    Some(SortArg::Packets) => TopSort::Packets,
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn run_args(extra: &[&str]) -> Result<RunArgs, clap::Error> {
        let mut argv = vec!["ipfix-flow-exporter", "run", "--iface", "eth0"];
        argv.extend_from_slice(extra);
        crate::cli::Cli::try_parse_from(argv).map(|c| match c.command {
            crate::cli::Command::Run(r) => *r,
            crate::cli::Command::Collect(_) => unreachable!("run was parsed"),
        })
    }

    /// Found in review: `--mtu 24` was accepted, and no template fits it.
    #[test]
    fn an_mtu_nothing_fits_is_refused() {
        let a = run_args(&["--collector", "192.0.2.1", "--mtu", "139"]).unwrap();
        let err = RunConfig::from_args(&a).unwrap_err().to_string();
        assert_eq!(
            err,
            "--mtu 139: must be at least 140, the largest template or record with its headers"
        );
        let a = run_args(&["--collector", "192.0.2.1", "--mtu", "140"]).unwrap();
        assert_eq!(RunConfig::from_args(&a).unwrap().export.mtu.bytes(), 140);
    }

    #[test]
    fn tls_files_go_with_tls_collectors() {
        let a = run_args(&["--collector", "192.0.2.1", "--tls-ca", "/tmp/ca.pem"]).unwrap();
        assert_eq!(
            RunConfig::from_args(&a).unwrap_err().to_string(),
            "--tls-ca /tmp/ca.pem: is for tls:// collectors, and none is given"
        );
        let a = run_args(&[
            "--collector",
            "tls://192.0.2.1",
            "--tls-ca",
            "/nonexistent/ca.pem",
        ])
        .unwrap();
        let err = RunConfig::from_args(&a).unwrap_err().to_string();
        assert!(err.starts_with("--tls-ca /nonexistent/ca.pem: "), "{err}");
        let collect = |extra: &[&str]| {
            let mut argv = vec!["ipfix-flow-exporter", "collect"];
            argv.extend_from_slice(extra);
            match crate::cli::Cli::try_parse_from(argv).unwrap().command {
                crate::cli::Command::Collect(c) => CollectConfig::from_args(&c),
                crate::cli::Command::Run(_) => unreachable!("collect was parsed"),
            }
        };
        assert_eq!(
            collect(&["--listen", "tls://127.0.0.1:4740"])
                .unwrap_err()
                .to_string(),
            "--listen tls://: needs --tls-cert and --tls-key"
        );
        assert_eq!(
            collect(&["--tls-client-ca", "/tmp/ca.pem"])
                .unwrap_err()
                .to_string(),
            "--tls-client-ca /tmp/ca.pem: is for tls:// listeners, and none is given"
        );
    }

    #[test]
    fn tcp_reconnect_defaults_to_a_minute_and_has_a_floor() {
        let a = run_args(&["--collector", "tcp://192.0.2.1"]).unwrap();
        let cfg = RunConfig::from_args(&a).unwrap();
        assert_eq!(cfg.export.tcp_reconnect, Duration::from_secs(60));
        let a = run_args(&["--collector", "tcp://192.0.2.1", "--tcp-reconnect", "10ms"]).unwrap();
        let err = RunConfig::from_args(&a).unwrap_err().to_string();
        assert_eq!(err, "--tcp-reconnect 10ms: must be at least 100ms");
    }

    /// `run`'s flag defaults (clap's, in cli.rs) are the defaults of
    /// [`ExportSettings`], which l3afd's start args use too.
    #[test]
    fn run_flag_defaults_are_the_export_defaults() {
        let a = run_args(&["--collector", "192.0.2.1:4739"]).unwrap();
        let cfg = RunConfig::from_args(&a).unwrap();
        let want = ExportSettings {
            collectors: a.collector.clone(),
            ..ExportSettings::default()
        }
        .validate()
        .unwrap();
        assert_eq!(cfg.export, want);
    }

    #[test]
    fn defaults_match_the_c_package() {
        let cfg = RunConfig::from_args(&run_args(&["--output", "json"]).unwrap()).unwrap();
        assert_eq!(cfg.export.active_timeout, Duration::from_secs(10));
        assert_eq!(cfg.export.idle_timeout, Duration::from_secs(30));
        assert_eq!(cfg.directions, Direction::ALL.to_vec());
        assert_eq!(
            cfg.pin_dir,
            PathBuf::from("/sys/fs/bpf/ipfix-flow-exporter/eth0")
        );
        assert_eq!(cfg.attach, AttachMode::Auto);
    }

    #[test]
    fn bad_values_name_the_flag_and_the_value() {
        let err = run_args(&["--active-timeout", "soon"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--active-timeout") && err.contains("soon"),
            "{err}"
        );
        let err =
            RunConfig::from_args(&run_args(&["--output", "json", "--max-flows", "3"]).unwrap())
                .unwrap_err()
                .to_string();
        assert_eq!(err, "--max-flows 3: must be between 16 and 16777216");
        let err = RunConfig::from_args(
            &run_args(&["--output", "json", "--active-timeout", "1ms"]).unwrap(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("--active-timeout 1ms"), "{err}");
    }

    use crate::endpoint::Protocol;

    #[test]
    fn collectors_are_repeatable_and_need_no_output_flag() {
        let a = run_args(&[
            "--collector",
            "127.0.0.1",
            "--collector",
            "tcp://[2001:db8::9]:9995",
        ])
        .unwrap();
        let cfg = RunConfig::from_args(&a).unwrap();
        assert_eq!(cfg.export.collectors.len(), 2);
        assert_eq!(cfg.export.collectors[1].protocol, Protocol::Tcp);
        assert_eq!(cfg.export.mtu, Mtu::DEFAULT);
        assert_eq!(cfg.export.template_refresh, Duration::from_secs(60));
        let err = RunConfig::from_args(&run_args(&[]).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--collector"), "{err}");
        let err = run_args(&["--collector", "sctp://x"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--collector") && err.contains("sctp"), "{err}");
        let err = RunConfig::from_args(&run_args(&["--collector", "x", "--mtu", "10"]).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--mtu 10"), "{err}");
    }

    #[test]
    fn patterns_and_all_interfaces_meter_the_host_in_one_pin_directory() {
        let args = |v: &[&str]| {
            let mut argv = vec!["ipfix-flow-exporter", "run", "--output", "json"];
            argv.extend_from_slice(v);
            match crate::cli::Cli::try_parse_from(argv).map(|c| c.command) {
                Ok(crate::cli::Command::Run(a)) => Ok(*a),
                Ok(crate::cli::Command::Collect(_)) => unreachable!("run was parsed"),
                Err(e) => Err(e.to_string()),
            }
        };
        let one = RunConfig::from_args(&args(&["--iface", "eth0"]).unwrap()).unwrap();
        assert_eq!(one.interfaces.single(), Some("eth0"));
        assert_eq!(one.instance_name(), "eth0");
        let many = RunConfig::from_args(
            &args(&[
                "--iface",
                "veth*",
                "--iface",
                "eth0",
                "--exclude-iface",
                "veth9*",
            ])
            .unwrap(),
        )
        .unwrap();
        assert_eq!(many.interfaces.single(), None);
        assert!(many.interfaces.matches("veth1") && !many.interfaces.matches("veth90"));
        assert_eq!(
            many.pin_dir,
            PathBuf::from("/sys/fs/bpf/ipfix-flow-exporter/:host")
        );
        assert_eq!(many.instance_name(), ":host");
        let all =
            RunConfig::from_args(&args(&["--all-interfaces", "--exclude-iface", "lo"]).unwrap())
                .unwrap();
        assert!(all.interfaces.include.is_empty() && !all.interfaces.matches("lo"));
        let err = args(&["--all-interfaces", "--iface", "eth0"]).unwrap_err();
        assert!(
            err.contains("--all-interfaces") && err.contains("--iface"),
            "{err}"
        );
        let err = args(&[]).unwrap_err();
        assert!(err.contains("--iface"), "{err}");
        let err = RunConfig::from_args(&args(&["--iface", "eth 0"]).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("--iface eth 0: not an interface name"),
            "{err}"
        );
        let err =
            RunConfig::from_args(&args(&["--all-interfaces", "--exclude-iface", "a/b"]).unwrap())
                .unwrap_err()
                .to_string();
        assert!(err.starts_with("--exclude-iface a/b"), "{err}");
    }

    #[test]
    fn an_interface_name_cannot_escape_the_pin_directory() {
        let mut a = run_args(&["--output", "json"]).unwrap();
        a.iface = vec!["../x".into()];
        assert!(RunConfig::from_args(&a).is_err());
    }

    fn collect_config(extra: &[&str]) -> Result<CollectConfig, String> {
        let mut argv = vec!["ipfix-flow-exporter", "collect"];
        argv.extend_from_slice(extra);
        match crate::cli::Cli::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .command
        {
            crate::cli::Command::Collect(c) => {
                CollectConfig::from_args(&c).map_err(|e| e.to_string())
            }
            crate::cli::Command::Run(_) => unreachable!("collect was parsed"),
        }
    }

    #[test]
    fn the_live_view_settings() {
        let c = collect_config(&["--format", "top"]).unwrap();
        assert_eq!(c.format, CollectFormat::Top);
        assert_eq!(
            c.top,
            TopConfig {
                window: Duration::from_secs(10),
                sort: TopSort::Octets
            }
        );
        let c =
            collect_config(&["--format", "top", "--window", "1m", "--sort", "packets"]).unwrap();
        assert_eq!(c.top.window, Duration::from_secs(60));
        assert_eq!(c.top.sort, TopSort::Packets);
        assert_eq!(
            collect_config(&["--format", "top", "--window", "500ms"]).unwrap_err(),
            "--window 500ms: must be between 1s and 3600s"
        );
        // A flag of the view with another format does nothing: refused.
        assert_eq!(
            collect_config(&["--window", "5s"]).unwrap_err(),
            "--window 5s: applies to --format top only"
        );
        assert_eq!(
            collect_config(&["--format", "json", "--sort", "packets"]).unwrap_err(),
            "--sort packets: applies to --format top only"
        );
    }
}
