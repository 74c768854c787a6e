//! Human- and script-facing outputs of flow records.

pub mod json;
