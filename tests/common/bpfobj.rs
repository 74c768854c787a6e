//! A freshly loaded object with its maps pinned in a private bpffs
//! directory, removed on drop (also when the test panics).

use std::os::fd::AsFd;
use std::path::PathBuf;

use ipfix_flow_exporter::abi::{FlowKey, FlowValue};
use ipfix_flow_exporter::datapath::batch::Drain;
use ipfix_flow_exporter::datapath::object::{self, LoadOptions, LoadedObject};
use ipfix_flow_exporter::datapath::test_run::{self, SkbContext};
use ipfix_flow_exporter::flow::Direction;
use ipfix_flow_exporter::flow::FlowStats;

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
        let dir = PathBuf::from("/sys/fs/bpf").join(super::unique("ipfix-test-"));
        let obj = object::load(
            direction,
            &LoadOptions {
                pin_dir: &dir,
                max_flows,
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

    /// Every entry of both flow maps, drained (the maps are empty after).
    pub fn drain_flows(&self) -> Vec<(FlowKey, FlowValue)> {
        let mut out = Vec::new();
        for map in &self.obj.maps.flows {
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
