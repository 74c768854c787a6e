//! Where pins live. Pure path arithmetic, checked before anything is pinned.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Standalone default: `/sys/fs/bpf/ipfix-flow-exporter/<iface>/`.
pub const STANDALONE_BASE: &str = "/sys/fs/bpf/ipfix-flow-exporter";
/// l3afd pins tc programs' maps under `<root>/tc/globals/<iface>/<name>/<version>/`
/// (root: its BpfMapDefaultPath, `/sys/fs/bpf`).
pub const L3AFD_TC_DIR: &str = "tc/globals";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PinPathError {
    #[error("{what} {value:?} cannot be part of a pin path (empty, '.', '..' or contains '/')")]
    BadComponent { what: &'static str, value: String },
}

fn component<'a>(what: &'static str, value: &'a str) -> Result<&'a str, PinPathError> {
    if value.is_empty()
        || value == "."
        || value == ".."
        || value.contains('/')
        || value.contains('\0')
    {
        return Err(PinPathError::BadComponent {
            what,
            value: value.to_owned(),
        });
    }
    Ok(value)
}

/// `<base>/<iface>`: the standalone pin directory of one interface.
pub fn standalone_dir(base: &Path, iface: &str) -> Result<PathBuf, PinPathError> {
    Ok(base.join(component("interface", iface)?))
}

/// Where l3afd pins a tc program's maps: `<root>/tc/globals/<iface>/<name>/<version>`
/// (l3afd after v2.1.0, which passes `--version`), or `<root>/tc/globals/<iface>`
/// (v2.1.0 and before: no `--version`, one directory for every program of
/// the interface).
pub fn l3afd_dir(
    root: &Path,
    iface: &str,
    name: &str,
    version: Option<&str>,
) -> Result<PathBuf, PinPathError> {
    let iface_dir = root.join(L3AFD_TC_DIR).join(component("interface", iface)?);
    Ok(match version {
        Some(v) => iface_dir
            .join(component("program name", name)?)
            .join(component("version", v)?),
        None => iface_dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standalone_dir_is_per_interface() {
        assert_eq!(
            standalone_dir(Path::new(STANDALONE_BASE), "eth0").unwrap(),
            PathBuf::from("/sys/fs/bpf/ipfix-flow-exporter/eth0")
        );
    }

    #[test]
    fn l3afd_dir_follows_l3afd() {
        assert_eq!(
            l3afd_dir(
                Path::new("/sys/fs/bpf"),
                "enp0s3",
                "ipfix-flow-exporter",
                Some("latest")
            )
            .unwrap(),
            PathBuf::from("/sys/fs/bpf/tc/globals/enp0s3/ipfix-flow-exporter/latest")
        );
        // l3afd v2.1.0: no --version, the interface's directory.
        assert_eq!(
            l3afd_dir(
                Path::new("/sys/fs/bpf"),
                "enp0s3",
                "ipfix-flow-exporter",
                None
            )
            .unwrap(),
            PathBuf::from("/sys/fs/bpf/tc/globals/enp0s3")
        );
    }

    #[test]
    fn traversal_is_refused() {
        for bad in ["", ".", "..", "a/b"] {
            assert!(standalone_dir(Path::new("/x"), bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            l3afd_dir(Path::new("/sys/fs/bpf"), "eth0", "..", Some("1")).unwrap_err(),
            PinPathError::BadComponent {
                what: "program name",
                value: "..".into()
            }
        );
    }
}
