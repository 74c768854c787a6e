//! Waiting until no BPF program still writes into the map we just retired.
//!
//! tc programs run inside an RCU read-side section. Updating an element of a
//! map-in-map from user space makes the kernel call `synchronize_rcu()`
//! before the syscall returns (kernel/bpf/syscall.c, maybe_wait_bpf_programs:
//! "Wait for any running non-sleepable BPF programs to complete so that
//! userspace, when we return to it, knows that all non-sleepable programs
//! that could be running use the new map value"). One such update after the
//! selector flip is therefore a complete grace period: every program that
//! read the old selector value has finished.

use std::os::fd::{AsFd, AsRawFd};

use anyhow::{Context, Result};
use libbpf_rs::libbpf_sys;
use libbpf_rs::{MapCore, MapFlags, MapHandle, MapType};

pub struct RcuBarrier {
    outer: MapHandle,
    inner: MapHandle,
}

impl RcuBarrier {
    pub fn new() -> Result<Self> {
        let plain = libbpf_sys::bpf_map_create_opts {
            sz: std::mem::size_of::<libbpf_sys::bpf_map_create_opts>() as _,
            ..Default::default()
        };
        let inner = MapHandle::create(MapType::Array, Some("ipfix_rcu_in"), 4, 4, 1, &plain)
            .context("creating the RCU barrier's inner map")?;
        let outer_opts = libbpf_sys::bpf_map_create_opts {
            inner_map_fd: inner.as_fd().as_raw_fd() as u32,
            ..plain
        };
        let outer = MapHandle::create(
            MapType::ArrayOfMaps,
            Some("ipfix_rcu_sync"),
            4,
            4,
            1,
            &outer_opts,
        )
        .context("creating the RCU barrier map (BPF_MAP_TYPE_ARRAY_OF_MAPS)")?;
        Ok(RcuBarrier { outer, inner })
    }

    /// Returns after a full RCU grace period.
    pub fn wait(&self) -> Result<()> {
        let fd = self.inner.as_fd().as_raw_fd() as u32;
        self.outer
            .update(&0u32.to_ne_bytes(), &fd.to_ne_bytes(), MapFlags::ANY)
            .context("waiting for an RCU grace period (map-in-map update)")
    }
}
