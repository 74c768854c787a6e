//! Shared test support. Each integration test file uses what it needs.
#![allow(dead_code)]

pub mod bpfobj;
pub mod collector;
pub mod exporter;
pub mod frames;
pub mod l3afd;
pub mod netns;
pub mod process;
pub mod real_l3afd;
pub mod traffic;

/// True when the test may touch the kernel (root). Otherwise prints
/// `SKIP: <reason>` and returns false — unless IPFIX_TESTS_STRICT=1 (CI),
/// where a skip is a failure.
pub fn privileged(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let why = format!("SKIP: {test} needs root (BPF, tc, network namespaces)");
    if std::env::var_os("IPFIX_TESTS_STRICT").is_some() {
        panic!("{why}, and IPFIX_TESTS_STRICT forbids skipping");
    }
    println!("{why}");
    false
}

/// Fails (strict) or skips when an external tool is missing.
pub fn have_tool(test: &str, tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    if found {
        return true;
    }
    let why = format!("SKIP: {test} needs {tool} on PATH");
    if std::env::var_os("IPFIX_TESTS_STRICT").is_some() {
        panic!("{why}, and IPFIX_TESTS_STRICT forbids skipping");
    }
    println!("{why}");
    false
}

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
pub fn kernel_has_tcx(test: &str) -> bool {
    if ipfix_flow_exporter::kernel::has_tcx() {
        return true;
    }
    println!(
        "SKIP: {test} needs TCX (Linux {} or later); this kernel is {}",
        ipfix_flow_exporter::kernel::TCX,
        ipfix_flow_exporter::kernel::running_release()
    );
    false
}
