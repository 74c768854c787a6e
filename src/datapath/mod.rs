//! The kernel side: skeletons, pins, load, attach, map access.

/// Where build.rs left `bpf_ipfix_{ingress,egress}.bpf.o`: the very files the
/// skeletons embed (`target/<profile>/bpf/`).
pub const BPF_OBJ_DIR: &str = env!("IPFIX_BPF_OBJ_DIR");

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
