//! TCP transport: connect in the background, write without blocking,
//! reconnect with capped backoff. Each connection is a new transport
//! session: the caller resets sequence numbers and resends templates.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant};

use super::backoff::Backoff;
use super::resolve::{Resolved, Resolver};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Kernel send buffer per collector connection. Fixed rather than
/// autotuned (up to 4 MiB): what waits for a slow collector waits in our
/// bounded, counted queue, not unseen in the kernel. 1 MiB keeps a 50 ms
/// path at ~20 MB/s, some 250 000 records/s.
const SEND_BUFFER: usize = 1 << 20;

enum State {
    Idle { next_try: Instant },
    Resolving,
    Connecting(Receiver<io::Result<TcpStream>>),
    Connected(TcpStream),
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
            state: State::Idle {
                next_try: Instant::now(),
            },
            backoff: Backoff::new(reconnect, reconnect),
            out: Vec::new(),
            ends: VecDeque::new(),
            out_pos: 0,
        }
    }

    /// The address the connection sends from.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match &self.state {
            State::Connected(stream) => stream.local_addr().ok(),
            _ => None,
        }
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected(_))
    }

    /// True when everything handed over has been written to the socket.
    pub fn is_idle(&self) -> bool {
        self.out_pos >= self.out.len()
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
        if self.is_idle() {
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
        let State::Connected(stream) = &mut self.state else {
            return Err("not connected".into());
        };
        stream
            .shutdown(std::net::Shutdown::Write)
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 512];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Err("the collector did not close its side in time".into());
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.to_string()),
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
                    match (setup, peer) {
                        (Ok(()), Ok(peer)) => {
                            self.state = State::Connected(stream);
                            self.backoff.reset();
                            self.clear();
                            TcpEvent::Connected(peer)
                        }
                        (Err(e), _) | (_, Err(e)) => self.down(now, e.to_string()),
                    }
                }
                Ok(Err(e)) => self.down(now, e.to_string()),
                Err(TryRecvError::Empty) => TcpEvent::Nothing,
                Err(TryRecvError::Disconnected) => self.down(now, "connect thread died".into()),
            },
            State::Connected(_) => self.flush(now),
        }
    }

    fn flush(&mut self, now: Instant) -> TcpEvent {
        let State::Connected(stream) = &mut self.state else {
            return TcpEvent::Nothing;
        };
        // A collector never sends; EOF or an error here means it is gone.
        let mut probe = [0u8; 512];
        match stream.read(&mut probe) {
            Ok(0) => return self.down(now, "collector closed the connection".into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return self.down(now, e.to_string()),
        }
        while self.out_pos < self.out.len() {
            match stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return self.down(now, "socket accepted 0 bytes".into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.down(now, e.to_string()),
            }
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
