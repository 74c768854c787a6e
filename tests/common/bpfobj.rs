//! A freshly loaded object with its maps pinned in a private bpffs
//! directory, removed on drop (also when the test panics).

use std::ffi::CString;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use ipfix_flow_exporter::abi::{FlowKey, FlowValue};
use ipfix_flow_exporter::datapath::batch::Drain;
use ipfix_flow_exporter::datapath::object::{self, FlowMapAlloc, LoadOptions, LoadedObject};
use ipfix_flow_exporter::datapath::test_run::{self, SkbContext};
use ipfix_flow_exporter::flow::Direction;
use ipfix_flow_exporter::flow::FlowStats;
use libbpf_rs::libbpf_sys;

pub const TC_ACT_UNSPEC: u32 = u32::MAX; // -1

pub struct TestObject {
    pub obj: LoadedObject,
    pub dir: PathBuf,
}

impl TestObject {
    pub fn load(direction: Direction) -> Self {
        Self::load_with(direction, None)
    }

    pub fn load_with(direction: Direction, max_flows: Option<u32>) -> Self {
        Self::load_alloc(direction, max_flows, FlowMapAlloc::default())
    }

    pub fn load_alloc(direction: Direction, max_flows: Option<u32>, alloc: FlowMapAlloc) -> Self {
        let dir = PathBuf::from("/sys/fs/bpf").join(super::unique("ipfix-test-"));
        let obj = object::load(
            direction,
            &LoadOptions {
                pin_dir: &dir,
                max_flows,
                alloc,
                replace_stale_pins: false,
            },
        )
        .expect("loading the BPF object");
        TestObject { obj, dir }
    }

    /// Runs the program once on `frame`; returns its verdict.
    pub fn run(&self, frame: &[u8]) -> u32 {
        self.run_ctx(frame, &SkbContext::default())
    }

    pub fn run_ctx(&self, frame: &[u8], ctx: &SkbContext) -> u32 {
        test_run::run(self.obj.prog.as_fd(), frame, ctx, 1)
            .expect("BPF_PROG_TEST_RUN")
            .retval
    }

    /// Every entry of all four flow maps, drained (the maps are empty
    /// after).
    pub fn drain_flows(&self) -> Vec<(FlowKey, FlowValue)> {
        let mut out = Vec::new();
        for map in self.obj.maps.flows.iter().flat_map(|pair| pair.both()) {
            let mut d = Drain::new(map, 64);
            while d.next_into(&mut out).expect("draining a flow map") > 0 {}
        }
        out
    }

    pub fn stats(&self) -> FlowStats {
        self.obj.maps.stats().expect("reading stats")
    }
}

impl Drop for TestObject {
    fn drop(&mut self) {
        let _ = self.obj.pins.remove_all();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// One `struct bpf_insn`: opcode, registers, immediate.
pub fn insn(code: u32, dst: u8, src: u8, imm: i32) -> libbpf_sys::bpf_insn {
    let mut i = libbpf_sys::bpf_insn {
        code: code as u8,
        imm,
        ..Default::default()
    };
    i.set_dst_reg(dst);
    i.set_src_reg(src);
    i
}

/// The tests' one hand-assembled program loader: a SCHED_CLS program of
/// `insns` named `name` (at most 15 bytes), with the verifier's log in the
/// panic when the kernel refuses it.
pub fn load_sched_cls(name: &str, insns: &[libbpf_sys::bpf_insn]) -> OwnedFd {
    use libbpf_sys::*;
    let mut log = vec![0u8; 64 * 1024];
    let mut opts = bpf_prog_load_opts {
        sz: std::mem::size_of::<bpf_prog_load_opts>() as _,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr().cast(),
        ..Default::default()
    };
    let name_c = CString::new(name).unwrap();
    // SAFETY: valid instructions, NUL-terminated strings, a live log buffer
    // of the size given.
    let fd = unsafe {
        bpf_prog_load(
            BPF_PROG_TYPE_SCHED_CLS,
            name_c.as_ptr(),
            c"GPL".as_ptr(),
            insns.as_ptr(),
            insns.len() as _,
            &mut opts,
        )
    };
    if fd < 0 {
        let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
        panic!(
            "loading the program {name}: {}\n{}",
            std::io::Error::from_raw_os_error(-fd),
            String::from_utf8_lossy(&log[..end])
        );
    }
    // SAFETY: a fresh fd nobody else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `return verdict;` as a SCHED_CLS program (no C needed).
pub fn verdict_program(verdict: i32) -> OwnedFd {
    use libbpf_sys::*;
    load_sched_cls(
        "test_verdict",
        &[
            insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, verdict),
            insn(BPF_JMP | BPF_EXIT, 0, 0, 0),
        ],
    )
}

/// A tc program that pushes a VLAN tag (`tpid`, `vid`) the way a VLAN
/// device on a NIC with transmit VLAN offload leaves it: in skb->vlan_tci
/// (bpf_skb_vlan_push(), which moves a tag already there into the frame
/// first), then returns TC_ACT_UNSPEC so that the next program runs.
pub fn vlan_push_program(tpid: u16, vid: u16) -> OwnedFd {
    use libbpf_sys::*;
    const BPF_FUNC_SKB_VLAN_PUSH: i32 = 18;
    load_sched_cls(
        "vlan_push",
        &[
            // r1 = skb already; r2 = the TPID in network byte order.
            insn(
                BPF_ALU64 | BPF_MOV | BPF_K,
                2,
                0,
                i32::from(u16::from_ne_bytes(tpid.to_be_bytes())),
            ),
            insn(BPF_ALU64 | BPF_MOV | BPF_K, 3, 0, i32::from(vid)),
            insn(BPF_JMP | BPF_CALL, 0, 0, BPF_FUNC_SKB_VLAN_PUSH),
            insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, -1),
            insn(BPF_JMP | BPF_EXIT, 0, 0, 0),
        ],
    )
}
