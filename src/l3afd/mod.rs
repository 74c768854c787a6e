//! Running under l3afd: the binary copied into the artifact as
//! `bpf_ipfix_ingress` / `bpf_ipfix_egress`, started with l3afd's
//! `--key=value` arguments.
//!
//! - **native** (no `--map-name`): l3afd loaded our object with cilium/ebpf,
//!   pinned every map under `<root>/tc/globals/<iface>/<name>/<version>/`
//!   and chained the program. We open those pins and export; we never load,
//!   attach, pin, unpin or touch a prog array, and maps that already hold
//!   data (graceful restart) are exported once.
//! - **legacy** (`--map-name=<pinned prog array of the previous program>`):
//!   we load the object ourselves, pin its maps at the l3afd path, put the
//!   program into slot 0 of that prog array, and undo both on exit.

pub mod args;
pub mod chain;
pub mod identity;

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::abi::FLOW_MAP_MAX_ENTRIES;
use crate::config::ExportConfig;
use crate::daemon::{self, StopFlag};
use crate::datapath::maps::DatapathMaps;
use crate::datapath::object::{self, FlowMapAlloc, LoadOptions};
use crate::datapath::pinned::PinOwner;
use crate::datapath::rcu::RcuBarrier;
use crate::flow::Direction;
use crate::pins::l3afd_dir;
use crate::{logging, sys};
use args::L3afdArgs;
use chain::ChainSlot;
use identity::{direction_from_binary, name_from_exe, observation_domain, DEFAULT_NAME};

/// How long native mode waits for l3afd's pins to appear.
const PIN_WAIT: Duration = Duration::from_secs(10);

/// True when the binary was started under one of the artifact's names.
pub fn is_l3afd_invocation(argv0: &str) -> bool {
    direction_from_binary(argv0).is_some()
}

/// Everything `run` needs, validated.
#[derive(Clone)]
pub struct L3afdConfig {
    pub direction: Direction,
    pub args: L3afdArgs,
    pub name: String,
    pub pin_dir: PathBuf,
    pub export: ExportConfig,
}

impl L3afdConfig {
    pub fn new(argv0: &str, argv: &[String]) -> Result<Self> {
        let direction = direction_from_binary(argv0).with_context(|| {
            format!("started as {argv0:?}, not as bpf_ipfix_ingress or bpf_ipfix_egress")
        })?;
        let args = L3afdArgs::parse(argv)?;
        let exe = if Path::new(argv0).is_absolute() {
            PathBuf::from(argv0)
        } else {
            std::env::current_exe().unwrap_or_else(|_| PathBuf::from(argv0))
        };
        let name = args
            .name
            .clone()
            .or_else(|| name_from_exe(&exe))
            .unwrap_or_else(|| DEFAULT_NAME.to_owned());
        let pin_dir = l3afd_dir(&args.bpf_root, &args.iface, &name, args.version.as_deref())?;
        if args.export.collectors.is_empty() {
            bail!(
                "no collector: give --collector_ip=HOST (and --collector_port) or --collector=URL"
            );
        }
        // Validated as `run`'s flags are: a bad value is refused by name.
        let export = args.export.clone().validate()?;
        Ok(L3afdConfig {
            direction,
            args,
            name,
            pin_dir,
            export,
        })
    }
}

/// Sets up logging (`--log-dir`, `--verbose`), then serves until a signal.
pub fn main(argv0: &str, argv: &[String]) -> Result<()> {
    let cfg = L3afdConfig::new(argv0, argv)?;
    let level = logging::level_from_verbose(cfg.args.verbose);
    match &cfg.args.log_dir {
        Some(dir) => {
            let file = format!(
                "{}.log",
                crate::datapath::names::artifact_binary(cfg.direction)
            );
            logging::to_file(dir, &file, level)?;
        }
        None => logging::to_stderr(level),
    }
    log::info!(
        "{} {} starting on {} ({} mode), maps in {}",
        cfg.name,
        cfg.direction.as_str(),
        cfg.args.iface,
        if cfg.args.map_name.is_some() {
            "legacy"
        } else {
            "native"
        },
        cfg.pin_dir.display()
    );
    for u in &cfg.args.unknown {
        log::warn!("ignoring unknown argument {u}");
    }
    if let Some(d) = &cfg.args.direction {
        if d != cfg.direction.as_str() {
            log::warn!(
                "--direction={d} ignored: started as {}, so metering {}",
                crate::datapath::names::artifact_binary(cfg.direction),
                cfg.direction.as_str()
            );
        }
    }
    let result = run(&cfg);
    if let Err(e) = &result {
        log::error!("{e:#}");
    }
    result
}

fn run(cfg: &L3afdConfig) -> Result<()> {
    let ifindex = sys::ifindex(&cfg.args.iface)?;
    let domain = cfg
        .export
        .observation_domain_id
        .unwrap_or_else(|| observation_domain(ifindex, cfg.direction));
    log::info!(
        "IPFIX observation domain {domain}{}",
        if cfg.export.observation_domain_id.is_some() {
            " (--observation-domain-id)"
        } else {
            " (ifindex x 10 + 1 ingress, + 2 egress)"
        }
    );
    let export = ExportConfig {
        observation_domain_id: Some(domain),
        ..cfg.export.clone()
    };
    let cfg = &L3afdConfig {
        export,
        ..cfg.clone()
    };
    sys::require_caps()?;
    sys::require_bpffs(&cfg.args.bpf_root)?;
    let stop = StopFlag::install()?;
    let rcu = Rc::new(RcuBarrier::new()?);
    match &cfg.args.map_name {
        None => {
            let maps = wait_for_pins(cfg, &stop)?;
            // Everything from here on is bpf() on the fds we hold.
            sys::drop_capabilities(&sys::runtime_caps(&[]))?;
            daemon::serve(
                vec![maps],
                &rcu,
                &cfg.export,
                ifindex,
                FLOW_MAP_MAX_ENTRIES as usize,
                &stop,
                daemon::Hooks {
                    reload: None,
                    interfaces: None,
                    metrics: None,
                    before_flush: &mut || {
                        log::info!("stopping: exporting what the maps hold; l3afd keeps the pins");
                    },
                },
            )
        }
        Some(map_name) => legacy(cfg, map_name, ifindex, &rcu, &stop),
    }
}

/// Native mode: l3afd pins the maps before it starts us; give it a moment
/// anyway (bounded), then open them.
fn wait_for_pins(cfg: &L3afdConfig, stop: &StopFlag) -> Result<DatapathMaps> {
    let deadline = Instant::now() + PIN_WAIT;
    loop {
        let missing = DatapathMaps::missing_pins(cfg.direction, &cfg.pin_dir);
        if missing.is_empty() {
            // All there: anything wrong now is final, never retried.
            return DatapathMaps::open_pinned(cfg.direction, &cfg.pin_dir);
        }
        if Instant::now() >= deadline || stop.is_set() {
            bail!(
                "l3afd native mode: {} is not pinned (is the program loaded?)",
                missing[0].display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `--map-name` relative to l3afd's tc pin root, or absolute.
fn prog_array_path(cfg: &L3afdConfig, map_name: &str) -> PathBuf {
    let p = Path::new(map_name);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cfg.args
            .bpf_root
            .join(crate::pins::L3AFD_TC_DIR)
            .join(&cfg.args.iface)
            .join(p)
    }
}

fn legacy(
    cfg: &L3afdConfig,
    map_name: &str,
    ifindex: u32,
    rcu: &Rc<RcuBarrier>,
    stop: &StopFlag,
) -> Result<()> {
    let obj = object::load(
        cfg.direction,
        &LoadOptions {
            pin_dir: &cfg.pin_dir,
            max_flows: None,
            // What l3afd's own load of the object gives in native mode.
            alloc: FlowMapAlloc::OnDemand,
            replace_stale_pins: false,
        },
    )?;
    // A failed start removes only what it created; pins adopted from a
    // crashed predecessor keep what it metered.
    let mut pins = PinOwner::default();
    pins.add(obj.pins);
    let legacy_versioned = cfg.args.version.is_some();
    let mut slot = Some(ChainSlot::insert(
        &prog_array_path(cfg, map_name),
        std::os::fd::AsFd::as_fd(&obj.prog),
        obj.prog_id,
    )?);
    // Leaving the chain and unpinning go through fds and owned files.
    sys::drop_capabilities(&sys::runtime_caps(&[]))?;
    let result = daemon::serve(
        vec![obj.maps],
        rcu,
        &cfg.export,
        ifindex,
        FLOW_MAP_MAX_ENTRIES as usize,
        stop,
        daemon::Hooks {
            reload: None,
            interfaces: None,
            metrics: None,
            before_flush: &mut || {
                log::info!("stopping: leaving the chain, then exporting every open flow");
                drop(slot.take());
            },
        },
    );
    result?;
    // Out of the chain and everything exported. l3afd pins nothing here in
    // legacy mode and its Stop waits for our jmp table pin to vanish, so
    // every pin goes — also those adopted from a predecessor that crashed
    // (l3afd's monitor restarts it over them) — and <name>/<version> (and
    // <name>) of a predecessor, when now empty. Without --version the
    // directory is the interface's, l3afd's own.
    let dir = pins.sets()[0].dir.clone();
    let mut also: Vec<&Path> = Vec::new();
    if legacy_versioned {
        also.push(&dir);
        also.extend(dir.parent());
    }
    if let Err(e) = pins.remove_all(&also) {
        log::error!("{e:#}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &[&str]) -> Result<L3afdConfig> {
        let mut argv: Vec<String> = ["--iface=veth0", "--collector_ip=192.0.2.1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        argv.extend(extra.iter().map(|s| s.to_string()));
        L3afdConfig::new("/opt/l3afd/bpf_ipfix_ingress", &argv)
    }

    /// Start args are validated as `run`'s flags are, with `run`'s defaults
    /// but for the SysUpTime elements (the C package's records carry
    /// them): nothing is clamped silently.
    #[test]
    fn start_args_get_runs_defaults_and_checks() {
        let cfg = config(&[]).unwrap();
        let want = crate::config::ExportSettings {
            collectors: cfg.args.export.collectors.clone(),
            sysuptime_elements: true,
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert_eq!(cfg.export, want);
        for (arg, flag) in [
            ("--active-timeout=1ms", "--active-timeout"),
            ("--flow-timeout=0", "--idle-timeout"),
            ("--template-refresh=0", "--template-refresh"),
            ("--mtu=10", "--mtu"),
            ("--tcp-queue-records=0", "--tcp-queue-records"),
        ] {
            let err = format!("{:#}", config(&[arg]).err().expect(arg));
            assert!(err.contains(flag), "{arg}: {err}");
        }
    }
}
