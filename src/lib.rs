//! ipfix-flow-exporter: an eBPF flow meter at tc ingress and egress that
//! exports IP flow records as IPFIX (RFC 7011). See README.md.

pub mod abi;
pub mod cli;
pub mod collect;
pub mod config;
pub mod config_file;
pub mod daemon;
pub mod datapath;
pub mod endpoint;
pub mod export;
pub mod flow;
pub mod followed;
pub mod ifselect;
pub mod ipfix;
pub mod kernel;
pub mod l3afd;
pub mod link_events;
pub mod lock;
pub mod logging;
pub mod metrics;
pub mod output;
pub mod pins;
pub mod reload;
pub mod schema;
pub mod standalone;
pub mod stop;
pub mod sys;
pub mod tls;

/// Generated libbpf-rs skeletons of the two BPF objects (see build.rs).
pub mod skel {
    #![allow(clippy::all, clippy::restriction, missing_docs, unsafe_op_in_unsafe_fn)]
    pub mod ingress {
        include!(concat!(env!("OUT_DIR"), "/ipfix_ingress.skel.rs"));
    }
    pub mod egress {
        include!(concat!(env!("OUT_DIR"), "/ipfix_egress.skel.rs"));
    }
}
