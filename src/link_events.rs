//! Interfaces coming and going, as rtnetlink tells it (RTMGRP_LINK): a
//! socket the daemon's sleep watches, so that a new interface is attached
//! as soon as it appears, without polling.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use anyhow::{Context, Result};
use nix::libc;

/// rtnetlink multicast group of link changes (`RTMGRP_LINK`).
const RTMGRP_LINK: u32 = 1;

pub struct LinkEvents {
    sock: OwnedFd,
}

impl LinkEvents {
    /// Subscribes to link changes in this network namespace. Open it before
    /// the first look at the interfaces, so that no change falls between.
    pub fn open() -> Result<Self> {
        // SAFETY: plain socket(2); the fd is owned right away.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error()).context("opening an rtnetlink socket");
        }
        // SAFETY: a fresh fd nobody else owns.
        let sock = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: sockaddr_nl is plain data; all zero is a valid start.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = RTMGRP_LINK;
        // SAFETY: valid fd, address of the size given.
        let ret = unsafe {
            libc::bind(
                sock.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if ret != 0 {
            return Err(io::Error::last_os_error())
                .context("subscribing to link changes (rtnetlink RTMGRP_LINK)");
        }
        Ok(LinkEvents { sock })
    }

    /// Readable when a change arrived.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }

    /// Reads every pending notification; true when any came, or when some
    /// were lost (ENOBUFS: the socket overflowed), so that the caller looks
    /// at the interfaces again either way.
    pub fn drain(&self) -> bool {
        let mut buf = [0u8; 8192];
        let mut any = false;
        // Bounded: a namespace that changes faster than this is looked at
        // once per batch anyway.
        for _ in 0..4096 {
            // SAFETY: valid fd and buffer of the length given.
            let got = unsafe {
                libc::recv(
                    self.sock.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if got > 0 {
                any = true;
                continue;
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ENOBUFS) => any = true,
                Some(libc::EINTR) => {}
                _ => return any,
            }
        }
        any
    }
}
