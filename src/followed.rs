//! The interfaces a standalone `run` meters, followed as they come and go.
//!
//! One loaded object per direction serves every interface (the flow key
//! carries the ifindex); each interface costs only its attachments. The
//! kernel tells of new, renamed and deleted interfaces over rtnetlink
//! ([`LinkEvents`]); each time, the matching set is worked out again
//! ([`InterfaceSelector::plan`]): new matches are attached, departed ones
//! detached and their pins removed, and the export loop ends the last of
//! their flows as "forced end".

use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::config::RunConfig;
use crate::daemon::FollowedInterfaces;
use crate::datapath::attach::{self, Attachment};
use crate::flow::Direction;
use crate::ifselect::InterfaceSelector;
use crate::link_events::LinkEvents;
use crate::lock::{InstanceLock, LOCK_DIR};

/// Pin file of the TCX link of one direction, beside the maps: one per
/// direction for a one-interface run, one per direction and interface
/// index otherwise.
pub fn link_pin_name(dir: Direction, ifindex: Option<u32>) -> String {
    match ifindex {
        None => format!("ipfix_{}_link", dir.as_str()),
        Some(i) => format!("ipfix_{}_link_{i}", dir.as_str()),
    }
}

/// The index in a per-interface link pin's name.
fn link_pin_ifindex(file: &str) -> Option<u32> {
    Direction::ALL.iter().find_map(|d| {
        file.strip_prefix(&format!("ipfix_{}_link_", d.as_str()))?
            .parse()
            .ok()
    })
}

/// Every interface of this network namespace: index and name.
pub fn present_interfaces() -> Vec<(u32, String)> {
    nix::net::if_::if_nameindex()
        .map(|list| {
            list.iter()
                .filter_map(|i| Some((i.index(), i.name().to_str().ok()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

struct Attached {
    name: String,
    attachments: Vec<Attachment>,
    /// A run over patterns holds each interface's lock while attached to
    /// it (a one-interface run holds its one lock for the whole run).
    _lock: Option<InstanceLock>,
}

impl Attached {
    /// Detaches every program (errors logged) and drops the lock; the
    /// interface's name.
    fn release(self) -> String {
        for att in self.attachments {
            if let Err(e) = att.detach() {
                log::error!("{e:#}");
            }
        }
        self.name
    }
}

pub struct Followed<'a> {
    cfg: &'a RunConfig,
    /// The interfaces to meter: the configuration's, until a reload.
    selector: InterfaceSelector,
    progs: Vec<(Direction, OwnedFd)>,
    events: LinkEvents,
    attached: BTreeMap<u32, Attached>,
    /// Failed attaches per interface name, logged at 1, 2, 4, ... tries.
    failures: BTreeMap<String, u64>,
}

impl<'a> Followed<'a> {
    /// Subscribes to link changes, then attaches to every interface that
    /// matches now. A one-interface run that cannot attach fails to start
    /// (the caller's guards undo what was done); a run over patterns logs
    /// the interfaces it cannot attach and tries them again at the next
    /// change.
    pub fn start(cfg: &'a RunConfig, progs: Vec<(Direction, OwnedFd)>) -> Result<Self> {
        let events = LinkEvents::open()?;
        let mut f = Followed {
            cfg,
            selector: cfg.interfaces.clone(),
            progs,
            events,
            attached: BTreeMap::new(),
            failures: BTreeMap::new(),
        };
        let (attach, _) = f.selector.plan(&BTreeMap::new(), &present_interfaces());
        for (ifindex, name) in attach {
            if f.single() {
                f.attach(ifindex, &name)?;
            } else {
                // One interface that cannot be attached (another run holds
                // it, a device tc refuses) does not stop the others.
                f.attach_or_note(ifindex, &name);
            }
        }
        if let Some(one) = cfg.interfaces.single() {
            if f.attached.is_empty() {
                bail!("interface {one:?} does not exist in this network namespace");
            }
        } else {
            f.remove_stale_link_pins()?;
            log::info!(
                "following interfaces {}: {} attached now",
                f.describe(),
                f.attached.len()
            );
        }
        Ok(f)
    }

    fn single(&self) -> bool {
        self.selector.single().is_some()
    }

    fn describe(&self) -> String {
        let list = |v: &[crate::ifselect::Pattern]| {
            v.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" ")
        };
        let mut s = if self.selector.include.is_empty() {
            "(all)".to_owned()
        } else {
            list(&self.selector.include)
        };
        if !self.selector.exclude.is_empty() {
            s += &format!(" except {}", list(&self.selector.exclude));
        }
        s
    }

    fn attach(&mut self, ifindex: u32, name: &str) -> Result<()> {
        let single = self.single();
        let lock = if single {
            None
        } else {
            Some(InstanceLock::acquire(Path::new(LOCK_DIR), name)?)
        };
        let mut attachments = Vec::new();
        for (dir, prog) in &self.progs {
            let pin = self
                .cfg
                .pin_dir
                .join(link_pin_name(*dir, (!single).then_some(ifindex)));
            let a = attach::attach(prog.as_fd(), ifindex, *dir, self.cfg.attach, Some(&pin))
                .with_context(|| format!("attaching the {} program to {name}", dir.as_str()))?;
            log::info!(
                "attached {} program to {name} (ifindex {ifindex}) with {}",
                dir.as_str(),
                a.kind()
            );
            attachments.push(a);
        }
        self.attached.insert(
            ifindex,
            Attached {
                name: name.to_owned(),
                attachments,
                _lock: lock,
            },
        );
        Ok(())
    }

    /// Attaches, or logs why not (at 1, 2, 4, ... failures of that name)
    /// for another try at the next change; true when attached.
    fn attach_or_note(&mut self, ifindex: u32, name: &str) -> bool {
        match self.attach(ifindex, name) {
            Ok(()) => {
                self.failures.remove(name);
                true
            }
            Err(e) => {
                let n = self.failures.entry(name.to_owned()).or_default();
                *n += 1;
                if n.is_power_of_two() {
                    log::error!("{name} (ifindex {ifindex}), {n} tries so far: {e:#}");
                }
                false
            }
        }
    }

    fn detach(&mut self, ifindex: u32) {
        let Some(a) = self.attached.remove(&ifindex) else {
            return;
        };
        let name = a.release();
        if self.single() {
            log::warn!(
                "interface {name} (ifindex {ifindex}) is gone: nothing is metered until it is back"
            );
        } else {
            log::info!(
                "interface {name} (ifindex {ifindex}) is gone or no longer matches: detached, \
                 its last flows end \"forced end\""
            );
        }
    }

    /// Per-interface link pins a crashed run left for interfaces this run
    /// does not meter: removing the pin releases the link, which detaches
    /// its program.
    fn remove_stale_link_pins(&self) -> Result<()> {
        let dir = &self.cfg.pin_dir;
        let entries =
            std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
        for e in entries.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            let Some(ifindex) = link_pin_ifindex(&file) else {
                continue;
            };
            if !self.attached.contains_key(&ifindex) {
                log::warn!(
                    "removing the TCX link pin {} a previous run left (ifindex {ifindex} is not metered now)",
                    e.path().display()
                );
                std::fs::remove_file(e.path())
                    .with_context(|| format!("removing {}", e.path().display()))?;
            }
        }
        Ok(())
    }
}

impl FollowedInterfaces for Followed<'_> {
    fn events(&self) -> BorrowedFd<'_> {
        self.events.fd()
    }

    fn changed(&mut self) -> Vec<u32> {
        if !self.events.drain() {
            return Vec::new();
        }
        self.replan()
    }

    fn reselect(&mut self, selector: InterfaceSelector) -> Vec<u32> {
        self.selector = selector;
        let gone = self.replan();
        log::info!(
            "following interfaces {}: {} attached now",
            self.describe(),
            self.attached.len()
        );
        gone
    }

    fn attached(&self) -> usize {
        self.attached.len()
    }

    fn detach_all(&mut self) {
        for a in std::mem::take(&mut self.attached).into_values() {
            a.release();
        }
    }
}

impl Followed<'_> {
    /// Attaches what matches now and is not attached, detaches what is
    /// attached and no longer matches (or is gone); the detached indices.
    fn replan(&mut self) -> Vec<u32> {
        let names: BTreeMap<u32, String> = self
            .attached
            .iter()
            .map(|(i, a)| (*i, a.name.clone()))
            .collect();
        let (attach, detach) = self.selector.plan(&names, &present_interfaces());
        for &ifindex in &detach {
            self.detach(ifindex);
        }
        for (ifindex, name) in attach {
            if self.attach_or_note(ifindex, &name) && self.single() {
                log::warn!("interface {name} is back (ifindex {ifindex}): metering again");
            }
        }
        detach
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_pins_name_their_interface_when_there_are_several() {
        assert_eq!(
            link_pin_name(Direction::Ingress, None),
            "ipfix_ingress_link"
        );
        let per = link_pin_name(Direction::Egress, Some(42));
        assert_eq!(per, "ipfix_egress_link_42");
        assert_eq!(link_pin_ifindex(&per), Some(42));
        assert_eq!(link_pin_ifindex("ipfix_ingress_link"), None);
        assert_eq!(link_pin_ifindex("ipfix_ingress_flows6_0"), None);
    }
}
