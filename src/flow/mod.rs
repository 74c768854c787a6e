//! The pure core: flow records and their life cycle in user space. It
//! depends on the kernel ABI mirror (`crate::abi`) and nothing of the shell.

pub mod clock;
pub mod expiry;
pub mod exporter;
pub mod flow_source;
pub mod ids;
pub mod lost;
pub mod record;
pub mod record_sink;
pub mod stats;

pub use record::{Direction, FlowEndReason, FlowRecord};
pub use stats::{FlowStats, IntervalSummary};
