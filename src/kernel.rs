//! The running kernel's release (uname), and the oldest one our objects
//! load on.
//!
//! The objects use the 32-bit `BPF_ATOMIC` cmpxchg and fetch-or (Linux 5.12;
//! older verifiers reject them with "BPF_STX uses reserved fields") and
//! `bpf_ktime_get_coarse_ns` (5.11) / `bpf_ktime_get_boot_ns` (5.8), with
//! BTF-defined maps. TCX (6.6) is optional: without it the programs attach
//! with a clsact filter. Checking the release first turns a verifier dump
//! into one line naming what is missing.

use std::fmt;

/// Linux `major.minor.patch`, from the leading digits of a release string
/// such as `6.1.0-57-amd64` or `6.12.118+deb12-amd64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl KernelVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }
}

/// `6.6` for a `.0` patch level (as kernel versions are spoken of),
/// `6.12.118` otherwise.
impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if self.patch != 0 {
            write!(f, ".{}", self.patch)?;
        }
        Ok(())
    }
}

/// 32-bit atomic cmpxchg and fetch-or in BPF programs.
pub const ATOMICS: KernelVersion = KernelVersion::new(5, 12, 0);
/// The oldest kernel the objects load on (the newest of their needs).
pub const MINIMUM: KernelVersion = ATOMICS;
/// TCX links; below this, `--attach auto` uses clsact.
pub const TCX: KernelVersion = KernelVersion::new(6, 6, 0);

/// What the objects need from the kernel, for error messages.
pub const NEEDS: &str = "32-bit BPF atomics (Linux 5.12), bpf_ktime_get_coarse_ns (5.11) and \
                         kernel BTF; TCX (6.6) is optional, clsact is used without it";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KernelError {
    #[error("cannot read a kernel version from release {0:?}")]
    Unparsable(String),
    #[error(
        "kernel {release} is too old: the BPF objects need Linux {MINIMUM} or later \
         ({NEEDS})"
    )]
    TooOld { release: String },
}

/// Parses the leading `major.minor[.patch]` of a release string; anything
/// after the numbers (`-57-amd64`, `+deb12`, `-rc3`) is ignored.
pub fn parse_release(release: &str) -> Result<KernelVersion, KernelError> {
    let bad = || KernelError::Unparsable(release.to_string());
    let numeric_end = release
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(release.len());
    let mut parts = release[..numeric_end].split('.');
    let mut next = |required: bool| -> Result<u32, KernelError> {
        match parts.next() {
            Some(p) if !p.is_empty() => p.parse().map_err(|_| bad()),
            None if !required => Ok(0),
            _ => Err(bad()),
        }
    };
    let major = next(true)?;
    let minor = next(true)?;
    let patch = next(false)?;
    Ok(KernelVersion::new(major, minor, patch))
}

/// The version of `release`, or why the objects will not load on it.
pub fn check_release(release: &str) -> Result<KernelVersion, KernelError> {
    let v = parse_release(release)?;
    if v < MINIMUM {
        return Err(KernelError::TooOld {
            release: release.to_string(),
        });
    }
    Ok(v)
}

/// The running kernel's release string, as `uname -r` prints it (empty
/// when /proc is not mounted, which [`parse_release`] then refuses).
pub fn running_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Fails unless the running kernel is new enough to load the objects.
pub fn require_supported() -> Result<KernelVersion, KernelError> {
    check_release(&running_release())
}

/// Whether the running kernel is new enough for TCX links (false when its
/// release cannot be read).
pub fn has_tcx() -> bool {
    parse_release(&running_release()).is_ok_and(|v| v >= TCX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_releases_parse() {
        assert_eq!(
            parse_release("6.1.0-57-amd64"),
            Ok(KernelVersion::new(6, 1, 0))
        );
        assert_eq!(
            parse_release("6.12.118+deb12-amd64"),
            Ok(KernelVersion::new(6, 12, 118))
        );
        assert_eq!(
            parse_release("5.10.0-35-cloud-amd64"),
            Ok(KernelVersion::new(5, 10, 0))
        );
    }

    #[test]
    fn other_release_shapes_parse() {
        assert_eq!(parse_release("6.18"), Ok(KernelVersion::new(6, 18, 0)));
        assert_eq!(
            parse_release("6.18.44-fc-v1147"),
            Ok(KernelVersion::new(6, 18, 44))
        );
        assert_eq!(parse_release("6.9.0-rc3"), Ok(KernelVersion::new(6, 9, 0)));
        assert_eq!(
            parse_release("5.14.0-427.el9.x86_64"),
            Ok(KernelVersion::new(5, 14, 0))
        );
    }

    #[test]
    fn garbage_is_refused_by_name() {
        for bad in ["", "linux", "6", "6.", ".1", "6..1", "99999999999.1"] {
            assert_eq!(
                parse_release(bad),
                Err(KernelError::Unparsable(bad.to_string())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn versions_compare_numerically_not_as_text() {
        assert!(KernelVersion::new(6, 12, 0) > KernelVersion::new(6, 6, 0));
        assert!(KernelVersion::new(6, 1, 200) < KernelVersion::new(6, 6, 0));
        assert!(KernelVersion::new(10, 0, 0) > KernelVersion::new(9, 99, 99));
    }

    #[test]
    fn minimum_is_5_12() {
        assert!(check_release("5.12.0").is_ok());
        assert!(check_release("6.1.0-57-amd64").is_ok());
        assert!(check_release("5.11.22").is_err());
        let err = check_release("5.10.0-35-amd64").unwrap_err();
        assert_eq!(
            err,
            KernelError::TooOld {
                release: "5.10.0-35-amd64".into()
            }
        );
        let msg = err.to_string();
        for needed in ["5.10.0-35-amd64", "5.12", "atomics", "5.11", "BTF", "6.6"] {
            assert!(msg.contains(needed), "{needed} missing from {msg:?}");
        }
    }

    #[test]
    fn versions_print_as_spoken() {
        assert_eq!(TCX.to_string(), "6.6");
        assert_eq!(MINIMUM.to_string(), "5.12");
        assert_eq!(KernelVersion::new(6, 12, 118).to_string(), "6.12.118");
    }

    #[test]
    fn tcx_starts_at_6_6() {
        assert!(parse_release("6.6.0").unwrap() >= TCX);
        assert!(parse_release("6.5.13").unwrap() < TCX);
        assert!(parse_release("6.1.0-57-amd64").unwrap() < TCX);
    }
}
