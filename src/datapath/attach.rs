//! Attaching a program at tc ingress/egress: TCX links where the kernel has
//! them, a clsact direct-action filter otherwise. The returned guard detaches
//! exactly what it attached, on drop, and never touches other programs or
//! filters; a clsact qdisc it had to create goes when its last filter does
//! (see [`super::clsact`]).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use libbpf_rs::libbpf_sys;
use libbpf_rs::{TcHook, TC_EGRESS, TC_INGRESS};

use super::clsact;
use super::names::kernel_prog_name;
use crate::config::AttachMode;
use crate::flow::Direction;

/// Our clsact filter's handle and priority: fixed, so that a restart after a
/// crash finds and replaces the filter the dead process left.
pub const TC_HANDLE: u32 = 0x1f1c;
pub const TC_PRIORITY: u32 = 1;

/// How many programs a TCX query lists at most.
const TCX_QUERY_MAX: usize = 64;

#[derive(Debug)]
enum Hook {
    /// A TCX link, pinned when `pin` is set so that it (and metering) outlives
    /// a crash; the next start takes it over with a program update.
    Tcx {
        link: OwnedFd,
        pin: Option<PathBuf>,
    },
    Tc {
        hook: TcHook,
    },
}

/// One attached program; detaches on drop.
#[derive(Debug)]
pub struct Attachment {
    hook: Option<Hook>,
    pub ifindex: u32,
    pub direction: Direction,
}

impl Attachment {
    pub fn kind(&self) -> &'static str {
        match self.hook {
            Some(Hook::Tcx { .. }) => "tcx",
            Some(Hook::Tc { .. }) => "tc",
            None => "detached",
        }
    }

    /// Detaches now, reporting errors (drop only logs them).
    pub fn detach(mut self) -> Result<()> {
        self.detach_inner()
    }

    fn detach_inner(&mut self) -> Result<()> {
        match self.hook.take() {
            None => {}
            Some(Hook::Tcx { link, pin }) => {
                if let Some(p) = &pin {
                    match std::fs::remove_file(p) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(e).with_context(|| format!("unpinning {}", p.display()))
                        }
                    }
                }
                // SAFETY: the fd is a live bpf link owned by this guard.
                let ret = unsafe { libbpf_sys::bpf_link_detach(link.as_raw_fd()) };
                if ret != 0 {
                    let err = io::Error::last_os_error();
                    // ENOLINK: already detached (interface gone).
                    if err.raw_os_error() != Some(nix::libc::ENOLINK) {
                        return Err(err).context("detaching TCX link");
                    }
                }
            }
            Some(Hook::Tc { mut hook }) => {
                match hook.detach() {
                    Ok(()) => {}
                    Err(e) if e.kind() == libbpf_rs::ErrorKind::NotFound => {}
                    Err(e) => return Err(e).context("detaching clsact filter"),
                }
                clsact::release(self.ifindex)?;
            }
        }
        Ok(())
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        if let Err(e) = self.detach_inner() {
            log::error!(
                "detaching {} program from ifindex {}: {e:#}",
                self.direction.as_str(),
                self.ifindex
            );
        }
    }
}

fn tcx_attach_type(dir: Direction) -> libbpf_sys::bpf_attach_type {
    match dir {
        Direction::Ingress => libbpf_sys::BPF_TCX_INGRESS,
        Direction::Egress => libbpf_sys::BPF_TCX_EGRESS,
    }
}

/// Attaches `prog` at `dir` of `ifindex`. With `link_pin`, a TCX link is
/// pinned there (and a link left pinned there by a crashed run is taken
/// over instead of adding a second one).
pub fn attach(
    prog: BorrowedFd<'_>,
    ifindex: u32,
    dir: Direction,
    mode: AttachMode,
    link_pin: Option<&Path>,
) -> Result<Attachment> {
    let hook = match mode {
        AttachMode::Tcx => attach_tcx(prog, ifindex, dir, link_pin).map_err(|e| {
            if tcx_unsupported(&e) {
                e.context(format!(
                    "--attach tcx: this kernel ({}) has no TCX; TCX needs Linux {} or later \
                     (--attach auto uses clsact without it)",
                    crate::kernel::running_release(),
                    crate::kernel::TCX
                ))
            } else {
                e
            }
        })?,
        AttachMode::Tc => attach_tc(prog, ifindex, dir)?,
        AttachMode::Auto => match attach_tcx(prog, ifindex, dir, link_pin) {
            Ok(h) => h,
            Err(e) if tcx_unsupported(&e) => {
                log::info!("kernel has no TCX, attaching {} with clsact", dir.as_str());
                attach_tc(prog, ifindex, dir)?
            }
            Err(e) => return Err(e),
        },
    };
    Ok(Attachment {
        hook: Some(hook),
        ifindex,
        direction: dir,
    })
}

fn tcx_unsupported(e: &anyhow::Error) -> bool {
    e.downcast_ref::<io::Error>()
        .and_then(io::Error::raw_os_error)
        .is_some_and(|c| c == nix::libc::EINVAL || c == nix::libc::EOPNOTSUPP)
}

/// Names of the programs on a TCX hook, by id.
pub fn tcx_programs(ifindex: u32, dir: Direction) -> io::Result<Vec<(u32, String)>> {
    let mut ids = [0u32; TCX_QUERY_MAX];
    let mut opts = libbpf_sys::bpf_prog_query_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_prog_query_opts>() as _,
        prog_ids: ids.as_mut_ptr(),
        ..Default::default()
    };
    opts.__bindgen_anon_1.count = TCX_QUERY_MAX as u32;
    // SAFETY: prog_ids points at TCX_QUERY_MAX u32s, as count says.
    let ret =
        unsafe { libbpf_sys::bpf_prog_query_opts(ifindex as i32, tcx_attach_type(dir), &mut opts) };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel wrote the count member of the union.
    let n = unsafe { opts.__bindgen_anon_1.count } as usize;
    Ok(ids[..n.min(TCX_QUERY_MAX)]
        .iter()
        .map(|&id| (id, prog_name(id).unwrap_or_default()))
        .collect())
}

/// The kernel's (15-character) name of program `id`.
pub fn prog_name(id: u32) -> io::Result<String> {
    let fd = libbpf_rs::Program::fd_from_id(id).map_err(io::Error::other)?;
    let mut info = libbpf_sys::bpf_prog_info::default();
    let mut len = std::mem::size_of::<libbpf_sys::bpf_prog_info>() as u32;
    // SAFETY: info is a bpf_prog_info of `len` bytes.
    let ret = unsafe { libbpf_sys::bpf_prog_get_info_by_fd(fd.as_raw_fd(), &mut info, &mut len) };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    let name: Vec<u8> = info
        .name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Ok(String::from_utf8_lossy(&name).into_owned())
}

/// Takes over the link pinned at `pin` if it still sits on `ifindex`/`dir`:
/// swaps its program for `prog`. `Ok(None)` when there is nothing usable.
fn take_over_pinned_link(
    prog: BorrowedFd<'_>,
    ifindex: u32,
    dir: Direction,
    pin: &Path,
) -> Result<Option<OwnedFd>> {
    if !pin.exists() {
        return Ok(None);
    }
    let c_path = CString::new(pin.as_os_str().as_bytes())
        .with_context(|| format!("pin path {} has a NUL byte", pin.display()))?;
    // SAFETY: c_path is a valid NUL-terminated string.
    let fd = unsafe { libbpf_sys::bpf_obj_get(c_path.as_ptr()) };
    if fd < 0 {
        let err = io::Error::last_os_error();
        return Err(err).with_context(|| format!("opening pinned link {}", pin.display()));
    }
    // SAFETY: bpf_obj_get returned a new fd that nothing else owns.
    let link = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut info = libbpf_sys::bpf_link_info::default();
    let mut len = std::mem::size_of::<libbpf_sys::bpf_link_info>() as u32;
    // SAFETY: info is a bpf_link_info of `len` bytes.
    let ret = unsafe { libbpf_sys::bpf_link_get_info_by_fd(link.as_raw_fd(), &mut info, &mut len) };
    // SAFETY: for a TCX link the kernel fills the tcx member of the union.
    let tcx = unsafe { info.__bindgen_anon_1.tcx };
    let same_hook = ret == 0
        && info.type_ == libbpf_sys::BPF_LINK_TYPE_TCX
        && tcx.ifindex == ifindex
        && tcx.attach_type == tcx_attach_type(dir);
    if !same_hook {
        log::warn!(
            "removing stale TCX link pin {} (its interface is gone)",
            pin.display()
        );
        std::fs::remove_file(pin).with_context(|| format!("removing {}", pin.display()))?;
        return Ok(None);
    }
    let opts = libbpf_sys::bpf_link_update_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_link_update_opts>() as _,
        ..Default::default()
    };
    // SAFETY: both fds are live; opts is fully initialised.
    let ret = unsafe { libbpf_sys::bpf_link_update(link.as_raw_fd(), prog.as_raw_fd(), &opts) };
    if ret != 0 {
        let err = io::Error::last_os_error();
        return Err(err).with_context(|| format!("taking over pinned link {}", pin.display()));
    }
    log::warn!(
        "took over the TCX link a previous run left on ifindex {ifindex} {} (prog id {} replaced)",
        dir.as_str(),
        info.prog_id
    );
    Ok(Some(link))
}

/// A plain TCX link appended after the programs already on the hook;
/// closing the fd detaches it. No checks: [`attach`] adds those.
pub fn tcx_link(prog: BorrowedFd<'_>, ifindex: u32, dir: Direction) -> io::Result<OwnedFd> {
    let opts = libbpf_sys::bpf_link_create_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_link_create_opts>() as _,
        ..Default::default()
    };
    // SAFETY: prog is a live program fd and opts is fully initialised.
    let fd = unsafe {
        libbpf_sys::bpf_link_create(
            prog.as_raw_fd(),
            ifindex as i32,
            tcx_attach_type(dir),
            &opts,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: bpf_link_create returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn attach_tcx(
    prog: BorrowedFd<'_>,
    ifindex: u32,
    dir: Direction,
    link_pin: Option<&Path>,
) -> Result<Hook> {
    if let Some(pin) = link_pin {
        if let Some(link) = take_over_pinned_link(prog, ifindex, dir, pin)? {
            return Ok(Hook::Tcx {
                link,
                pin: Some(pin.to_path_buf()),
            });
        }
    }
    let ours = kernel_prog_name(dir);
    match tcx_programs(ifindex, dir) {
        Ok(progs) => {
            if let Some((id, _)) = progs.iter().find(|(_, n)| *n == ours) {
                bail!(
                    "another {ours} program (id {id}) is already attached to TCX {} of ifindex {ifindex}; \
                     stop the other exporter first",
                    dir.as_str()
                );
            }
        }
        Err(e) => return Err(anyhow::Error::new(e).context("querying TCX programs")),
    }
    let link = tcx_link(prog, ifindex, dir).map_err(|err| {
        anyhow::Error::new(err).context(format!(
            "attaching {} program to ifindex {ifindex} with TCX",
            dir.as_str()
        ))
    })?;
    let Some(pin) = link_pin else {
        return Ok(Hook::Tcx { link, pin: None });
    };
    let c_path = CString::new(pin.as_os_str().as_bytes())
        .with_context(|| format!("pin path {} has a NUL byte", pin.display()))?;
    // SAFETY: live link fd, valid NUL-terminated path.
    if unsafe { libbpf_sys::bpf_obj_pin(link.as_raw_fd(), c_path.as_ptr()) } != 0 {
        let err = io::Error::last_os_error();
        // Dropping `link` here detaches it again.
        return Err(err).with_context(|| format!("pinning TCX link at {}", pin.display()));
    }
    Ok(Hook::Tcx {
        link,
        pin: Some(pin.to_path_buf()),
    })
}

fn attach_tc(prog: BorrowedFd<'_>, ifindex: u32, dir: Direction) -> Result<Hook> {
    let point = match dir {
        Direction::Ingress => TC_INGRESS,
        Direction::Egress => TC_EGRESS,
    };
    let mut hook = TcHook::new(prog);
    hook.ifindex(ifindex as i32)
        .attach_point(point)
        .handle(TC_HANDLE)
        .priority(TC_PRIORITY);
    // Creates clsact when missing; an existing one is left as it is.
    clsact::ensure(ifindex)?;
    let existing = hook.query().ok().filter(|&id| id != 0);
    if let Some(id) = existing {
        let name = prog_name(id).unwrap_or_default();
        if name != kernel_prog_name(dir) {
            bail!(
                "ifindex {ifindex} {} already has a filter at handle {TC_HANDLE:#x} priority {TC_PRIORITY} \
                 (program {name:?}, id {id}); not replacing it",
                dir.as_str()
            );
        }
        log::warn!(
            "replacing stale {} filter (program id {id}) left on ifindex {ifindex}",
            dir.as_str()
        );
    }
    hook.replace(existing.is_some());
    hook.attach().with_context(|| {
        format!(
            "attaching {} program to ifindex {ifindex} with a clsact filter",
            dir.as_str()
        )
    })?;
    Ok(Hook::Tc { hook })
}
