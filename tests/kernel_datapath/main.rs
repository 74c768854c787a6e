//! Kernel tests of the real BPF objects through BPF_PROG_TEST_RUN: crafted
//! frames in, verdict and exact map contents out.
//!
//! What the kernel's test_run does with a tc program (net/bpf/test_run.c,
//! checked here on 6.18):
//! - frames shorter than an Ethernet header (14 bytes) are refused with
//!   EINVAL before the program runs, so eth_parse()'s own failure path is
//!   unreachable from here;
//! - it also refuses a frame whose (outer) ethertype is IPv4 or IPv6 when
//!   fewer than 20 or 40 bytes follow the Ethernet header; frames behind a
//!   VLAN tag are not checked. The tests accept a kernel that runs the
//!   program on such frames instead (then they are parse failures);
//! - frames must fit one page with the skb's head- and tailroom (about
//!   3.7 KB here), so GSO super-packets are a few KB, not 64 KB;
//! - `ctx.ifindex` 0 or 1 means loopback, any other index must exist (ENODEV);
//! - `ingress_ifindex`, `gso_segs` and `gso_size` reach the skb as given.
//!
//! Every test loads its own object (maps pinned in a private bpffs directory,
//! removed on drop) and asserts the verdict of every run: TC_ACT_UNSPEC, the
//! program's answer when slot 0 of its jmp table is empty.
//!
//! One module per subject; `harness` holds what they share.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;

mod harness;

mod capacity;
mod chaining;
mod concurrency;
mod directions;
mod double_buffer;
mod flow_fields;
mod frame_builder;
mod gso;
mod ipv4;
mod ipv6;
mod link_layer;
mod sampling;
mod truncation;
