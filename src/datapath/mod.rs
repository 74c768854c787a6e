//! The kernel side: skeletons, pins, load, attach, map access.

pub mod abi;
pub mod attach;
pub mod batch;
pub mod maps;
pub mod names;
pub mod object;
pub mod pins;
pub mod rcu;
pub mod source;
pub mod test_run;
