//! BPF_PROG_TEST_RUN for tc programs: crafted frames through the real
//! program, for kernel tests and benchmarks.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use libbpf_rs::libbpf_sys;

/// The `struct __sk_buff` fields the kernel lets a test run set.
#[derive(Debug, Clone, Copy, Default)]
pub struct SkbContext {
    pub ifindex: u32,
    pub ingress_ifindex: u32,
    pub gso_segs: u32,
    pub gso_size: u32,
}

pub struct RunResult {
    pub retval: u32,
    /// Mean time per repetition, as the kernel measured it.
    pub duration: Duration,
}

// Offsets in struct __sk_buff (linux/bpf.h, stable UAPI); the kernel test
// `skb_context_reaches_the_program` checks them against a running program.
const SKB_INGRESS_IFINDEX: usize = 36;
const SKB_IFINDEX: usize = 40;
const SKB_GSO_SEGS: usize = 164;
const SKB_GSO_SIZE: usize = 176;
const SKB_SIZE: usize = 192;

/// Runs `prog` on `frame` `repeat` times.
pub fn run(
    prog: BorrowedFd<'_>,
    frame: &[u8],
    ctx: &SkbContext,
    repeat: u32,
) -> io::Result<RunResult> {
    let mut skb = [0u8; SKB_SIZE];
    let mut put = |off: usize, v: u32| skb[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    put(SKB_INGRESS_IFINDEX, ctx.ingress_ifindex);
    put(SKB_IFINDEX, ctx.ifindex);
    put(SKB_GSO_SEGS, ctx.gso_segs);
    put(SKB_GSO_SIZE, ctx.gso_size);
    let mut opts = libbpf_sys::bpf_test_run_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_test_run_opts>() as _,
        data_in: frame.as_ptr().cast(),
        data_size_in: frame.len() as u32,
        ctx_in: skb.as_ptr().cast(),
        ctx_size_in: SKB_SIZE as u32,
        repeat: i32::try_from(repeat).unwrap_or(i32::MAX),
        ..Default::default()
    };
    // SAFETY: data_in/ctx_in point at buffers of the sizes given, alive for
    // the call; no output buffers are requested.
    let ret = unsafe { libbpf_sys::bpf_prog_test_run_opts(prog.as_raw_fd(), &mut opts) };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(RunResult {
        retval: opts.retval,
        duration: Duration::from_nanos(u64::from(opts.duration)),
    })
}
