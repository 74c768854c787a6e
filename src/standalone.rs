//! `run`: load, pin, attach and export on one interface, by hand.
//!
//! Startup either completes or leaves nothing behind: attachments detach
//! and pins this process created are removed when a step fails. A clean stop
//! detaches, exports everything still in the maps as "forced end", and
//! removes the pin directory's maps.

use std::path::Path;
use std::rc::Rc;

use anyhow::{Context, Result};

use crate::abi::{FlowConfig, FLOW_MAP_MAX_ENTRIES};
use crate::config::RunConfig;
use crate::daemon::{self, StopFlag};
use crate::datapath::attach::{self, Attachment};
use crate::datapath::maps::DatapathMaps;
use crate::datapath::object::{self, LoadOptions};
use crate::datapath::pinned::PinOwner;
use crate::datapath::rcu::RcuBarrier;
use crate::flow::Direction;
use crate::lock::{InstanceLock, LOCK_DIR};
use crate::pins::STANDALONE_BASE;
use crate::sys;

/// Pin file of the TCX link of one direction, beside the maps.
pub fn link_pin_name(dir: Direction) -> String {
    format!("ipfix_{}_link", dir.as_str())
}

/// Checks that fail before anything is created.
fn preflight(cfg: &RunConfig) -> Result<u32> {
    let ifindex = sys::ifindex(&cfg.iface)?;
    crate::kernel::require_supported()?;
    sys::require_caps()?;
    sys::require_bpffs(&cfg.pin_dir)?;
    sys::require_kernel_btf()?;
    Ok(ifindex)
}

/// One loaded object: its direction, program and maps.
type Loaded = (Direction, std::os::fd::OwnedFd, DatapathMaps);

/// Loads and configures every direction's object; their pins go to `pins`.
fn load_all(cfg: &RunConfig, pins: &mut PinOwner) -> Result<Vec<Loaded>> {
    let mut loaded = Vec::new();
    for &dir in &cfg.directions {
        let obj = object::load(
            dir,
            &LoadOptions {
                pin_dir: &cfg.pin_dir,
                max_flows: cfg.max_flows,
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

/// Attaches every loaded program to the interface.
fn attach_all(cfg: &RunConfig, ifindex: u32, loaded: &[Loaded]) -> Result<Vec<Attachment>> {
    let mut attachments: Vec<Attachment> = Vec::new();
    for (dir, prog, _) in loaded {
        use std::os::fd::AsFd;
        let link_pin = cfg.pin_dir.join(link_pin_name(*dir));
        let a = attach::attach(prog.as_fd(), ifindex, *dir, cfg.attach, Some(&link_pin))?;
        log::info!(
            "attached {} program to {} (ifindex {ifindex}) with {}",
            dir.as_str(),
            cfg.iface,
            a.kind()
        );
        attachments.push(a);
    }
    Ok(attachments)
}

pub fn run(cfg: &RunConfig) -> Result<()> {
    let ifindex = preflight(cfg)?;
    let _lock = InstanceLock::acquire(Path::new(LOCK_DIR), &cfg.iface)?;
    let stop = StopFlag::install()?;
    let rcu = Rc::new(RcuBarrier::new()?);

    let mut pins = PinOwner::default();
    let loaded = load_all(cfg, &mut pins)?;
    let attachments = attach_all(cfg, ifindex, &loaded)?;
    pins.keep();
    // From here on: removing the clsact filter (netlink) and bpf() on the
    // fds we hold; no loading or attaching.
    sys::drop_capabilities(&sys::runtime_caps(&[sys::CAP_NET_ADMIN]))?;

    let max_flows = cfg.max_flows.unwrap_or(FLOW_MAP_MAX_ENTRIES) as usize;
    daemon::serve(
        loaded.into_iter().map(|(_, _, maps)| maps).collect(),
        &rcu,
        &cfg.export,
        ifindex,
        max_flows,
        &stop,
        || {
            log::info!("stopping: detaching, then exporting every open flow");
            for a in attachments {
                if let Err(e) = a.detach() {
                    log::error!("{e:#}");
                }
            }
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
