//! The flow maps of one object as a [`FlowSource`].

use std::rc::Rc;
use std::sync::mpsc;

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
    /// Drain on two threads (the default); false: one thread takes a chunk
    /// and hands it on before it takes the next (the design before; the
    /// benches compare the two).
    pub pipelined: bool,
}

impl KernelSource {
    pub fn new(maps: DatapathMaps, rcu: Rc<RcuBarrier>) -> Self {
        KernelSource {
            maps,
            rcu,
            retired: None,
            pipelined: true,
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
        let want = u32::try_from(chunk).unwrap_or(u32::MAX);
        let mut drains = self.maps.flows[idx].both().map(|m| Drain::new(m, want));
        let mut buf = Vec::new();
        // The first chunk of each map here: a quiet interval ends with it,
        // and an idle exporter starts no thread.
        let mut total = 0u64;
        for d in &mut drains {
            total += take_chunk(d, idx, &mut buf, sink)?;
        }
        if !self.pipelined || drains.iter().all(Drain::is_done) {
            for d in &mut drains {
                while !d.is_done() {
                    total += take_chunk(d, idx, &mut buf, sink)?;
                }
            }
            return Ok(total);
        }
        // The rest in two stages on two CPUs: a reader takes chunks from
        // the kernel (the batch lookup-and-delete, the larger half of the
        // work) while this thread turns the chunk before into records. The
        // rendezvous channel keeps the reader at most one chunk ahead: a
        // crash loses at most the chunk being sent and the one just taken.
        std::thread::scope(|s| -> Result<u64> {
            let (full_tx, full_rx) = mpsc::sync_channel::<Vec<FlowEntry>>(0);
            let (empty_tx, empty_rx) = mpsc::channel::<Vec<FlowEntry>>();
            let reader = s.spawn(move || -> Result<()> {
                for mut d in drains {
                    while !d.is_done() {
                        let mut buf = empty_rx.try_recv().unwrap_or_default();
                        let n = next_chunk(&mut d, idx, &mut buf)?;
                        if n > 0 && full_tx.send(buf).is_err() {
                            // The consumer is gone (it panicked).
                            return Ok(());
                        }
                    }
                }
                Ok(())
            });
            for buf in full_rx {
                total += buf.len() as u64;
                sink(&buf);
                // Back to the reader for a later chunk (gone with it at the end).
                let _ = empty_tx.send(buf);
            }
            match reader.join() {
                Ok(r) => r.map(|()| total),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
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

/// Takes the next chunk of `d` and hands it to `sink`; the entries taken.
fn take_chunk(
    d: &mut Drain<'_>,
    idx: usize,
    buf: &mut Vec<FlowEntry>,
    sink: &mut dyn FnMut(&[FlowEntry]),
) -> Result<u64> {
    let n = next_chunk(d, idx, buf)?;
    if n > 0 {
        sink(buf);
    }
    Ok(n as u64)
}

/// The next chunk of `d` (of retired pair `idx`) in `buf`, emptied first.
fn next_chunk(d: &mut Drain<'_>, idx: usize, buf: &mut Vec<FlowEntry>) -> Result<usize> {
    buf.clear();
    d.next_into(buf)
        .with_context(|| format!("draining flow map {idx}"))
}
