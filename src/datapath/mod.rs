//! The kernel side: skeletons, pins, load, attach, map access.

/// Where build.rs left `bpf_ipfix_{ingress,egress}.bpf.o`: the very files the
/// skeletons embed (`target/<profile>/bpf/`).
pub const BPF_OBJ_DIR: &str = env!("IPFIX_BPF_OBJ_DIR");

pub mod attach;
pub mod batch;
pub mod clsact;
pub mod kernel_source;
pub mod maps;
pub mod names;
pub mod object;
pub mod pinned;
pub mod rcu;
pub mod test_run;

// The skeletons carry the C structs as seen through the objects' BTF: a
// layout change in flow_abi.h that is not mirrored here fails the build.
const _: () = {
    use crate::abi::*;
    use crate::skel::{egress, ingress};
    use std::mem::size_of;
    assert!(size_of::<ingress::types::flow_key>() == FLOW_KEY_SIZE);
    assert!(size_of::<ingress::types::flow_value>() == FLOW_VALUE_SIZE);
    assert!(size_of::<ingress::types::flow_config>() == FLOW_CONFIG_SIZE);
    assert!(size_of::<ingress::types::flow_selector>() == FLOW_SELECTOR_SIZE);
    assert!(size_of::<egress::types::flow_key>() == FLOW_KEY_SIZE);
    assert!(size_of::<egress::types::flow_value>() == FLOW_VALUE_SIZE);
};
