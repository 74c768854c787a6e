//! The clsact qdisc our clsact filters hang on. When a run had to create it,
//! the run removes it again once its own filters are gone and nobody else
//! added one meanwhile; a qdisc that was there before us is never touched.
//! (After a crash the qdisc stays: the next run finds it and does not own it.)

use std::collections::BTreeSet;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;

use anyhow::{Context, Result};
use libbpf_rs::libbpf_sys;
use nix::libc;

/// Interfaces on which this process created the clsact qdisc.
static CREATED: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

fn created() -> std::sync::MutexGuard<'static, BTreeSet<u32>> {
    CREATED.lock().unwrap_or_else(|p| p.into_inner())
}

fn hook(ifindex: u32, point: libbpf_sys::bpf_tc_attach_point) -> libbpf_sys::bpf_tc_hook {
    libbpf_sys::bpf_tc_hook {
        sz: std::mem::size_of::<libbpf_sys::bpf_tc_hook>() as libbpf_sys::size_t,
        ifindex: ifindex as i32,
        attach_point: point,
        ..Default::default()
    }
}

/// Makes sure `ifindex` has a clsact qdisc, remembering when it was this
/// call that created it.
pub fn ensure(ifindex: u32) -> Result<()> {
    let mut h = hook(ifindex, libbpf_sys::BPF_TC_INGRESS);
    // SAFETY: a fully initialised hook description.
    let ret = unsafe { libbpf_sys::bpf_tc_hook_create(&mut h) };
    match -ret {
        0 => {
            created().insert(ifindex);
            log::debug!("created the clsact qdisc on ifindex {ifindex}");
            Ok(())
        }
        libc::EEXIST => Ok(()),
        e => Err(io::Error::from_raw_os_error(e))
            .with_context(|| format!("creating clsact qdisc on ifindex {ifindex}")),
    }
}

/// Called after one of our filters on `ifindex` is gone: removes the qdisc
/// when this process created it and no filter is left on either side.
pub fn release(ifindex: u32) -> Result<()> {
    if !created().contains(&ifindex) {
        return Ok(());
    }
    let left = match filter_count(ifindex) {
        Ok(n) => n,
        // The interface is gone, and its qdisc with it.
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {
            created().remove(&ifindex);
            return Ok(());
        }
        Err(e) => {
            return Err(e).with_context(|| format!("listing tc filters on ifindex {ifindex}"))
        }
    };
    if left > 0 {
        log::debug!("clsact on ifindex {ifindex} still has {left} filter(s); kept");
        return Ok(());
    }
    let mut h = hook(
        ifindex,
        libbpf_sys::BPF_TC_INGRESS | libbpf_sys::BPF_TC_EGRESS,
    );
    // SAFETY: a fully initialised hook description; both attach points
    // together ask libbpf to delete the qdisc.
    let ret = unsafe { libbpf_sys::bpf_tc_hook_destroy(&mut h) };
    created().remove(&ifindex);
    match -ret {
        0 | libc::ENOENT | libc::ENODEV | libc::EINVAL => {
            log::debug!("removed the clsact qdisc we created on ifindex {ifindex}");
            Ok(())
        }
        e => Err(io::Error::from_raw_os_error(e))
            .with_context(|| format!("removing clsact qdisc on ifindex {ifindex}")),
    }
}

const TC_H_CLSACT: u32 = 0xffff_fff1;
const TC_H_MIN_INGRESS: u32 = 0xfff2;
const TC_H_MIN_EGRESS: u32 = 0xfff3;

/// The filters on both sides of `ifindex`'s clsact qdisc, by an rtnetlink
/// dump (libbpf can only query one handle and priority).
pub fn filter_count(ifindex: u32) -> io::Result<usize> {
    let sock = netlink_socket()?;
    let mut n = 0;
    for (seq, minor) in [(1, TC_H_MIN_INGRESS), (2, TC_H_MIN_EGRESS)] {
        let parent = (TC_H_CLSACT & 0xffff_0000) | minor;
        n += dump_filters(&sock, ifindex, parent, seq)?;
    }
    Ok(n)
}

fn netlink_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned right away.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // A kernel that never answers must not hang the exit.
    let tv = libc::timeval {
        tv_sec: 2,
        tv_usec: 0,
    };
    // SAFETY: valid fd, option value of the size given.
    let ret = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sock)
}

/// A RTM_GETTFILTER dump request: nlmsghdr, then struct tcmsg.
fn dump_request(ifindex: u32, parent: u32, seq: u32) -> [u8; 36] {
    let mut req = [0u8; 36];
    req[0..4].copy_from_slice(&36u32.to_ne_bytes());
    req[4..6].copy_from_slice(&libc::RTM_GETTFILTER.to_ne_bytes());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    req[6..8].copy_from_slice(&flags.to_ne_bytes());
    req[8..12].copy_from_slice(&seq.to_ne_bytes());
    // tcmsg: family AF_UNSPEC and padding (4), ifindex, handle, parent, info.
    req[20..24].copy_from_slice(&ifindex.to_ne_bytes());
    req[28..32].copy_from_slice(&parent.to_ne_bytes());
    req
}

fn dump_filters(sock: &OwnedFd, ifindex: u32, parent: u32, seq: u32) -> io::Result<usize> {
    let req = dump_request(ifindex, parent, seq);
    // SAFETY: valid fd and buffer; a netlink socket sends to the kernel by
    // default.
    let sent = unsafe { libc::send(sock.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; 32 * 1024];
    let mut filters = 0;
    // A dump of a handful of filters is one or two reads; the bound only
    // keeps a confused reply from looping.
    for _ in 0..1024 {
        // SAFETY: valid fd and buffer of the length given.
        let got = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        match parse_reply(&buf[..got as usize], seq)? {
            Reply::More(n) => filters += n,
            Reply::Done(n) => return Ok(filters + n),
        }
    }
    Err(io::Error::other("tc filter dump did not end"))
}

#[derive(Debug, PartialEq, Eq)]
enum Reply {
    More(usize),
    Done(usize),
}

/// Counts the RTM_NEWTFILTER messages of one datagram of a dump reply.
fn parse_reply(mut buf: &[u8], seq: u32) -> io::Result<Reply> {
    let mut filters = 0;
    while buf.len() >= 16 {
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        let kind = u16::from_ne_bytes([buf[4], buf[5]]);
        let msg_seq = u32::from_ne_bytes([buf[8], buf[9], buf[10], buf[11]]);
        if len < 16 || len > buf.len() {
            return Err(io::Error::other("truncated netlink message"));
        }
        if msg_seq == seq {
            match i32::from(kind) {
                libc::NLMSG_DONE => return Ok(Reply::Done(filters)),
                libc::NLMSG_ERROR => {
                    let errno = buf
                        .get(16..20)
                        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                        .unwrap_or(-libc::EIO);
                    if errno == 0 {
                        return Ok(Reply::Done(filters));
                    }
                    return Err(io::Error::from_raw_os_error(-errno));
                }
                k if k == i32::from(libc::RTM_NEWTFILTER) => filters += 1,
                _ => {}
            }
        }
        // Messages are 4-byte aligned.
        let step = (len + 3) & !3;
        buf = buf.get(step..).unwrap_or(&[]);
    }
    Ok(Reply::More(filters))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let len = 16 + payload.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(payload);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    #[test]
    fn request_is_a_filter_dump_for_the_interface_and_parent() {
        let r = dump_request(7, 0xffff_fff2, 9);
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 36);
        assert_eq!(u16::from_ne_bytes(r[4..6].try_into().unwrap()), 46);
        assert_eq!(u16::from_ne_bytes(r[6..8].try_into().unwrap()), 0x301);
        assert_eq!(u32::from_ne_bytes(r[8..12].try_into().unwrap()), 9);
        assert_eq!(r[16..20], [0; 4], "AF_UNSPEC and padding");
        assert_eq!(u32::from_ne_bytes(r[20..24].try_into().unwrap()), 7);
        assert_eq!(
            u32::from_ne_bytes(r[28..32].try_into().unwrap()),
            0xffff_fff2
        );
    }

    #[test]
    fn counts_filters_until_done() {
        let mut d = msg(libc::RTM_NEWTFILTER, 3, &[0; 21]);
        d.extend(msg(libc::RTM_NEWTFILTER, 3, &[0; 20]));
        d.extend(msg(libc::RTM_NEWTFILTER, 99, &[0; 20])); // another request's
        assert_eq!(parse_reply(&d, 3).unwrap(), Reply::More(2));
        d.extend(msg(libc::NLMSG_DONE as u16, 3, &[0; 4]));
        assert_eq!(parse_reply(&d, 3).unwrap(), Reply::Done(2));
    }

    #[test]
    fn an_error_reply_is_the_errno() {
        let e = msg(libc::NLMSG_ERROR as u16, 1, &(-libc::ENODEV).to_ne_bytes());
        let err = parse_reply(&e, 1).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENODEV));
        let ack = msg(libc::NLMSG_ERROR as u16, 1, &0i32.to_ne_bytes());
        assert_eq!(parse_reply(&ack, 1).unwrap(), Reply::Done(0));
    }

    #[test]
    fn a_truncated_message_is_an_error() {
        let mut m = msg(libc::RTM_NEWTFILTER, 1, &[0; 20]);
        m[0] = 200;
        assert!(parse_reply(&m, 1).is_err());
    }
}
