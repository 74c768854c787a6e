//! The flow maps of one object as a [`FlowSource`].

use std::rc::Rc;

use anyhow::{Context, Result};

use super::batch::Drain;
use super::maps::DatapathMaps;
use super::rcu::RcuBarrier;
use crate::abi::FlowKey;
use crate::flow::flow_source::{FlowEntry, FlowSource};
use crate::flow::FlowStats;

pub struct KernelSource {
    pub maps: DatapathMaps,
    rcu: Rc<RcuBarrier>,
    retired: Option<usize>,
    buf: Vec<FlowEntry>,
}

impl KernelSource {
    pub fn new(maps: DatapathMaps, rcu: Rc<RcuBarrier>) -> Self {
        KernelSource {
            maps,
            rcu,
            retired: None,
            buf: Vec::new(),
        }
    }
}

impl FlowSource for KernelSource {
    fn retire_active(&mut self) -> Result<()> {
        self.retired = Some(self.maps.flip(&self.rcu)?);
        Ok(())
    }

    fn adopt_inactive(&mut self) -> Result<()> {
        // A predecessor may have flipped just before it died: let every
        // program that still saw the old selector finish first.
        self.rcu.wait()?;
        self.retired = Some(self.maps.active()? ^ 1);
        Ok(())
    }

    fn drain_retired(&mut self, chunk: usize, sink: &mut dyn FnMut(&[FlowEntry])) -> Result<u64> {
        let Some(idx) = self.retired.take() else {
            return Ok(0);
        };
        let mut total = 0u64;
        for map in self.maps.flows[idx].both() {
            let mut drain = Drain::new(map, u32::try_from(chunk).unwrap_or(u32::MAX));
            loop {
                self.buf.clear();
                let n = drain
                    .next_into(&mut self.buf)
                    .with_context(|| format!("draining flow map {idx}"))?;
                if n == 0 {
                    break;
                }
                total += n as u64;
                sink(&self.buf);
            }
        }
        Ok(total)
    }

    fn take_refused(&mut self) -> Result<Vec<FlowKey>> {
        self.maps.take_refused()
    }

    fn stats(&mut self) -> Result<FlowStats> {
        self.maps.stats()
    }

    fn initial_stats(&self) -> FlowStats {
        self.maps.initial_stats
    }
}
