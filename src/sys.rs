//! Facts about the running system that startup checks depend on.
//!
//! Each check returns an error naming what is missing and where, so that
//! `main` can print one line and exit before anything is attached or pinned.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};
use nix::sys::statfs::statfs;
use nix::time::{clock_gettime, ClockId};

use crate::abi::FlowClock;
use crate::flow::clock::Clock;
use crate::schema::InterfaceName;

/// `BPF_FS_MAGIC` from linux/magic.h.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_PERFMON: u32 = 38;
pub const CAP_BPF: u32 = 39;

/// Interface index of `name`, or an error naming the interface.
pub fn ifindex(name: &str) -> Result<u32> {
    nix::net::if_::if_nametoindex(name)
        .with_context(|| format!("interface {name:?} does not exist in this network namespace"))
}

/// The interfaces of this network namespace, for template 286: index,
/// name, and alias as description. The alias is read from sysfs only where
/// sysfs shows this namespace's interface of that index (a sysfs mounted in
/// another namespace shows that one's); else it is empty.
pub fn interface_names() -> Vec<InterfaceName> {
    let Ok(list) = nix::net::if_::if_nameindex() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|i| {
            let name = i.name().to_str().ok()?.to_owned();
            let dir = Path::new("/sys/class/net").join(&name);
            let same = std::fs::read_to_string(dir.join("ifindex"))
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
                == Some(i.index());
            let description = if same {
                std::fs::read_to_string(dir.join("ifalias"))
                    .map(|s| s.trim_end_matches('\n').to_owned())
                    .unwrap_or_default()
            } else {
                String::new()
            };
            Some(InterfaceName {
                index: i.index(),
                name,
                description,
            })
        })
        .collect()
}

/// Fails unless `path` lies on a mounted bpffs.
pub fn require_bpffs(path: &Path) -> Result<()> {
    let probe = path
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    let fs = statfs(probe).with_context(|| format!("statfs {}", probe.display()))?;
    if fs.filesystem_type().0 as i64 != BPF_FS_MAGIC {
        bail!(
            "{} is not on a bpffs mount: mount it with `mount -t bpf bpf /sys/fs/bpf`",
            path.display()
        );
    }
    Ok(())
}

/// Fails unless the kernel exposes its BTF (CO-RE-free objects still need
/// BTF-defined maps, and the kernel must accept them).
pub fn require_kernel_btf() -> Result<()> {
    let btf = Path::new("/sys/kernel/btf/vmlinux");
    if !btf.exists() {
        bail!(
            "kernel without BTF: {} is missing (needs CONFIG_DEBUG_INFO_BTF=y)",
            btf.display()
        );
    }
    Ok(())
}

/// The effective capability set of this process, from /proc/self/status.
pub fn effective_caps() -> Result<u64> {
    let status = fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    parse_cap_eff(&status).context("no CapEff line in /proc/self/status")
}

fn parse_cap_eff(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
}

/// Fails unless the process may load BPF, create maps and attach to tc.
pub fn require_caps() -> Result<()> {
    let caps = effective_caps()?;
    let has = |cap: u32| caps & (1u64 << cap) != 0;
    let mut missing = Vec::new();
    if !has(CAP_NET_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    if !(has(CAP_BPF) || has(CAP_SYS_ADMIN)) {
        missing.push("CAP_BPF");
    }
    if !(has(CAP_PERFMON) || has(CAP_SYS_ADMIN)) {
        missing.push("CAP_PERFMON");
    }
    if !missing.is_empty() {
        bail!(
            "missing capabilities {}: run as root or grant them (setcap cap_bpf,cap_net_admin,cap_perfmon+ep)",
            missing.join(", ")
        );
    }
    Ok(())
}

/// What the running exporter keeps besides `extra`: the capability the
/// bpf() syscall itself may demand. Before Linux 5.19, with
/// kernel.unprivileged_bpf_disabled set (Ubuntu's default), every bpf()
/// command needs it, even on map fds already held. CAP_BPF where the kernel
/// knows it (5.8+), CAP_SYS_ADMIN before.
pub fn runtime_caps(extra: &[u32]) -> Vec<u32> {
    let last_cap: u32 = fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(CAP_BPF);
    let mut keep = extra.to_vec();
    keep.push(if last_cap >= CAP_BPF {
        CAP_BPF
    } else {
        CAP_SYS_ADMIN
    });
    keep
}

/// Keeps only the capabilities in `keep` (effective and permitted; nothing
/// inheritable, no ambient), so a compromised exporter cannot load programs
/// or attach anything once it is running. Called after load and attach.
pub fn drop_capabilities(keep: &[u32]) -> Result<()> {
    use nix::libc;
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut data = [Data::default(); 2];
    for &cap in keep {
        let (word, bit) = ((cap / 32) as usize, 1u32 << (cap % 32));
        if word < 2 {
            data[word].effective |= bit;
            data[word].permitted |= bit;
        }
    }
    let mut header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    // SAFETY: capset(2) with a v3 header and two data words, both alive for
    // the call; pid 0 is this thread. Threads started before this call keep
    // their sets, so it runs before any export thread exists.
    let ret = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) };
    if ret != 0 {
        return Err(std::io::Error::last_os_error()).context("dropping capabilities (capset)");
    }
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    }
    Ok(())
}

/// The system's clocks, for the export path; `kernel` is the clock the
/// datapath stamps flows with.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock {
    pub kernel: FlowClock,
}

impl Clock for SystemClock {
    fn kernel_ns(&self) -> u64 {
        kernel_clock_ns(self.kernel)
    }

    fn real_ns(&self) -> u64 {
        realtime_ns()
    }

    fn now(&self) -> std::time::Instant {
        std::time::Instant::now()
    }
}

/// Now in nanoseconds on `clock`: CLOCK_MONOTONIC, whose last tick is what
/// bpf_ktime_get_coarse_ns() reads, or CLOCK_BOOTTIME, the clock of
/// bpf_ktime_get_boot_ns().
pub fn kernel_clock_ns(clock: FlowClock) -> u64 {
    match clock {
        FlowClock::Coarse => clock_ns(ClockId::CLOCK_MONOTONIC),
        FlowClock::Boot => clock_ns(ClockId::CLOCK_BOOTTIME),
    }
}

/// CLOCK_REALTIME in nanoseconds since the Unix epoch.
pub fn realtime_ns() -> u64 {
    clock_ns(ClockId::CLOCK_REALTIME)
}

fn clock_ns(id: ClockId) -> u64 {
    // SANITY: clock_gettime only fails for an invalid clock id, and both ids
    // used here exist on every kernel this program can load on.
    let ts = clock_gettime(id).expect("clock_gettime on a valid clock");
    u64::try_from(ts.tv_sec()).unwrap_or(0) * 1_000_000_000
        + u64::try_from(ts.tv_nsec()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_eff_is_parsed_as_hex() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(parse_cap_eff(status), Some(0x1ff_ffff_ffff));
        assert_eq!(parse_cap_eff("Name: x\n"), None);
    }

    #[test]
    fn unknown_interface_is_named_in_the_error() {
        let err = ifindex("no-such-if0").unwrap_err();
        assert!(format!("{err:#}").contains("no-such-if0"));
    }
}
