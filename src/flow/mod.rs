//! Flow records and their life cycle in user space.

pub mod clock;
pub mod expiry;
pub mod ids;
pub mod meter;
pub mod record;
pub mod sink;
pub mod source;
pub mod stats;

pub use record::{Direction, FlowEndReason, FlowRecord};
pub use stats::{FlowStats, IntervalSummary};
