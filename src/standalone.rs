//! `run`: load, pin, attach and export, by hand: one interface, or every
//! interface that matches, followed as they come and go (`followed.rs`).
//!
//! Startup either completes or leaves nothing behind: attachments detach
//! and pins this process created are removed when a step fails. A clean stop
//! detaches, exports everything still in the maps as "forced end", and
//! removes the pin directory's maps. SIGHUP reads the configuration again
//! and applies what a running exporter can change ([`crate::reload`]).

use std::os::fd::OwnedFd;
use std::path::Path;
use std::rc::Rc;

use anyhow::{Context, Result};

use crate::abi::{FlowConfig, FLOW_MAP_MAX_ENTRIES};
use crate::config::{RunConfig, HOST_OBSERVATION_DOMAIN};
use crate::daemon::{self, StopFlag};
use crate::datapath::maps::DatapathMaps;
use crate::datapath::object::{self, LoadOptions};
use crate::datapath::pinned::PinOwner;
use crate::datapath::rcu::RcuBarrier;
use crate::flow::Direction;
use crate::followed::Followed;
use crate::lock::{InstanceLock, LOCK_DIR};
use crate::metrics;
use crate::pins::STANDALONE_BASE;
use crate::sys;

/// Checks that fail before anything is created; the observation domain
/// when none is configured: a one-interface run's interface index, else
/// one domain for the host.
fn preflight(cfg: &RunConfig) -> Result<u32> {
    let domain = match cfg.interfaces.single() {
        Some(iface) => sys::ifindex(iface)?,
        None => HOST_OBSERVATION_DOMAIN,
    };
    crate::kernel::require_supported()?;
    sys::require_caps()?;
    sys::require_bpffs(&cfg.pin_dir)?;
    sys::require_kernel_btf()?;
    Ok(domain)
}

/// One loaded object: its direction, program and maps.
type Loaded = (Direction, OwnedFd, DatapathMaps);

/// Loads and configures every direction's object; their pins go to `pins`.
fn load_all(cfg: &RunConfig, pins: &mut PinOwner) -> Result<Vec<Loaded>> {
    let mut loaded = Vec::new();
    for &dir in &cfg.directions {
        let obj = object::load(
            dir,
            &LoadOptions {
                pin_dir: &cfg.pin_dir,
                max_flows: cfg.max_flows,
                alloc: cfg.flow_map_alloc,
                replace_stale_pins: cfg.replace_pins,
            },
        )?;
        let object::LoadedObject {
            direction,
            prog,
            maps,
            pins: set,
            ..
        } = obj;
        if set.reused().next().is_some() {
            log::info!(
                "{}: reusing maps pinned in {} by a previous run",
                dir.as_str(),
                cfg.pin_dir.display()
            );
        }
        pins.add(set);
        maps.write_config(&FlowConfig {
            sample_period: cfg.sample_period,
            sample_mode: cfg.sample_mode,
            sample_count: 0,
            clock: cfg.export.clock,
        })
        .with_context(|| format!("configuring the {} object", dir.as_str()))?;
        if let Some(id) = maps.chained_prog_id()? {
            log::info!(
                "{}: slot 0 of the jmp table holds program id {id}",
                dir.as_str()
            );
        }
        loaded.push((direction, prog, maps));
    }

    Ok(loaded)
}

/// Reads the configuration again (the command line and its `--config`
/// file), for SIGHUP.
pub type Reread<'r> = &'r dyn Fn() -> Result<RunConfig>;

pub fn run(cfg: &RunConfig, reread: Reread<'_>) -> Result<()> {
    let domain = preflight(cfg)?;
    let _lock = InstanceLock::acquire(Path::new(LOCK_DIR), &cfg.instance_name())?;
    let metrics = cfg.export.metrics_listen.map(metrics::bind).transpose()?;
    let stop = StopFlag::install_with_reload()?;
    let rcu = Rc::new(RcuBarrier::new()?);

    let mut pins = PinOwner::default();
    let loaded = load_all(cfg, &mut pins)?;
    let (progs, maps): (Vec<_>, Vec<_>) = loaded
        .into_iter()
        .map(|(dir, prog, maps)| ((dir, prog), maps))
        .unzip();
    let mut followed = Followed::start(cfg, progs)?;
    pins.keep();
    // From here on: attaching to interfaces that come, the clsact filter's
    // removal (netlink) and bpf() on the fds we hold; no loading.
    sys::drop_capabilities(&sys::runtime_caps(&[sys::CAP_NET_ADMIN]))?;

    let max_flows = cfg.max_flows.unwrap_or(FLOW_MAP_MAX_ENTRIES) as usize;
    let mut current = cfg.clone();
    let mut reload = || {
        let applied = reread()
            .map_err(|e| format!("{e:#}"))
            .and_then(|new| Ok((crate::reload::reload(&current, &new)?, new)));
        match applied {
            Ok((r, new)) => {
                current = new;
                Some(r)
            }
            Err(e) => {
                log::error!("reload refused: {e}; the run goes on as it was configured");
                None
            }
        }
    };
    daemon::serve(
        maps,
        &rcu,
        &cfg.export,
        domain,
        max_flows,
        &stop,
        daemon::Hooks {
            interfaces: Some(&mut followed),
            metrics,
            reload: Some(&mut reload),
            before_flush: &mut || {
                log::info!("stopping: detaching, then exporting every open flow");
            },
        },
    )?;
    // A directory a crashed run created is ours too: removed when empty.
    let base = Path::new(STANDALONE_BASE);
    let mut also: Vec<&Path> = vec![&cfg.pin_dir];
    if cfg.pin_dir.parent() == Some(base) {
        also.push(base);
    }
    pins.remove_all(&also)?;
    Ok(())
}
