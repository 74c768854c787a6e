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
