//! UDP transport: one socket per collector, bound once, so the session keeps
//! a stable source port (collectors key templates by it, RFC 7011 §10.3).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Instant;

use super::resolve::{Resolved, Resolver};

pub struct UdpLink {
    resolver: Resolver,
    socket: Option<UdpSocket>,
    pub peer: Option<SocketAddr>,
    /// The largest message one unfragmented datagram carries on the route
    /// to the collector, once connected.
    pub max_datagram: Option<usize>,
}

const UDP_HEADER_LEN: usize = 8;

/// The path MTU the kernel knows for a connected socket (IP_MTU /
/// IPV6_MTU): the route's MTU, lowered by PMTU discovery.
fn path_mtu(socket: &UdpSocket, ipv6: bool) -> Option<usize> {
    use nix::libc;
    use std::os::fd::AsRawFd;
    let (level, name) = if ipv6 {
        (libc::IPPROTO_IPV6, libc::IPV6_MTU)
    } else {
        (libc::IPPROTO_IP, libc::IP_MTU)
    };
    let mut mtu: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the fd is a live socket; the kernel writes at most `len`
    // octets into `mtu`, an int as both options are.
    let ret = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&mut mtu as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (ret == 0).then(|| usize::try_from(mtu).ok()).flatten()
}

impl UdpLink {
    pub fn new(host: &str, port: u16) -> Self {
        UdpLink {
            resolver: Resolver::new(host, port),
            socket: None,
            peer: None,
            max_datagram: None,
        }
    }

    /// True once the collector's address is known and the socket is set up;
    /// otherwise progresses resolution (a failure is an error to count).
    pub fn ready(&mut self, now: Instant) -> io::Result<bool> {
        if self.socket.is_some() {
            return Ok(true);
        }
        let peer = match self.resolver.poll(now) {
            Resolved::Ready(p) => p,
            Resolved::Pending => return Ok(false),
            Resolved::Failed(why) => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("resolving: {why}"),
                ))
            }
        };
        let local: IpAddr = if peer.is_ipv6() {
            Ipv6Addr::UNSPECIFIED.into()
        } else {
            Ipv4Addr::UNSPECIFIED.into()
        };
        let socket = UdpSocket::bind(SocketAddr::new(local, 0))?;
        socket.connect(peer)?;
        self.max_datagram = path_mtu(&socket, peer.is_ipv6()).map(|mtu| {
            let ip_header = if peer.is_ipv6() { 40 } else { 20 };
            mtu.saturating_sub(ip_header + UDP_HEADER_LEN)
        });
        self.socket = Some(socket);
        self.peer = Some(peer);
        Ok(true)
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.as_ref().and_then(|s| s.local_addr().ok())
    }

    /// Sends one message. ECONNREFUSED reports an ICMP port unreachable for
    /// an earlier datagram: the collector is not listening (yet); the
    /// message is still sent, so a collector that starts later sees an
    /// unbroken sequence.
    /// Returns whether an earlier datagram was refused (ICMP port
    /// unreachable): that one never reached a collector.
    pub fn send(&self, msg: &[u8]) -> io::Result<bool> {
        let socket = self
            .socket
            .as_ref()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "collector not resolved"))?;
        let mut refused = false;
        let n = match socket.send(msg) {
            // The error belonged to an earlier datagram (an ICMP port
            // unreachable queued on the socket) and this one was not sent:
            // the error is consumed now, so send it again.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                refused = true;
                socket.send(msg)?
            }
            other => other?,
        };
        if n != msg.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sent {n} of {} bytes", msg.len()),
            ));
        }
        Ok(refused)
    }
}
