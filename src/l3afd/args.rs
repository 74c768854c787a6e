//! l3afd's argument form: `--key=value` in any order (stop/status args come
//! as `--key =value`), keys spelled with `-` or `_`. Unknown keys are kept
//! so the caller can warn about them; they are never fatal, because l3afd
//! passes keys (`--log-dir`, `--rules-file`, `--cmd`, ...) that not every
//! function uses. A known key with a bad value is an error naming both.

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use crate::cli::parse_duration;
use crate::config::ExportSettings;
use crate::endpoint::{check_host, Endpoint, EndpointError, Protocol};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ArgError {
    #[error("--{key}={value}: {why}")]
    Value {
        key: String,
        value: String,
        why: String,
    },
    #[error("{0:?} is not a --key=value argument")]
    Shape(String),
    #[error("--{0} is required")]
    Missing(&'static str),
}

fn bad(key: &str, value: &str, why: impl ToString) -> ArgError {
    ArgError::Value {
        key: key.to_owned(),
        value: value.to_owned(),
        why: why.to_string(),
    }
}

/// Everything l3afd (or an operator using its form) can pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L3afdArgs {
    pub iface: String,
    /// As given; the binary's name decides the direction.
    pub direction: Option<String>,
    /// Version with dots already replaced by underscores (l3afd does that).
    /// l3afd up to v2.1.0 passes none: it pins every map of every program
    /// of an interface in one directory.
    pub version: Option<String>,
    /// 0–5, as the C package: 0 off, 1 debug, 2 info, 3 warn, 4 error, 5 critical.
    pub verbose: u8,
    /// The collectors, timeouts (`--flow-timeout` is the idle timeout, in
    /// seconds, as the C package), MTU and the rest, with `run`'s defaults;
    /// validated as `run`'s are.
    pub export: ExportSettings,
    pub log_dir: Option<PathBuf>,
    /// Legacy mode: the pinned prog array of the previous program.
    pub map_name: Option<String>,
    /// `<name>` in the pin path; derived from the executable's path when absent.
    pub name: Option<String>,
    /// l3afd's BpfMapDefaultPath.
    pub bpf_root: PathBuf,
    /// Unknown keys, to be warned about.
    pub unknown: Vec<String>,
}

pub const DEFAULT_VERBOSE: u8 = 2;
pub const DEFAULT_BPF_ROOT: &str = "/sys/fs/bpf";
/// `--collector_port` when only `--collector_ip` is given: the C package's
/// default (bpf_ipfix_user.c), not IANA's 4739 (which `--collector` uses).
pub const C_PACKAGE_COLLECTOR_PORT: u16 = 49279;

/// Splits `--key=value`, `--key =value` (two argv words or one) and a bare
/// `--flag` into (normalised key, value).
fn split_args(argv: &[String]) -> Result<Vec<(String, String)>, ArgError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < argv.len() {
        let a = &argv[i];
        let body = a
            .strip_prefix("--")
            .ok_or_else(|| ArgError::Shape(a.clone()))?;
        let (key, value) = match body.split_once('=') {
            Some((k, v)) => (k.trim_end().to_owned(), v.to_owned()),
            None => match argv.get(i + 1).and_then(|n| n.strip_prefix('=')) {
                // "--key" "=value": l3afd's stop/status argument form.
                Some(v) => {
                    i += 1;
                    (body.trim_end().to_owned(), v.to_owned())
                }
                None => (body.to_owned(), String::new()),
            },
        };
        if key.is_empty() {
            return Err(ArgError::Shape(a.clone()));
        }
        out.push((key.replace('_', "-"), value));
        i += 1;
    }
    Ok(out)
}

fn number<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, ArgError> {
    v.trim().parse().map_err(|_| bad(key, v, "not a number"))
}

fn seconds_or_duration(key: &str, v: &str) -> Result<Duration, ArgError> {
    parse_duration(v).map_err(|e| bad(key, v, e))
}

fn collector(key: &str, v: &str) -> Result<Endpoint, ArgError> {
    Endpoint::parse(v).map_err(|e: EndpointError| bad(key, v, e))
}

impl L3afdArgs {
    pub fn parse(argv: &[String]) -> Result<Self, ArgError> {
        let mut a = L3afdArgs {
            iface: String::new(),
            direction: None,
            version: None,
            verbose: DEFAULT_VERBOSE,
            // Drop-in for the C package's collectors: its SysUpTime
            // elements stay in every record.
            export: ExportSettings {
                sysuptime_elements: true,
                ..ExportSettings::default()
            },
            log_dir: None,
            map_name: None,
            name: None,
            bpf_root: PathBuf::from(DEFAULT_BPF_ROOT),
            unknown: Vec::new(),
        };
        let mut collector_ip: Option<String> = None;
        let mut collector_port: Option<u16> = None;
        let mut protocol = Protocol::Udp;
        for (key, v) in split_args(argv)? {
            let k = key.as_str();
            match k {
                "iface" => a.iface = v,
                "direction" => a.direction = Some(v),
                "version" => a.version = (!v.is_empty()).then_some(v),
                "collector-ip" => {
                    check_host(&v, false).map_err(|e| bad(k, &v, e))?;
                    collector_ip = Some(v);
                }
                "collector-port" => {
                    let p: u16 = number(k, &v)?;
                    if p == 0 {
                        return Err(bad(k, &v, "port 0"));
                    }
                    collector_port = Some(p);
                }
                "collector-protocol" => {
                    protocol = match v.as_str() {
                        "udp" => Protocol::Udp,
                        "tcp" => Protocol::Tcp,
                        "tls" => Protocol::Tls,
                        _ => return Err(bad(k, &v, "use udp, tcp or tls")),
                    }
                }
                "verbose" => {
                    let n: u8 = number(k, &v)?;
                    if n > 5 {
                        return Err(bad(k, &v, "use 0 to 5"));
                    }
                    a.verbose = n;
                }
                "log-dir" => a.log_dir = (!v.is_empty()).then(|| PathBuf::from(v)),
                "map-name" => a.map_name = (!v.is_empty()).then_some(v),
                "name" => a.name = Some(v),
                "bpf-root" => a.bpf_root = PathBuf::from(v),
                _ if export_setting(&mut a.export, k, &v)? => {}
                _ => a.unknown.push(format!("--{key}={v}")),
            }
        }
        if let Some(host) = collector_ip {
            a.export.collectors.insert(
                0,
                Endpoint {
                    protocol,
                    host,
                    port: collector_port.unwrap_or(C_PACKAGE_COLLECTOR_PORT),
                },
            );
        }
        if a.iface.is_empty() {
            return Err(ArgError::Missing("iface"));
        }
        Ok(a)
    }
}

/// One of the export settings `run` has as flags; false for another key.
fn export_setting(export: &mut ExportSettings, k: &str, v: &str) -> Result<bool, ArgError> {
    match k {
        "collector" => export.collectors.push(collector(k, v)?),
        "flow-timeout" | "idle-timeout" => export.idle_timeout = seconds_or_duration(k, v)?,
        "active-timeout" => export.active_timeout = seconds_or_duration(k, v)?,
        "mtu" => export.mtu = number(k, v)?,
        "observation-domain-id" => export.observation_domain_id = Some(number(k, v)?),
        "template-refresh" => export.template_refresh = seconds_or_duration(k, v)?,
        "tcp-reconnect" => export.tcp_reconnect = seconds_or_duration(k, v)?,
        "tcp-queue-records" => export.tcp_queue_records = number(k, v)?,
        "tls-ca" => export.tls_ca = Some(PathBuf::from(v)),
        "tls-cert" => export.tls_cert = Some(PathBuf::from(v)),
        "tls-key" => export.tls_key = Some(PathBuf::from(v)),
        _ => return Ok(false),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn tls_comes_as_start_args_too() {
        let a = L3afdArgs::parse(&argv(&[
            "--iface=eth0",
            "--collector_ip=192.0.2.7",
            "--collector-protocol=tls",
            "--collector_port=4740",
            "--tls-ca=/etc/ipfix/ca.pem",
            "--tls-cert=/etc/ipfix/exporter.pem",
            "--tls-key=/etc/ipfix/exporter.key",
        ]))
        .unwrap();
        assert_eq!(a.export.collectors[0].protocol, Protocol::Tls);
        assert_eq!(a.export.tls_ca, Some(PathBuf::from("/etc/ipfix/ca.pem")));
        assert_eq!(
            a.export.tls_cert,
            Some(PathBuf::from("/etc/ipfix/exporter.pem"))
        );
        assert_eq!(
            a.export.tls_key,
            Some(PathBuf::from("/etc/ipfix/exporter.key"))
        );
        assert!(a.unknown.is_empty(), "{:?}", a.unknown);
    }

    #[test]
    fn l3afd_start_args_in_any_order() {
        let a = L3afdArgs::parse(&argv(&[
            "--verbose=2",
            "--collector_port=49280",
            "--iface=enp0s3",
            "--log-dir=/var/log/l3afd",
            "--direction=ingress",
            "--collector_ip=127.0.0.1",
            "--version=latest",
            "--flow-timeout=45",
        ]))
        .unwrap();
        assert_eq!(a.iface, "enp0s3");
        assert_eq!(a.version.as_deref(), Some("latest"));
        assert_eq!(a.direction.as_deref(), Some("ingress"));
        assert_eq!(a.verbose, 2);
        assert_eq!(a.export.idle_timeout, Duration::from_secs(45));
        assert_eq!(a.log_dir, Some(PathBuf::from("/var/log/l3afd")));
        assert_eq!(
            a.export.collectors,
            vec![Endpoint {
                protocol: Protocol::Udp,
                host: "127.0.0.1".into(),
                port: 49280
            }]
        );
        assert!(a.unknown.is_empty());
    }

    #[test]
    fn l3afd_2_1_0_passes_no_version() {
        // v2.1.0's StartUserProgram: --iface, --direction, --log-dir, start args.
        let a = L3afdArgs::parse(&argv(&[
            "--iface=eth0",
            "--direction=ingress",
            "--log-dir=/var/log/l3af",
            "--collector_ip=127.0.0.1",
        ]))
        .unwrap();
        assert_eq!(a.version, None);
    }

    #[test]
    fn unknown_keys_are_kept_not_fatal() {
        let a = L3afdArgs::parse(&argv(&[
            "--iface=eth0",
            "--version=1_0",
            "--rules-file=/tmp/r",
            "--cmd=update",
        ]))
        .unwrap();
        assert_eq!(a.unknown, vec!["--rules-file=/tmp/r", "--cmd=update"]);
    }

    #[test]
    fn stop_args_form_with_a_space() {
        let a = L3afdArgs::parse(&argv(&["--iface", "=eth0", "--version =2"])).unwrap();
        assert_eq!(
            (a.iface.as_str(), a.version.as_deref()),
            ("eth0", Some("2"))
        );
    }

    #[test]
    fn our_own_keys_add_collectors_and_timeouts() {
        let a = L3afdArgs::parse(&argv(&[
            "--iface=eth0",
            "--version=latest",
            "--collector=tcp://[2001:db8::1]:4739",
            "--collector_ip=192.0.2.9",
            "--active-timeout=2s",
            "--mtu=1200",
            "--observation-domain-id=77",
            "--map-name=/sys/fs/bpf/tc/globals/eth0/prev/1/prev_jmp",
        ]))
        .unwrap();
        assert_eq!(a.export.collectors.len(), 2);
        assert_eq!(a.export.collectors[0].host, "192.0.2.9");
        assert_eq!(a.export.collectors[1].protocol, Protocol::Tcp);
        assert_eq!(a.export.active_timeout, Duration::from_secs(2));
        assert_eq!(
            (a.export.mtu, a.export.observation_domain_id),
            (1200, Some(77))
        );
        assert!(a.map_name.is_some());
    }

    #[test]
    fn bad_values_name_key_and_value() {
        let e = L3afdArgs::parse(&argv(&[
            "--iface=eth0",
            "--version=1",
            "--collector_port=http",
        ]))
        .unwrap_err()
        .to_string();
        assert_eq!(e, "--collector-port=http: not a number");
        let e = L3afdArgs::parse(&argv(&["--iface=eth0", "--version=1", "--verbose=9"]))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "--verbose=9: use 0 to 5");
        let e = L3afdArgs::parse(&argv(&["--version=1"]))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "--iface is required");
        let e = L3afdArgs::parse(&argv(&["iface=eth0"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a --key=value"), "{e}");
        let e = L3afdArgs::parse(&argv(&["--iface=eth0", "--collector_ip=300.1.1.1"]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "--collector-ip=300.1.1.1: \"300.1.1.1\" is not an IPv4 address"
        );
    }
}
