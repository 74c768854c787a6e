//! Shared test support. Each integration test file uses what it needs.
#![allow(dead_code)]

pub mod bpfobj;
pub mod collector;
pub mod exporter;
pub mod frames;
pub mod l3afd;
pub mod netns;
pub mod nfacctd;
pub mod nfcapd;
pub mod packet;
pub mod process;
pub mod real_l3afd;
pub mod rng;
pub mod tempdir;
pub mod traffic;
pub mod tshark;

/// The running test's name, for SKIP lines: libtest names each test's
/// thread after the test (a `harness = false` target gets "main").
pub fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_owned()
}

/// A test that cannot run here: prints `SKIP: <test> <why>` — or fails
/// under IPFIX_TESTS_STRICT=1 (CI), where nothing may skip.
pub fn skip(why: &str) {
    let line = format!("SKIP: {} {why}", test_name());
    if std::env::var_os("IPFIX_TESTS_STRICT").is_some() {
        panic!("{line}, and IPFIX_TESTS_STRICT forbids skipping");
    }
    println!("{line}");
}

/// True when running as root; otherwise [`skip`]s and returns false.
pub fn privileged() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    skip("needs root (BPF, tc, network namespaces)");
    false
}

/// True when `tool` is on PATH; otherwise [`skip`]s and returns false.
pub fn have_tool(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    if !found {
        skip(&format!("needs {tool} on PATH"));
    }
    found
}

/// First line of a test that touches the kernel: returns from it with a
/// loud `SKIP` unless running as root (a failure under IPFIX_TESTS_STRICT).
#[allow(unused_macros)]
macro_rules! require_root {
    () => {
        if !$crate::common::privileged() {
            return;
        }
    };
}
#[allow(unused_imports)]
pub(crate) use require_root;

/// `require_tools!("jq", "curl")`: returns from the test with a loud `SKIP`
/// (a failure under IPFIX_TESTS_STRICT) unless every tool is on PATH.
#[allow(unused_macros)]
macro_rules! require_tools {
    ($($tool:expr),+ $(,)?) => {
        if !($($crate::common::have_tool($tool))&&+) {
            return;
        }
    };
}
#[allow(unused_imports)]
pub(crate) use require_tools;

/// A name unique to this process and call, for pins, namespaces, veths.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// True when the running kernel has TCX links (Linux 6.6+). Otherwise prints
/// `SKIP: <test> needs TCX ...` naming the kernel and returns false: the
/// kernel matrix (`make kernels`) runs the tests on 6.1, where only clsact
/// exists, and a test that forces `--attach tcx` has nothing to test there
/// (`tcx_on_a_kernel_without_it_is_refused_by_name` covers that kernel).
pub fn kernel_has_tcx() -> bool {
    if ipfix_flow_exporter::kernel::has_tcx() {
        return true;
    }
    println!(
        "SKIP: {} needs TCX (Linux {} or later); this kernel is {}",
        test_name(),
        ipfix_flow_exporter::kernel::TCX,
        ipfix_flow_exporter::kernel::running_release()
    );
    false
}
