//! Whole Ethernet frames written raw (AF_PACKET) on a device: what the
//! kernel does with them from there on (a VLAN device's tag, a veth's
//! delivery to its peer, tc) is the real thing.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::libc;

use super::netns::NetnsPair;

/// An AF_PACKET socket bound to nothing; each send names its device.
pub struct PacketSocket(OwnedFd);

impl PacketSocket {
    pub fn new() -> Self {
        // SAFETY: plain socket(2); ownership goes to the OwnedFd at once.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        assert!(
            fd >= 0,
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: fd is a fresh descriptor nobody else owns.
        PacketSocket(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Writes `frame` (Ethernet header first) on `ifindex`; the errno of a
    /// refusal.
    pub fn send(&self, ifindex: i32, frame: &[u8]) -> Result<(), i32> {
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = ifindex;
        addr.sll_halen = 6;
        let dst = frame.get(..6).unwrap_or(&[0; 6]);
        addr.sll_addr[..6].copy_from_slice(dst);
        // SAFETY: frame and addr are valid for the lengths given, for the call.
        let n = unsafe {
            libc::sendto(
                self.0.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
        }
        assert_eq!(n as usize, frame.len(), "short AF_PACKET write");
        Ok(())
    }
}

impl Default for PacketSocket {
    fn default() -> Self {
        Self::new()
    }
}

/// Sends `frame` `count` times on `dev` in namespace `ns`; every write
/// must be taken.
pub fn send_frames(ns: &str, dev: &str, frame: Vec<u8>, count: u64) {
    let dev = dev.to_owned();
    NetnsPair::run_in(ns, move || {
        let ifindex = nix::net::if_::if_nametoindex(dev.as_str()).expect("ifindex") as i32;
        let sock = PacketSocket::new();
        for i in 0..count {
            if let Err(e) = sock.send(ifindex, &frame) {
                panic!("frame {i} on {dev}: errno {e}");
            }
        }
    })
}
