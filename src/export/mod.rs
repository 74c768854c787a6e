//! The exporting process: collectors, transports, sessions.

pub mod backoff;
pub mod collector;
pub mod resolve;
