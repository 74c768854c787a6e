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
}

impl UdpLink {
    pub fn new(host: &str, port: u16) -> Self {
        UdpLink {
            resolver: Resolver::new(host, port),
            socket: None,
            peer: None,
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
