//! Name resolution off the export loop: getaddrinfo can block for seconds
//! when no resolver answers, and the loop must keep its timing (and exit
//! within 2 s of SIGTERM).

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant};

use super::backoff::Backoff;

/// What a poll of the resolver found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    Ready(SocketAddr),
    /// Resolving, or waiting for the next attempt.
    Pending,
    /// An attempt just failed (reported once per attempt).
    Failed(String),
}

/// Resolves `host:port` in a background thread, one attempt at a time,
/// retrying with backoff while it fails.
pub struct Resolver {
    host: String,
    port: u16,
    pending: Option<Receiver<std::io::Result<Vec<SocketAddr>>>>,
    backoff: Backoff,
    next_try: Instant,
    /// Last failure, for the log (logged once per outage by the caller).
    pub last_error: Option<String>,
}

impl Resolver {
    pub fn new(host: &str, port: u16) -> Self {
        Resolver {
            host: host.to_owned(),
            port,
            pending: None,
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(30)),
            next_try: Instant::now(),
            last_error: None,
        }
    }

    /// Progresses resolution: starts an attempt when one is due, collects
    /// its answer when it is there.
    pub fn poll(&mut self, now: Instant) -> Resolved {
        if let Some(rx) = &self.pending {
            let answer = match rx.try_recv() {
                Ok(Ok(addrs)) => match addrs.first() {
                    Some(a) => Ok(*a),
                    None => Err("no addresses".to_owned()),
                },
                Ok(Err(e)) => Err(e.to_string()),
                Err(TryRecvError::Empty) => return Resolved::Pending,
                Err(TryRecvError::Disconnected) => Err("resolver thread died".to_owned()),
            };
            self.pending = None;
            return match answer {
                Ok(addr) => {
                    self.backoff.reset();
                    self.last_error = None;
                    Resolved::Ready(addr)
                }
                Err(why) => {
                    self.fail(now, why.clone());
                    Resolved::Failed(why)
                }
            };
        }
        if now < self.next_try {
            return Resolved::Pending;
        }
        // Literal addresses need no thread.
        if let Ok(ip) = self.host.parse::<std::net::IpAddr>() {
            return Resolved::Ready(SocketAddr::new(ip, self.port));
        }
        let (tx, rx) = mpsc::channel();
        let target = (self.host.clone(), self.port);
        std::thread::spawn(move || {
            let res = target.to_socket_addrs().map(Iterator::collect);
            let _ = tx.send(res);
        });
        self.pending = Some(rx);
        Resolved::Pending
    }

    fn fail(&mut self, now: Instant, why: String) {
        self.pending = None;
        self.next_try = now + self.backoff.next_delay();
        self.last_error = Some(why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_resolve_at_once() {
        let mut r = Resolver::new("2001:db8::7", 4739);
        assert_eq!(
            r.poll(Instant::now()),
            Resolved::Ready("[2001:db8::7]:4739".parse().unwrap())
        );
    }

    #[test]
    fn a_name_that_does_not_resolve_fails_and_retries_later() {
        let mut r = Resolver::new("no-such-host.invalid", 4739);
        let start = Instant::now();
        let mut failed = None;
        while start.elapsed() < Duration::from_secs(20) {
            match r.poll(Instant::now()) {
                Resolved::Failed(why) => {
                    failed = Some(why);
                    break;
                }
                Resolved::Ready(a) => panic!(".invalid resolved to {a}"),
                Resolved::Pending => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        assert!(failed.is_some(), "no answer within 20 s");
        // The next attempt waits for the backoff.
        assert_eq!(r.poll(Instant::now()), Resolved::Pending);
        assert!(r.pending.is_none());
    }
}
