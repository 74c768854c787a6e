//! `collect --format top`: a live view of the biggest flows of the last
//! `--window`, per exporter and direction.
//!
//! The pure core: [`record`] (a data record's flow key and counts, from the
//! standard IANA elements), [`totals`] (total counts turned into deltas),
//! [`window`] (the sliding window), [`rank`] (ranked rows per exporter and
//! direction).

pub mod rank;
pub mod record;
pub mod totals;
pub mod window;
