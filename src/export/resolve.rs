//! Name resolution off the export loop: getaddrinfo can block for seconds
//! when no resolver answers, and the loop must keep its timing (and exit
//! within 2 s of SIGTERM).

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant};

use super::backoff::Backoff;

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

    /// The first address once resolution succeeded; `None` while pending or
    /// failing (a retry is scheduled).
    pub fn poll(&mut self, now: Instant) -> Option<SocketAddr> {
        if let Some(rx) = &self.pending {
            match rx.try_recv() {
                Ok(Ok(addrs)) if !addrs.is_empty() => {
                    self.pending = None;
                    self.backoff.reset();
                    self.last_error = None;
                    return addrs.first().copied();
                }
                Ok(Ok(_)) => self.fail(now, "no addresses".to_owned()),
                Ok(Err(e)) => self.fail(now, e.to_string()),
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Disconnected) => {
                    self.fail(now, "resolver thread died".to_owned())
                }
            }
            return None;
        }
        if now < self.next_try {
            return None;
        }
        // Literal addresses need no thread.
        if let Ok(ip) = self.host.parse::<std::net::IpAddr>() {
            return Some(SocketAddr::new(ip, self.port));
        }
        let (tx, rx) = mpsc::channel();
        let target = (self.host.clone(), self.port);
        std::thread::spawn(move || {
            let res = target.to_socket_addrs().map(Iterator::collect);
            let _ = tx.send(res);
        });
        self.pending = Some(rx);
        None
    }

    fn fail(&mut self, now: Instant, why: String) {
        self.pending = None;
        self.next_try = now + self.backoff.next_delay();
        self.last_error = Some(why);
    }
}
