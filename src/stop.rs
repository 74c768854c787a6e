//! SIGTERM, SIGINT and SIGHUP: a flag the loops check, and a wake-up for
//! the one that sleeps, so that an idle exporter can sleep until its next
//! deadline and still stop at once.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// Set by SIGTERM, SIGINT and SIGHUP.
pub struct StopFlag {
    flag: Arc<AtomicBool>,
    /// Readable once a signal came (signal-hook writes a byte into its
    /// other end from the handler).
    wake: UnixStream,
}

impl StopFlag {
    pub fn install() -> Result<Self> {
        let flag = Arc::new(AtomicBool::new(false));
        let (wake, notify) = UnixStream::pair().context("creating the signal wake-up pipe")?;
        wake.set_nonblocking(true)
            .context("making the signal wake-up pipe non-blocking")?;
        for sig in [SIGTERM, SIGINT, SIGHUP] {
            signal_hook::flag::register(sig, Arc::clone(&flag))
                .with_context(|| format!("installing handler for signal {sig}"))?;
            let notify = notify
                .try_clone()
                .context("duplicating the signal wake-up pipe")?;
            signal_hook::low_level::pipe::register(sig, notify)
                .with_context(|| format!("installing wake-up for signal {sig}"))?;
        }
        Ok(StopFlag { flag, wake })
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// Sleeps for `d`, or until a stop signal arrives; true when a signal
    /// ended it.
    pub fn sleep(&self, d: Duration) -> bool {
        self.sleep_watching(d, None) == Woken::Signal
    }

    /// Sleeps for `d`, until a stop signal arrives, or until `event`
    /// (when given) is readable.
    pub fn sleep_watching(&self, d: Duration, event: Option<BorrowedFd<'_>>) -> Woken {
        if self.is_set() {
            return Woken::Signal;
        }
        let ms = u16::try_from(d.as_millis().max(1)).unwrap_or(u16::MAX);
        let mut fds = vec![PollFd::new(self.wake.as_fd(), PollFlags::POLLIN)];
        if let Some(fd) = event {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        // EINTR (another signal) just ends the sleep early.
        let ready = matches!(poll(&mut fds, PollTimeout::from(ms)), Ok(n) if n > 0);
        let readable = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
        if ready && readable(&fds[0]) {
            let mut buf = [0u8; 64];
            while matches!((&self.wake).read(&mut buf), Ok(n) if n > 0) {}
        }
        if self.is_set() {
            Woken::Signal
        } else if fds.get(1).is_some_and(readable) {
            Woken::Event
        } else {
            Woken::Timeout
        }
    }
}

/// What ended a [`StopFlag::sleep_watching`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    Signal,
    Event,
    /// The time passed (or another signal interrupted the sleep).
    Timeout,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_ends_the_sleep_and_sets_the_flag() {
        let stop = StopFlag::install().unwrap();
        assert!(!stop.is_set());
        let pid = nix::unistd::getpid();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
        });
        // Woken by the signal, not by the minute passing.
        assert!(stop.sleep(Duration::from_secs(60)));
        assert!(stop.is_set());
        t.join().unwrap();
    }
}
