//! Listening sockets and their threads: they only receive and frame, and
//! hand each message (with its exporter's address and port) to the
//! collecting process through a channel.
//!
//! UDP: one datagram is one message (RFC 7011 §10.3.3). TCP: any number of
//! exporters, one thread each; the stream is cut into messages by the
//! header's Length (§10.4.3). A stream that stops looking like IPFIX (wrong
//! version, impossible length) is reported and closed: it cannot be
//! resynchronised.
//!
//! TLS (RFC 7011 §11): the TCP handling inside a TLS session, which must
//! complete its handshake (the exporter's certificate verified when
//! `--tls-client-ca` asks for one) within [`HANDSHAKE_TIMEOUT`] before the
//! exporter is reported connected; a failed handshake is one line naming
//! the exporter and why. Its messages reach the process as TCP's do.
//!
//! Every blocking call has a timeout of at most [`POLL`], after which the
//! thread looks at the stop flag, so all threads end within about that long
//! once it is set.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rustls::{ServerConfig, ServerConnection};

use super::process::Input;
use crate::endpoint::{Endpoint, Protocol};
use crate::ipfix::error::WireError;
use crate::ipfix::header::{IPFIX_VERSION, MESSAGE_HEADER_LEN};
use crate::ipfix::message_length;
use crate::tls::ServerTls;

/// Longest a thread blocks before looking at the stop flag.
pub const POLL: Duration = Duration::from_millis(200);
/// Accept polling interval (std's `accept` has no timeout).
const ACCEPT_POLL: Duration = Duration::from_millis(50);
/// Largest IPFIX message: the Length field is 16 bits.
const MAX_MESSAGE_LEN: usize = u16::MAX as usize;
/// Octets read from a TCP stream at a time.
const READ_CHUNK: usize = 16 * 1024;
/// TCP exporters served at once; more are turned away.
pub const MAX_TCP_CONNECTIONS: usize = 256;
/// Longest a TLS exporter may take to finish its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound listening socket.
#[derive(Debug)]
pub enum Listener {
    Udp(UdpSocket),
    /// TCP, and the TLS every connection speaks when it is a tls://
    /// listener.
    Tcp(TcpListener, Option<ServerTls>),
}

/// Binds `spec` (its host resolved now; the first address that binds
/// wins), with `tls` for a tls:// listener. Errors name the listener.
pub fn bind(spec: &Endpoint, tls: Option<&ServerTls>) -> Result<Listener> {
    if spec.protocol == Protocol::Tls && tls.is_none() {
        anyhow::bail!("listening on {spec}: no TLS certificate (--tls-cert, --tls-key)");
    }
    let tls = (spec.protocol == Protocol::Tls)
        .then(|| tls.cloned())
        .flatten();
    let addrs: Vec<SocketAddr> = (spec.host.as_str(), spec.port)
        .to_socket_addrs()
        .with_context(|| format!("listening on {spec}: resolving {}", spec.host))?
        .collect();
    let mut last_err = None;
    for addr in addrs {
        let bound = match spec.protocol {
            Protocol::Udp => UdpSocket::bind(addr).map(Listener::Udp),
            Protocol::Tcp | Protocol::Tls => {
                TcpListener::bind(addr).map(|l| Listener::Tcp(l, tls.clone()))
            }
        };
        match bound {
            Ok(l) => return Ok(l),
            Err(e) => last_err = Some(e),
        }
    }
    match last_err {
        Some(e) => Err(e).with_context(|| format!("listening on {spec}")),
        None => anyhow::bail!("listening on {spec}: {} resolves to no address", spec.host),
    }
}

impl Listener {
    /// `udp://127.0.0.1:4739`: the address actually bound (port 0 resolved).
    pub fn url(&self) -> io::Result<String> {
        Ok(match self {
            Listener::Udp(s) => format!("udp://{}", s.local_addr()?),
            Listener::Tcp(s, None) => format!("tcp://{}", s.local_addr()?),
            Listener::Tcp(s, Some(_)) => format!("tls://{}", s.local_addr()?),
        })
    }

    /// Starts the listener's thread.
    pub fn spawn(self, tx: SyncSender<Input>, stop: Arc<AtomicBool>) -> Result<JoinHandle<()>> {
        let name = self.url().unwrap_or_else(|_| "listener".into());
        match self {
            Listener::Udp(socket) => {
                socket
                    .set_read_timeout(Some(POLL))
                    .with_context(|| format!("setting a read timeout on {name}"))?;
                thread::Builder::new()
                    .name(name.clone())
                    .spawn(move || udp_loop(&socket, &tx, &stop))
            }
            Listener::Tcp(listener, tls) => {
                listener
                    .set_nonblocking(true)
                    .with_context(|| format!("making {name} non-blocking"))?;
                thread::Builder::new()
                    .name(name.clone())
                    .spawn(move || accept_loop(&listener, tls.as_ref(), &tx, &stop))
            }
        }
        .with_context(|| format!("starting the thread of {name}"))
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn udp_loop(socket: &UdpSocket, tx: &SyncSender<Input>, stop: &AtomicBool) {
    let local = socket.local_addr().ok();
    let mut buf = vec![0u8; MAX_MESSAGE_LEN];
    while !stop.load(Ordering::Relaxed) {
        let input = match socket.recv_from(&mut buf) {
            Ok((n, exporter)) => Input::Message {
                transport: Protocol::Udp,
                collector: local,
                exporter,
                bytes: buf.get(..n).unwrap_or_default().to_vec(),
            },
            Err(e) if is_timeout(&e) => continue,
            Err(e) => {
                // Not expected on an unconnected socket; do not spin on it.
                thread::sleep(POLL);
                Input::Notice(format!("udp listener {local:?}: receive failed: {e}"))
            }
        };
        if tx.send(input).is_err() {
            return;
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    tls: Option<&ServerTls>,
    tx: &SyncSender<Input>,
    stop: &Arc<AtomicBool>,
) {
    let mut connections: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, exporter)) => {
                connections.retain(|c| !c.is_finished());
                let notice = if connections.len() >= MAX_TCP_CONNECTIONS {
                    Some(format!(
                        "tcp {exporter}: refused, already {MAX_TCP_CONNECTIONS} connections"
                    ))
                } else {
                    let (tx, stop) = (tx.clone(), Arc::clone(stop));
                    let tls = tls.map(|t| Arc::clone(&t.0));
                    thread::Builder::new()
                        .name(format!("tcp {exporter}"))
                        .spawn(move || connection(stream, exporter, tls, &tx, &stop))
                        .map(|c| connections.push(c))
                        .err()
                        .map(|e| format!("tcp {exporter}: refused, no thread for it: {e}"))
                };
                if let Some(n) = notice {
                    if tx.send(Input::Notice(n)).is_err() {
                        break;
                    }
                }
            }
            Err(e) if is_timeout(&e) => thread::sleep(ACCEPT_POLL),
            Err(e) => {
                // E.g. out of file descriptors: report, back off, go on.
                let n = format!("tcp listener: accept failed: {e}");
                if tx.send(Input::Notice(n)).is_err() {
                    break;
                }
                thread::sleep(POLL);
            }
        }
    }
    for c in connections {
        let _ = c.join();
    }
}

/// The TLS handshake with an exporter, bounded by [`HANDSHAKE_TIMEOUT`]
/// and the stop flag; why it failed, when it did.
fn handshake(
    stream: &mut TcpStream,
    config: Arc<ServerConfig>,
    stop: &AtomicBool,
) -> Result<ServerConnection, String> {
    let mut conn = ServerConnection::new(config).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    while conn.is_handshaking() {
        if stop.load(Ordering::Relaxed) {
            return Err("stopping".into());
        }
        match conn.complete_io(stream) {
            Ok(_) => {}
            Err(e) if is_timeout(&e) && Instant::now() < deadline => {}
            Err(e) if is_timeout(&e) => return Err("no handshake in time".into()),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(conn)
}

/// Reads from the stream, through TLS when the connection has it.
fn read(
    stream: &mut TcpStream,
    tls: Option<&mut ServerConnection>,
    buf: &mut [u8],
) -> io::Result<usize> {
    match tls {
        None => stream.read(buf),
        Some(conn) => rustls::Stream::new(conn, stream).read(buf),
    }
}

/// One TCP exporter (inside TLS with `tls`): read, frame, hand over;
/// `Closed` last.
fn connection(
    mut stream: TcpStream,
    exporter: SocketAddr,
    tls: Option<Arc<ServerConfig>>,
    tx: &SyncSender<Input>,
    stop: &AtomicBool,
) {
    let setup = stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_read_timeout(Some(POLL)));
    let mut error = setup.err().map(|e| format!("setting up the socket: {e}"));
    let mut session = None;
    if let (None, Some(config)) = (&error, tls) {
        match handshake(&mut stream, config, stop) {
            Ok(conn) => session = Some(conn),
            Err(why) => {
                let _ = tx.send(Input::Notice(format!(
                    "tls {exporter}: refused, TLS handshake failed: {why}"
                )));
                return;
            }
        }
    }
    if error.is_none() && tx.send(Input::Connected { exporter }).is_err() {
        return;
    }
    let collector = stream.local_addr().ok();
    let mut framer = Framer::default();
    let mut chunk = vec![0u8; READ_CHUNK];
    while error.is_none() && !stop.load(Ordering::Relaxed) {
        let n = match read(&mut stream, session.as_mut(), &mut chunk) {
            Ok(0) => {
                if framer.pending() > 0 {
                    error = Some(format!(
                        "closed by the exporter in the middle of a message ({} octets pending)",
                        framer.pending()
                    ));
                }
                break;
            }
            Ok(n) => n,
            Err(e) if is_timeout(&e) => continue,
            Err(e) => {
                error = Some(format!("receive failed: {e}"));
                break;
            }
        };
        framer.push(chunk.get(..n).unwrap_or_default());
        loop {
            match framer.next_message() {
                Ok(Some(bytes)) => {
                    let input = Input::Message {
                        transport: Protocol::Tcp,
                        collector,
                        exporter,
                        bytes,
                    };
                    if tx.send(input).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(format!("not an IPFIX stream: {e}"));
                    break;
                }
            }
        }
    }
    // Dropping the stream closes it; the process forgets its templates.
    drop(stream);
    let _ = tx.send(Input::Closed { exporter, error });
}

/// Cuts a TCP byte stream into IPFIX messages. Holds at most one
/// incomplete message plus what was pushed since the last
/// [`Framer::next_message`] that returned `None`.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
}

impl Framer {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Octets received but not yet returned as a message.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next complete message, `None` until one is complete, or the
    /// reason the stream is not IPFIX. The version is checked as soon as
    /// its two octets are in, so garbage is caught without waiting for a
    /// whole header.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        if let [a, b, ..] = self.buf[..] {
            let version = u16::from_be_bytes([a, b]);
            if version != IPFIX_VERSION {
                return Err(WireError::BadVersion { version });
            }
        }
        if self.buf.len() < MESSAGE_HEADER_LEN {
            return Ok(None);
        }
        let len = message_length(&self.buf)?;
        if self.buf.len() < len {
            return Ok(None);
        }
        let rest = self.buf.split_off(len);
        Ok(Some(std::mem::replace(&mut self.buf, rest)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header-only message of `len` octets (body zero-filled).
    fn message(len: u16, domain: u8) -> Vec<u8> {
        let mut m = vec![0u8; usize::from(len)];
        m[..2].copy_from_slice(&IPFIX_VERSION.to_be_bytes());
        m[2..4].copy_from_slice(&len.to_be_bytes());
        m[15] = domain;
        m
    }

    #[test]
    fn several_messages_in_one_push() {
        let mut f = Framer::default();
        let (a, b) = (message(16, 1), message(20, 2));
        f.push(&[a.clone(), b.clone(), b[..3].to_vec()].concat());
        assert_eq!(f.next_message(), Ok(Some(a)));
        assert_eq!(f.next_message(), Ok(Some(b.clone())));
        assert_eq!(f.next_message(), Ok(None));
        assert_eq!(f.pending(), 3);
        f.push(&b[3..]);
        assert_eq!(f.next_message(), Ok(Some(b)));
        assert_eq!((f.next_message(), f.pending()), (Ok(None), 0));
    }

    #[test]
    fn one_message_split_octet_by_octet() {
        let mut f = Framer::default();
        let m = message(40, 3);
        for (i, byte) in m.iter().enumerate() {
            assert_eq!(f.next_message(), Ok(None), "after {i} octets");
            f.push(&[*byte]);
        }
        assert_eq!(f.next_message(), Ok(Some(m)));
    }

    #[test]
    fn garbage_is_an_error() {
        let mut f = Framer::default();
        f.push(b"GE");
        assert_eq!(
            f.next_message(),
            Err(WireError::BadVersion { version: 0x4745 })
        );
        let mut f = Framer::default();
        let mut short = message(16, 1);
        short[2..4].copy_from_slice(&8u16.to_be_bytes());
        f.push(&short);
        assert!(matches!(
            f.next_message(),
            Err(WireError::MessageLengthTooShort { length: 8, .. })
        ));
    }
}
