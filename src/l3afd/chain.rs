//! Legacy mode's place in l3afd's chain: our program in slot 0 of the
//! previous program's pinned prog array, removed again on exit — unless
//! someone else has taken the slot since.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use libbpf_rs::{MapCore, MapFlags, MapHandle, MapType};

const SLOT0: [u8; 4] = 0u32.to_ne_bytes();

pub struct ChainSlot {
    array: MapHandle,
    path: PathBuf,
    prog_id: u32,
}

impl ChainSlot {
    /// Puts `prog` into slot 0 of the prog array pinned at `path`.
    pub fn insert(path: &Path, prog: BorrowedFd<'_>, prog_id: u32) -> Result<Self> {
        let array = MapHandle::from_pinned_path(path).with_context(|| {
            format!(
                "opening the previous program's prog array {}",
                path.display()
            )
        })?;
        if array.map_type() != MapType::ProgArray {
            bail!(
                "{} is a {:?} map, not a prog array (--map-name must name the previous program's jmp table)",
                path.display(),
                array.map_type()
            );
        }
        let fd = prog.as_fd().as_raw_fd() as u32;
        array
            .update(&SLOT0, &fd.to_ne_bytes(), MapFlags::ANY)
            .with_context(|| format!("putting our program into slot 0 of {}", path.display()))?;
        log::info!(
            "chained after {} (slot 0 = program id {prog_id})",
            path.display()
        );
        Ok(ChainSlot {
            array,
            path: path.to_path_buf(),
            prog_id,
        })
    }
}

impl Drop for ChainSlot {
    fn drop(&mut self) {
        let current = match self.array.lookup(&SLOT0, MapFlags::ANY) {
            Ok(Some(v)) if v.len() == 4 => Some(u32::from_ne_bytes([v[0], v[1], v[2], v[3]])),
            _ => None,
        };
        if current != Some(self.prog_id) {
            log::info!(
                "slot 0 of {} no longer holds our program; leaving it",
                self.path.display()
            );
            return;
        }
        if let Err(e) = self.array.delete(&SLOT0) {
            log::error!("removing our program from {}: {e}", self.path.display());
        }
    }
}
