//! One exporter per interface: an advisory lock that dies with the process.
//!
//! Holding it proves that any of our filters or pins for the interface that
//! still exist were left by a process that is gone, so they can be reused or
//! replaced safely.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};

pub const LOCK_DIR: &str = "/run/ipfix-flow-exporter";

pub struct InstanceLock {
    _lock: Flock<File>,
    pub path: PathBuf,
}

impl Drop for InstanceLock {
    fn drop(&mut self) {
        // Unlink while still holding the lock; a process that opened the
        // file before this point locks an orphaned inode and retries never
        // see it, which is harmless for a per-interface guard.
        let _ = fs::remove_file(&self.path);
    }
}

impl InstanceLock {
    /// Takes the lock for `name` (an interface or pin directory) or fails
    /// naming the lock file when another live process holds it.
    pub fn acquire(dir: &Path, name: &str) -> Result<Self> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .with_context(|| format!("creating lock directory {}", dir.display()))?;
        let path = dir.join(format!("{name}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("opening lock file {}", path.display()))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(InstanceLock { _lock: lock, path }),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => bail!(
                "another ipfix-flow-exporter already runs for {name} (lock {} is held)",
                path.display()
            ),
            Err((_, e)) => Err(e).with_context(|| format!("locking {}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_drops() {
        let dir = std::env::temp_dir().join(format!("ipfix-lock-test-{}", std::process::id()));
        let first = InstanceLock::acquire(&dir, "eth9").unwrap();
        let err = InstanceLock::acquire(&dir, "eth9")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("already runs for eth9"), "{err}");
        drop(first);
        let again = InstanceLock::acquire(&dir, "eth9");
        assert!(again.is_ok());
        drop(again);
        fs::remove_dir_all(&dir).unwrap();
    }
}
