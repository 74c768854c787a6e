//! `run`: load, pin, attach and export on one interface, by hand.
//!
//! Startup either completes or leaves nothing behind: attachments detach
//! and pins this process created are removed when a step fails. A clean stop
//! detaches, exports everything still in the maps as "forced end", and
//! removes the pin directory's maps.

use std::cell::RefCell;
use std::os::fd::{AsFd, OwnedFd};
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

/// Attaches every loaded program to the interface.
fn attach_all(
    cfg: &RunConfig,
    ifindex: u32,
    progs: &[(Direction, OwnedFd)],
) -> Result<Vec<Attachment>> {
    let mut attachments: Vec<Attachment> = Vec::new();
    for (dir, prog) in progs {
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

/// The interface a run meters, looked at about once a second while it
/// runs. When it goes (deleted, renamed, moved to another namespace) its
/// attachments go with it, which is logged; when an interface of that name
/// is there again, the programs are attached to it again. Flows already
/// metered stay in the maps and are exported as usual.
struct Watched<'a> {
    cfg: &'a RunConfig,
    progs: Vec<(Direction, OwnedFd)>,
    /// The interface index attached to; `None` while the interface is away.
    ifindex: Option<u32>,
    attachments: Vec<Attachment>,
    failures: u64,
}

impl Watched<'_> {
    fn tick(&mut self) {
        let now = nix::net::if_::if_nametoindex(self.cfg.iface.as_str()).ok();
        if now == self.ifindex {
            return;
        }
        if let Some(old) = self.ifindex.take() {
            log::warn!(
                "interface {} (ifindex {old}) is gone: nothing is metered until it is back",
                self.cfg.iface
            );
            self.detach_all();
        }
        let Some(new) = now else {
            return;
        };
        match attach_all(self.cfg, new, &self.progs) {
            Ok(a) => {
                log::warn!(
                    "interface {} is back (ifindex {new}): metering again",
                    self.cfg.iface
                );
                self.attachments = a;
                self.ifindex = Some(new);
                self.failures = 0;
            }
            Err(e) => {
                // Tried again at the next look; logged at 1, 2, 4, ... tries.
                self.failures += 1;
                if self.failures.is_power_of_two() {
                    log::error!(
                        "attaching to {} (ifindex {new}) failed ({} times so far): {e:#}",
                        self.cfg.iface,
                        self.failures
                    );
                }
            }
        }
    }

    fn detach_all(&mut self) {
        for a in self.attachments.drain(..) {
            if let Err(e) = a.detach() {
                log::error!("{e:#}");
            }
        }
    }
}

pub fn run(cfg: &RunConfig) -> Result<()> {
    let ifindex = preflight(cfg)?;
    let _lock = InstanceLock::acquire(Path::new(LOCK_DIR), &cfg.iface)?;
    let stop = StopFlag::install()?;
    let rcu = Rc::new(RcuBarrier::new()?);

    let mut pins = PinOwner::default();
    let loaded = load_all(cfg, &mut pins)?;
    let (progs, maps): (Vec<_>, Vec<_>) = loaded
        .into_iter()
        .map(|(dir, prog, maps)| ((dir, prog), maps))
        .unzip();
    let attachments = attach_all(cfg, ifindex, &progs)?;
    pins.keep();
    // From here on: attaching again to an interface that comes back, the
    // clsact filter's removal (netlink) and bpf() on the fds we hold; no
    // loading.
    sys::drop_capabilities(&sys::runtime_caps(&[sys::CAP_NET_ADMIN]))?;

    let max_flows = cfg.max_flows.unwrap_or(FLOW_MAP_MAX_ENTRIES) as usize;
    let watched = RefCell::new(Watched {
        cfg,
        progs,
        ifindex: Some(ifindex),
        attachments,
        failures: 0,
    });
    daemon::serve(
        maps,
        &rcu,
        &cfg.export,
        ifindex,
        max_flows,
        &stop,
        daemon::Hooks {
            tick: &mut || watched.borrow_mut().tick(),
            before_flush: &mut || {
                log::info!("stopping: detaching, then exporting every open flow");
                watched.borrow_mut().detach_all();
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
