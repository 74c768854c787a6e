//! Batched draining of a flow map (BPF_MAP_LOOKUP_AND_DELETE_BATCH).
//!
//! libbpf-rs' batch iterator allocates two vectors per element; at a million
//! flows per interval that dominates, so this reads into two flat buffers.

use std::io;
use std::os::fd::{AsFd, AsRawFd};

use libbpf_rs::libbpf_sys;
use libbpf_rs::{MapCore, MapHandle};

use crate::abi::{FlowKey, FlowValue, FLOW_KEY4_SIZE, FLOW_KEY_SIZE, FLOW_VALUE_SIZE};

/// Largest batch tried when a hash bucket holds more entries than asked for
/// (the kernel answers ENOSPC then).
const MAX_BATCH: u32 = 1 << 16;

/// Reads and deletes up to `want` entries of `map` per call to `next`.
pub struct Drain<'m> {
    map: &'m MapHandle,
    token: [u8; 4],
    started: bool,
    done: bool,
    want: u32,
    /// [`FLOW_KEY4_SIZE`] for an IPv4 flow map, else [`FLOW_KEY_SIZE`].
    key_size: usize,
    keys: Vec<u8>,
    values: Vec<u8>,
}

impl<'m> Drain<'m> {
    pub fn new(map: &'m MapHandle, want: u32) -> Self {
        Drain {
            map,
            token: [0; 4],
            started: false,
            done: false,
            want: want.max(1),
            key_size: map.key_size() as usize,
            keys: Vec::new(),
            values: Vec::new(),
        }
    }

    /// True once the kernel said the map has nothing more: the last batch
    /// has been handed out.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The next batch, appended to `out`; `Ok(0)` once the map is empty.
    /// Entries handed out here are already deleted from the map.
    pub fn next_into(&mut self, out: &mut Vec<(FlowKey, FlowValue)>) -> io::Result<usize> {
        loop {
            if self.done {
                return Ok(0);
            }
            let mut count = self.want;
            self.keys.resize(count as usize * self.key_size, 0);
            self.values.resize(count as usize * FLOW_VALUE_SIZE, 0);
            let opts = libbpf_sys::bpf_map_batch_opts {
                sz: std::mem::size_of::<libbpf_sys::bpf_map_batch_opts>() as _,
                ..Default::default()
            };
            let in_batch = if self.started {
                self.token.as_mut_ptr().cast()
            } else {
                std::ptr::null_mut()
            };
            let mut out_token = [0u8; 4];
            // SAFETY: keys/values hold `count` elements of the map's key and
            // value size, the tokens are 4 bytes (a htab bucket index), and
            // every pointer outlives the call.
            let ret = unsafe {
                libbpf_sys::bpf_map_lookup_and_delete_batch(
                    self.map.as_fd().as_raw_fd(),
                    in_batch,
                    out_token.as_mut_ptr().cast(),
                    self.keys.as_mut_ptr().cast(),
                    self.values.as_mut_ptr().cast(),
                    &mut count,
                    &opts,
                )
            };
            let err = (ret != 0).then(io::Error::last_os_error);
            match err.as_ref().and_then(io::Error::raw_os_error) {
                None => {}
                Some(libc_enoent) if libc_enoent == nix::libc::ENOENT => self.done = true,
                Some(libc_enospc) if libc_enospc == nix::libc::ENOSPC && self.want < MAX_BATCH => {
                    self.want *= 2;
                    continue;
                }
                Some(_) => return Err(err.unwrap_or_else(io::Error::last_os_error)),
            }
            self.started = true;
            self.token = out_token;
            let n = count as usize;
            let keys = self.keys.chunks_exact(self.key_size);
            let values = self.values.chunks_exact(FLOW_VALUE_SIZE);
            for (k, v) in keys.zip(values).take(n) {
                // check_flow_map() allows these two key sizes only.
                let key = if self.key_size == FLOW_KEY4_SIZE {
                    FlowKey::parse_v4(k)
                } else {
                    FlowKey::parse(k)
                };
                out.push((
                    key.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
                    // SANITY: values are cut at exactly the ABI size.
                    FlowValue::parse(v).expect("value slice has the ABI size"),
                ));
            }
            if n > 0 || self.done {
                return Ok(n);
            }
        }
    }
}

/// Checks that `map` has the key and value sizes of a flow map of `ipv4`
/// flows (the compact key) or of the others (the full key).
pub fn check_flow_map(map: &MapHandle, ipv4: bool) -> io::Result<()> {
    let key = if ipv4 { FLOW_KEY4_SIZE } else { FLOW_KEY_SIZE };
    if map.key_size() as usize != key || map.value_size() as usize != FLOW_VALUE_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "key/value sizes {}/{}, this build needs {key}/{FLOW_VALUE_SIZE}",
                map.key_size(),
                map.value_size(),
            ),
        ));
    }
    Ok(())
}
