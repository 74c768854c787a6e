//! Flow records and their life cycle in user space.

pub mod record;

pub use record::{Direction, FlowEndReason, FlowRecord};
