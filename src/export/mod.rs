//! The exporting process: collectors, transports, sessions.

pub mod backoff;
pub mod ipfix_sink;
pub mod resolve;
pub mod session;
pub mod sinks;
pub mod state;
pub mod tcp;
pub mod udp;
