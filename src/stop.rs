//! SIGTERM, SIGINT and SIGHUP: a flag the loops check, and a wake-up for
//! the one that sleeps, so that an idle exporter can sleep until its next
//! deadline and still stop at once. SIGHUP stops too (l3afd owns the life
//! cycle of its modes), unless the mode reloads on it
//! ([`StopFlag::install_with_reload`], standalone `run`).

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
    /// Set by SIGHUP instead of `flag` in a mode that reloads.
    reload: Option<Arc<AtomicBool>>,
    /// Readable once a signal came (signal-hook writes a byte into its
    /// other end from the handler).
    wake: UnixStream,
}

impl StopFlag {
    /// SIGTERM, SIGINT and SIGHUP stop.
    pub fn install() -> Result<Self> {
        Self::install_inner(false)
    }

    /// SIGTERM and SIGINT stop; SIGHUP asks for a reload
    /// ([`Self::take_reload`]).
    pub fn install_with_reload() -> Result<Self> {
        Self::install_inner(true)
    }

    fn install_inner(reloads: bool) -> Result<Self> {
        let flag = Arc::new(AtomicBool::new(false));
        let reload = reloads.then(|| Arc::new(AtomicBool::new(false)));
        let (wake, notify) = UnixStream::pair().context("creating the signal wake-up pipe")?;
        wake.set_nonblocking(true)
            .context("making the signal wake-up pipe non-blocking")?;
        for sig in [SIGTERM, SIGINT, SIGHUP] {
            let target = match &reload {
                Some(r) if sig == SIGHUP => r,
                _ => &flag,
            };
            signal_hook::flag::register(sig, Arc::clone(target))
                .with_context(|| format!("installing handler for signal {sig}"))?;
            let notify = notify
                .try_clone()
                .context("duplicating the signal wake-up pipe")?;
            signal_hook::low_level::pipe::register(sig, notify)
                .with_context(|| format!("installing wake-up for signal {sig}"))?;
        }
        Ok(StopFlag { flag, reload, wake })
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// True once per SIGHUP (or burst of them) since the last call.
    pub fn take_reload(&self) -> bool {
        self.reload
            .as_ref()
            .is_some_and(|r| r.swap(false, Ordering::Relaxed))
    }

    fn reload_pending(&self) -> bool {
        self.reload
            .as_ref()
            .is_some_and(|r| r.load(Ordering::Relaxed))
    }

    /// Sleeps for `d`, or until a stop signal arrives; true when a signal
    /// ended it.
    pub fn sleep(&self, d: Duration) -> bool {
        self.sleep_watching(d, None) == Woken::Signal
    }

    /// Sleeps for `d`, until a stop signal arrives, a reload is asked
    /// for, or `event` (when given) is readable.
    pub fn sleep_watching(&self, d: Duration, event: Option<BorrowedFd<'_>>) -> Woken {
        if self.is_set() {
            return Woken::Signal;
        }
        if self.reload_pending() {
            return Woken::Reload;
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
        } else if self.reload_pending() {
            Woken::Reload
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
    /// SIGHUP in a mode that reloads.
    Reload,
    Event,
    /// The time passed (or another signal interrupted the sleep).
    Timeout,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests send SIGHUP to the whole process: one at a time.
    static SIGNALS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn a_signal_ends_the_sleep_and_sets_the_flag() {
        let _one = SIGNALS.lock().unwrap_or_else(|p| p.into_inner());
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

    #[test]
    fn sighup_asks_for_a_reload_where_the_mode_reloads() {
        let _one = SIGNALS.lock().unwrap_or_else(|p| p.into_inner());
        let stop = StopFlag::install_with_reload().unwrap();
        let pid = nix::unistd::getpid();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
        });
        assert_eq!(
            stop.sleep_watching(Duration::from_secs(60), None),
            Woken::Reload
        );
        t.join().unwrap();
        assert!(!stop.is_set());
        assert!(stop.take_reload());
        assert!(!stop.take_reload(), "once per signal");
    }
}
