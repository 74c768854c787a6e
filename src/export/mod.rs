//! The exporting process: collectors, transports, sessions.

pub mod backoff;
pub mod resolve;
pub mod session;
pub mod sink;
pub mod state;
pub mod tcp;
pub mod udp;
