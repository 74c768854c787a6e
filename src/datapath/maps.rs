//! Handles on the maps of one loaded object, whoever loaded it.

use std::path::Path;

use anyhow::{Context, Result};
use libbpf_rs::{MapCore, MapFlags, MapHandle};

use super::batch::check_flow_map;
use super::names::MapRole;
use super::rcu::RcuBarrier;
use crate::abi::{FlowConfig, FlowKey, FlowStat};
use crate::flow::Direction;
use crate::flow::FlowStats;

/// The two flow maps the program writes into while the selector names them.
pub struct FlowMaps {
    /// IPv4 flows, keyed by `struct flow_key4`.
    pub ipv4: MapHandle,
    /// IPv6 flows, keyed by `struct flow_key`.
    pub other: MapHandle,
}

impl FlowMaps {
    /// Both maps, IPv4 first.
    pub fn both(&self) -> [&MapHandle; 2] {
        [&self.ipv4, &self.other]
    }
}

/// The maps the daemon works with.
pub struct DatapathMaps {
    pub direction: Direction,
    /// Indexed by the selector's value.
    pub flows: [FlowMaps; 2],
    pub selector: MapHandle,
    pub config: MapHandle,
    pub stats: MapHandle,
    /// Keys of flows that lost packets to a full flow map.
    pub refused_flows: MapHandle,
    pub jmp_table: MapHandle,
    /// In the order of [`MapRole::MONITORS`].
    pub monitors: [MapHandle; 5],
    /// The statistics when these handles were opened: before our program
    /// is attached (standalone, legacy), or whatever a running datapath had
    /// counted (native). Overflow detection counts from here.
    pub initial_stats: FlowStats,
}

const KEY0: [u8; 4] = 0u32.to_ne_bytes();

impl DatapathMaps {
    /// Builds the set from a lookup by role (pinned files or a fresh object).
    pub fn from_roles(
        direction: Direction,
        mut get: impl FnMut(MapRole) -> Result<MapHandle>,
    ) -> Result<Self> {
        let mut maps = DatapathMaps {
            initial_stats: FlowStats::default(),
            direction,
            flows: [
                FlowMaps {
                    ipv4: get(MapRole::Flows4_0)?,
                    other: get(MapRole::Flows6_0)?,
                },
                FlowMaps {
                    ipv4: get(MapRole::Flows4_1)?,
                    other: get(MapRole::Flows6_1)?,
                },
            ],
            selector: get(MapRole::Selector)?,
            config: get(MapRole::Config)?,
            stats: get(MapRole::Stats)?,
            refused_flows: get(MapRole::RefusedFlows)?,
            jmp_table: get(MapRole::JmpTable)?,
            monitors: [
                get(MapRole::MonitorPackets)?,
                get(MapRole::MonitorNonIp)?,
                get(MapRole::MonitorParseFailed)?,
                get(MapRole::MonitorTableFullPackets)?,
                get(MapRole::MonitorTableFullOctets)?,
            ],
        };
        for pair in &maps.flows {
            check_flow_map(&pair.ipv4, true)
                .context("checking an IPv4 flow map against this build's ABI")?;
            check_flow_map(&pair.other, false)
                .context("checking a flow map against this build's ABI")?;
        }
        maps.initial_stats = maps.stats()?;
        Ok(maps)
    }

    /// Opens the maps pinned by name in `dir`, refusing (by path) flow maps
    /// of another layout, e.g. pinned by an older build.
    pub fn open_pinned(direction: Direction, dir: &Path) -> Result<Self> {
        Self::from_roles(direction, |role| {
            let path = dir.join(role.map_name(direction));
            let map = MapHandle::from_pinned_path(&path)
                .with_context(|| format!("opening pinned map {}", path.display()))?;
            if MapRole::FLOWS.contains(&role) {
                check_flow_map(&map, role.is_ipv4_flows()).with_context(|| {
                    format!("pinned map {} is not this build's flow map", path.display())
                })?;
            }
            Ok(map)
        })
    }

    /// The pin files of every map of `direction` in `dir` that do not exist.
    pub fn missing_pins(direction: Direction, dir: &Path) -> Vec<std::path::PathBuf> {
        MapRole::ALL
            .iter()
            .map(|r| dir.join(r.map_name(direction)))
            .filter(|p| !p.exists())
            .collect()
    }

    /// Index (0 or 1) of the flow maps the program writes into now.
    pub fn active(&self) -> Result<usize> {
        let v = self
            .selector
            .lookup(&KEY0, MapFlags::ANY)
            .context("reading the selector map")?
            .unwrap_or_default();
        Ok(v.first().map_or(0, |b| usize::from(b & 1)))
    }

    /// Makes the other pair of flow maps active and waits until no program
    /// can still write into the one retired; returns the retired (now idle)
    /// index.
    pub fn flip(&self, rcu: &RcuBarrier) -> Result<usize> {
        let idle = self.active()?;
        let next = (idle as u32) ^ 1;
        self.selector
            .update(&KEY0, &next.to_ne_bytes(), MapFlags::ANY)
            .context("writing the selector map")?;
        rcu.wait()?;
        Ok(idle)
    }

    /// Takes (reads and deletes) the keys of the flows that lost packets to
    /// a full flow map since the last take. A key the program adds while
    /// this runs is taken now or next time.
    pub fn take_refused(&self) -> Result<Vec<FlowKey>> {
        let keys: Vec<Vec<u8>> = self.refused_flows.keys().collect();
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            // Gone already (evicted): nothing to take.
            if self.refused_flows.delete(&k).is_ok() {
                out.push(FlowKey::parse(&k).context("a refused-flows key")?);
            }
        }
        Ok(out)
    }

    /// Per-CPU statistics summed over CPUs.
    pub fn stats(&self) -> Result<FlowStats> {
        let mut out = FlowStats::default();
        for stat in FlowStat::ALL {
            let per_cpu = self
                .stats
                .lookup_percpu(&stat.index().to_ne_bytes(), MapFlags::ANY)
                .context("reading the statistics map")?
                .unwrap_or_default();
            for v in per_cpu {
                let mut b = [0u8; 8];
                if v.len() == 8 {
                    b.copy_from_slice(&v);
                }
                out.add(stat, u64::from_ne_bytes(b));
            }
        }
        Ok(out)
    }

    /// Writes the totals into the single-counter monitor maps (l3afd's
    /// `monitor_maps` read them).
    pub fn publish_monitors(&self, s: &FlowStats) -> Result<()> {
        let values = [
            s.packets,
            s.non_ip,
            s.parse_failed,
            s.table_full_packets,
            s.table_full_octets,
        ];
        for (map, v) in self.monitors.iter().zip(values) {
            map.update(&KEY0, &v.to_ne_bytes(), MapFlags::ANY)
                .with_context(|| format!("updating monitor map {:?}", map.name()))?;
        }
        Ok(())
    }

    pub fn write_config(&self, cfg: &FlowConfig) -> Result<()> {
        self.config
            .update(&KEY0, &cfg.emit(), MapFlags::ANY)
            .context("writing the config map")
    }

    /// Program id in slot 0 of the jmp table, if any.
    pub fn chained_prog_id(&self) -> Result<Option<u32>> {
        match self.jmp_table.lookup(&KEY0, MapFlags::ANY) {
            Ok(Some(v)) if v.len() == 4 => Ok(Some(u32::from_ne_bytes([v[0], v[1], v[2], v[3]]))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == libbpf_rs::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).context("reading the jmp table"),
        }
    }
}
