//! Where flow entries come from: the kernel maps, or a fake in tests.

use anyhow::Result;

use crate::abi::{FlowKey, FlowValue};
use crate::flow::FlowStats;

/// One kernel flow entry.
pub type FlowEntry = (FlowKey, FlowValue);

/// One retired-and-drained flow map at a time.
pub trait FlowSource {
    /// Retires the active flow map: makes the other one active and returns
    /// once no program can still write into the retired one.
    fn retire_active(&mut self) -> Result<()>;

    /// Treats the map that is not active as retired, without a flip: at
    /// startup it holds what a predecessor left undrained.
    fn adopt_inactive(&mut self) -> Result<()>;

    /// Reads and deletes every entry of the retired map, `chunk` entries at
    /// a time, handing each chunk to `sink`; at most the next chunk is
    /// deleted while `sink` has one. Returns the number of entries drained.
    fn drain_retired(&mut self, chunk: usize, sink: &mut dyn FnMut(&[FlowEntry])) -> Result<u64>;

    /// Takes the keys of the flows that lost packets to a full flow map
    /// since the last call (each once).
    fn take_refused(&mut self) -> Result<Vec<FlowKey>>;

    /// Statistics totals since the maps were created.
    fn stats(&mut self) -> Result<FlowStats>;

    /// The totals when the source was opened, the baseline of the first
    /// interval.
    fn initial_stats(&self) -> FlowStats;
}
