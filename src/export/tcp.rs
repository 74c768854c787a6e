//! TCP transport: connect in the background, write without blocking,
//! reconnect with capped backoff. Each connection is a new transport
//! session: the caller resets sequence numbers and resends templates.
//!
//! With TLS (`tls://`, RFC 7011 §11) the connection is reported only once
//! the handshake verified the collector; what a message "written" means
//! is the same as over TCP: the transport took it (rustls encrypts it at
//! once and holds at most [`TLS_BUFFER`] octets beyond what the socket
//! took, as the kernel's send buffer does for TCP).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

use super::backoff::Backoff;
use super::resolve::{Resolved, Resolver};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Kernel send buffer per collector connection. Fixed rather than
/// autotuned (up to 4 MiB): what waits for a slow collector waits in our
/// bounded, counted queue, not unseen in the kernel. 1 MiB keeps a 50 ms
/// path at ~20 MB/s, some 250 000 records/s.
const SEND_BUFFER: usize = 1 << 20;
/// Encrypted octets rustls holds beyond what the socket took.
pub const TLS_BUFFER: usize = 64 * 1024;
/// Longest a TLS handshake may take once connected.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// TLS inside the connection: the configuration every session shares,
/// and the name the collector's certificate must carry. Either missing
/// (a configuration that skipped validation, a host TLS cannot name)
/// fails every attempt, saying so.
#[derive(Clone)]
pub struct TlsClient {
    pub config: Option<Arc<ClientConfig>>,
    pub name: Option<ServerName<'static>>,
}

enum State {
    Idle {
        next_try: Instant,
    },
    Resolving,
    Connecting(Receiver<io::Result<TcpStream>>),
    Handshaking {
        stream: TcpStream,
        tls: Box<ClientConnection>,
        peer: SocketAddr,
        since: Instant,
    },
    Connected(Conn),
}

/// A connection: the socket, and TLS over it when the collector is
/// `tls://`.
struct Conn {
    stream: TcpStream,
    tls: Option<Box<ClientConnection>>,
}

fn would_block() -> io::Error {
    io::ErrorKind::WouldBlock.into()
}

impl Conn {
    /// Writes what the connection takes of `buf` now (WouldBlock: nothing).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(tls) = self.tls.as_mut() else {
            return self.stream.write(buf);
        };
        push_tls(tls, &mut self.stream)?;
        if tls.wants_write() {
            return Err(would_block());
        }
        let n = tls.writer().write(buf)?;
        if n == 0 {
            return Err(would_block());
        }
        push_tls(tls, &mut self.stream)?;
        Ok(n)
    }

    /// True when no encrypted octets wait for the socket.
    fn is_flushed(&self) -> bool {
        self.tls.as_ref().is_none_or(|t| !t.wants_write())
    }

    /// Writes pending TLS records (WouldBlock ends it quietly).
    fn push(&mut self) -> io::Result<()> {
        match self.tls.as_mut() {
            Some(tls) => push_tls(tls, &mut self.stream),
            None => Ok(()),
        }
    }

    /// Reads what the collector sent (it sends nothing but TLS records of
    /// its own); `Ok(false)` once it closed its side.
    fn probe(&mut self) -> Result<bool, String> {
        let mut buf = [0u8; 512];
        let Some(tls) = self.tls.as_mut() else {
            return match self.stream.read(&mut buf) {
                Ok(0) => Ok(false),
                Ok(_) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(true),
                Err(e) => Err(e.to_string()),
            };
        };
        loop {
            match tls.read_tls(&mut self.stream) {
                Ok(0) => return Ok(false),
                Ok(_) => {
                    let state = tls.process_new_packets().map_err(|e| format!("TLS: {e}"))?;
                    // Nothing is expected inside; whatever came is dropped.
                    while matches!(tls.reader().read(&mut buf), Ok(n) if n > 0) {}
                    if state.peer_has_closed() {
                        return Ok(false);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

/// Writes the TLS records `tls` holds until the socket would block.
fn push_tls(tls: &mut ClientConnection, stream: &mut TcpStream) -> io::Result<()> {
    while tls.wants_write() {
        match tls.write_tls(stream) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// What `poll` observed.
#[derive(Debug, PartialEq, Eq)]
pub enum TcpEvent {
    Nothing,
    /// A new connection: start a new transport session on it.
    Connected(SocketAddr),
    /// The connection (or an attempt) failed; the messages in `lost` were
    /// handed over but not fully written.
    Down {
        error: String,
        lost: Unwritten,
    },
}

/// Messages handed to the link and not (fully) written to the socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unwritten {
    pub messages: u64,
    pub octets: u64,
    pub records: u64,
}

pub struct TcpLink {
    resolver: Resolver,
    tls: Option<TlsClient>,
    state: State,
    backoff: Backoff,
    /// Encoded bytes not yet accepted by the socket, and where each message
    /// in it ends with the flow records it carries: what is not written
    /// whole when the connection drops is counted as not sent.
    out: Vec<u8>,
    ends: VecDeque<(usize, u64)>,
    out_pos: usize,
}

impl TcpLink {
    /// `reconnect`: the least time between two connection attempts.
    pub fn new(host: &str, port: u16, reconnect: Duration) -> Self {
        TcpLink {
            resolver: Resolver::new(host, port),
            tls: None,
            state: State::Idle {
                next_try: Instant::now(),
            },
            backoff: Backoff::new(reconnect, reconnect),
            out: Vec::new(),
            ends: VecDeque::new(),
            out_pos: 0,
        }
    }

    /// Every connection inside TLS (`tls://`).
    pub fn with_tls(mut self, tls: TlsClient) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The address the connection sends from.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match &self.state {
            State::Connected(c) => c.stream.local_addr().ok(),
            _ => None,
        }
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected(_))
    }

    /// True when everything handed over has been written to the socket.
    pub fn is_idle(&self) -> bool {
        self.out_pos >= self.out.len()
            && match &self.state {
                State::Connected(c) => c.is_flushed(),
                _ => true,
            }
    }

    /// The messages not yet fully written.
    pub fn unwritten(&self) -> Unwritten {
        let mut u = Unwritten::default();
        let mut start = 0;
        for &(end, records) in &self.ends {
            if end > self.out_pos {
                u.messages += 1;
                u.octets += (end - start) as u64;
                u.records += records;
            }
            start = end;
        }
        u
    }

    /// Queues a message behind what is pending; only call when connected.
    pub fn push(&mut self, msg: &[u8], records: u64) {
        if self.out_pos >= self.out.len() {
            self.clear();
        }
        self.out.extend_from_slice(msg);
        self.ends.push_back((self.out.len(), records));
    }

    fn clear(&mut self) {
        self.out.clear();
        self.ends.clear();
        self.out_pos = 0;
    }

    /// The end of the session (RFC 7011 §10.4.2): write what is pending,
    /// close our direction, then read until the collector closes its own,
    /// all by `deadline`. Returns what went wrong, if anything.
    pub fn finish(&mut self, deadline: Instant) -> Result<(), String> {
        while !self.is_idle() {
            if Instant::now() >= deadline {
                return Err("deadline passed with messages unwritten".into());
            }
            if let TcpEvent::Down { error, .. } = self.flush(Instant::now()) {
                return Err(error);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let State::Connected(conn) = &mut self.state else {
            return Err("not connected".into());
        };
        if let Some(tls) = conn.tls.as_mut() {
            // TLS closes first (close_notify), then TCP.
            tls.send_close_notify();
            while !conn.is_flushed() {
                if Instant::now() >= deadline {
                    return Err("deadline passed with the TLS close unwritten".into());
                }
                conn.push().map_err(|e| e.to_string())?;
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        conn.stream
            .shutdown(std::net::Shutdown::Write)
            .map_err(|e| e.to_string())?;
        loop {
            match conn.probe() {
                Ok(false) => break,
                Ok(true) => {
                    if Instant::now() >= deadline {
                        return Err("the collector did not close its side in time".into());
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => return Err(e),
            }
        }
        self.clear();
        self.state = State::Idle { next_try: deadline };
        Ok(())
    }

    /// Progresses connecting and writing.
    pub fn poll(&mut self, now: Instant) -> TcpEvent {
        match &mut self.state {
            State::Idle { next_try } => {
                if now >= *next_try {
                    self.state = State::Resolving;
                    return self.poll(now);
                }
                TcpEvent::Nothing
            }
            State::Resolving => match self.resolver.poll(now) {
                Resolved::Ready(addr) => {
                    let (tx, rx) = mpsc::channel();
                    std::thread::spawn(move || {
                        let _ = tx.send(TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT));
                    });
                    self.state = State::Connecting(rx);
                    TcpEvent::Nothing
                }
                Resolved::Pending => TcpEvent::Nothing,
                Resolved::Failed(why) => self.down(now, format!("resolving: {why}")),
            },
            State::Connecting(rx) => match rx.try_recv() {
                Ok(Ok(stream)) => {
                    let peer = stream.peer_addr();
                    let setup = stream
                        .set_nonblocking(true)
                        .and_then(|()| stream.set_nodelay(true))
                        .and_then(|()| {
                            nix::sys::socket::setsockopt(
                                &stream,
                                nix::sys::socket::sockopt::SndBuf,
                                &SEND_BUFFER,
                            )
                            .map_err(io::Error::from)
                        });
                    match (setup, peer, &self.tls) {
                        (Ok(()), Ok(peer), None) => self.connected(stream, None, peer),
                        (Ok(()), Ok(peer), Some(tls)) => {
                            let (Some(config), Some(name)) = (tls.config.clone(), tls.name.clone())
                            else {
                                return self
                                    .down(now, "TLS: no configuration or no name to check".into());
                            };
                            match ClientConnection::new(config, name) {
                                Ok(mut conn) => {
                                    conn.set_buffer_limit(Some(TLS_BUFFER));
                                    self.state = State::Handshaking {
                                        stream,
                                        tls: Box::new(conn),
                                        peer,
                                        since: now,
                                    };
                                    self.poll(now)
                                }
                                Err(e) => self.down(now, format!("TLS: {e}")),
                            }
                        }
                        (Err(e), _, _) | (_, Err(e), _) => self.down(now, e.to_string()),
                    }
                }
                Ok(Err(e)) => self.down(now, e.to_string()),
                Err(TryRecvError::Empty) => TcpEvent::Nothing,
                Err(TryRecvError::Disconnected) => self.down(now, "connect thread died".into()),
            },
            State::Handshaking { .. } => self.handshake(now),
            State::Connected(_) => self.flush(now),
        }
    }

    fn connected(
        &mut self,
        stream: TcpStream,
        tls: Option<Box<ClientConnection>>,
        peer: SocketAddr,
    ) -> TcpEvent {
        self.state = State::Connected(Conn { stream, tls });
        self.backoff.reset();
        self.clear();
        TcpEvent::Connected(peer)
    }

    /// Moves the TLS handshake on as far as the socket allows; connected
    /// once the collector's certificate verified.
    fn handshake(&mut self, now: Instant) -> TcpEvent {
        let State::Handshaking {
            stream,
            tls,
            peer,
            since,
        } = &mut self.state
        else {
            return TcpEvent::Nothing;
        };
        loop {
            let mut progressed = false;
            if let Err(e) = push_tls(tls, stream) {
                return self.down(now, format!("TLS handshake: {e}"));
            }
            if !tls.is_handshaking() {
                let peer = *peer;
                let State::Handshaking { stream, tls, .. } =
                    std::mem::replace(&mut self.state, State::Resolving)
                else {
                    return TcpEvent::Nothing;
                };
                return self.connected(stream, Some(tls), peer);
            }
            if tls.wants_read() {
                match tls.read_tls(stream) {
                    Ok(0) => {
                        return self.down(
                            now,
                            "closed by the collector during the TLS handshake".into(),
                        )
                    }
                    Ok(_) => {
                        if let Err(e) = tls.process_new_packets() {
                            // Tell the collector why (the alert), then give up.
                            let _ = push_tls(tls, stream);
                            return self.down(now, format!("TLS handshake: {e}"));
                        }
                        progressed = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => progressed = true,
                    Err(e) => return self.down(now, format!("TLS handshake: {e}")),
                }
            }
            if !progressed {
                if now.saturating_duration_since(*since) > HANDSHAKE_TIMEOUT {
                    return self.down(now, "TLS handshake: no answer in time".into());
                }
                return TcpEvent::Nothing;
            }
        }
    }

    fn flush(&mut self, now: Instant) -> TcpEvent {
        let State::Connected(conn) = &mut self.state else {
            return TcpEvent::Nothing;
        };
        // A collector never sends; EOF or an error here means it is gone.
        match conn.probe() {
            Ok(true) => {}
            Ok(false) => return self.down(now, "collector closed the connection".into()),
            Err(e) => return self.down(now, e),
        }
        while self.out_pos < self.out.len() {
            match conn.write(&self.out[self.out_pos..]) {
                Ok(0) => return self.down(now, "socket accepted 0 bytes".into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.down(now, e.to_string()),
            }
        }
        if let Err(e) = conn.push() {
            return self.down(now, e.to_string());
        }
        if self.is_idle() {
            self.clear();
        }
        TcpEvent::Nothing
    }

    fn down(&mut self, now: Instant, error: String) -> TcpEvent {
        let lost = self.unwritten();
        self.clear();
        self.state = State::Idle {
            next_try: now + self.backoff.next_delay(),
        };
        TcpEvent::Down { error, lost }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only messages written whole count as sent: one cut in the middle and
    /// those behind it are unwritten, those before it are not.
    #[test]
    fn unwritten_counts_the_messages_not_written_whole() {
        let mut link = TcpLink::new("192.0.2.1", 4739, Duration::from_secs(60));
        link.push(&[0; 100], 3);
        link.push(&[0; 50], 2);
        link.push(&[0; 30], 0);
        let all = Unwritten {
            messages: 3,
            octets: 180,
            records: 5,
        };
        assert_eq!(link.unwritten(), all);
        link.out_pos = 120;
        assert_eq!(
            link.unwritten(),
            Unwritten {
                messages: 2,
                octets: 80,
                records: 2
            }
        );
        link.out_pos = 180;
        assert!(link.is_idle());
        assert_eq!(link.unwritten(), Unwritten::default());
    }

    /// RFC 7011 §10.4.4: after a failure, no attempt before the interval.
    #[test]
    fn no_reconnect_attempt_before_the_interval() {
        let minute = Duration::from_secs(60);
        let mut link = TcpLink::new("192.0.2.1", 4739, minute);
        let t0 = Instant::now();
        for attempt in 0..3u32 {
            let at = t0 + minute * attempt;
            assert!(matches!(
                link.down(at, "refused".into()),
                TcpEvent::Down { .. }
            ));
            assert_eq!(
                link.poll(at + minute - Duration::from_millis(1)),
                TcpEvent::Nothing
            );
            assert!(
                matches!(link.state, State::Idle { next_try } if next_try == at + minute),
                "attempt {attempt}: the wait does not grow or shrink"
            );
        }
    }
}
