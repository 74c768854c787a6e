//! `collect`: receive IPFIX over UDP and TCP, decode, print.
//!
//! Shape: every listener is bound before anything else happens (a bind
//! failure is the one startup error, naming the listener); then one thread
//! per listener and per TCP connection receives and frames ([`net`]), and
//! hands `(exporter, message)` to this thread over a bounded channel, where
//! the single [`CollectingProcess`] decodes, reports and prints
//! ([`process`], with the [`json`] and [`table`] formats, or the live
//! view of [`top`], which needs stdout to be a terminal). SIGINT and
//! SIGTERM end it cleanly: every blocking call in every thread times out
//! within [`net::POLL`], so the process exits well within a second.
//!
//! stdout carries records only (flushed after each message); stderr carries
//! `listening on udp://ADDR:PORT` lines at startup (the bound port, also for
//! port 0) and one line per problem.

pub mod fields;
pub mod json;
pub mod net;
pub mod process;
pub mod table;
pub mod top;
pub mod utc;

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use signal_hook::consts::{SIGINT, SIGTERM};

use crate::config::{CollectConfig, CollectFormat};
pub use process::{Bookkeeping, CollectingProcess, Input, REPORT_MEMORY};

/// Messages queued between the receiving threads and the decoder; when
/// full, UDP threads wait (and the kernel's socket buffer takes the
/// overflow), TCP threads stop reading (back-pressure to the exporter).
const CHANNEL_CAPACITY: usize = 1024;
/// After a stop, how long queued messages are still printed and threads
/// waited for.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// A flag SIGINT and SIGTERM set. With `second_exits`, a second signal
/// while stopping exits at once; the live view keeps it off, so that the
/// terminal is always put back (every wait there ends within a second).
fn stop_on_signals(second_exits: bool) -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        let conditional = if second_exits {
            signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&stop)).map(|_| ())
        } else {
            Ok(())
        };
        conditional
            .and_then(|()| signal_hook::flag::register(sig, Arc::clone(&stop)).map(|_| ()))
            .with_context(|| format!("installing a handler for signal {sig}"))?;
    }
    Ok(stop)
}

pub fn run(cfg: &CollectConfig) -> Result<()> {
    anyhow::ensure!(
        !cfg.listen.is_empty(),
        "nothing to listen on: give --listen"
    );
    if cfg.format == CollectFormat::Top {
        top::require_terminal()?;
    }
    let listeners = cfg
        .listen
        .iter()
        .map(|l| net::bind(l, cfg.tls.as_ref()))
        .collect::<Result<Vec<_>>>()?;

    let stop = stop_on_signals(cfg.format != CollectFormat::Top)?;

    let mut stderr = io::stderr();
    let mut urls = Vec::with_capacity(listeners.len());
    for l in &listeners {
        let url = l.url().context("reading a listener's bound address")?;
        let _ = writeln!(stderr, "listening on {url}");
        urls.push(url);
    }

    let (tx, rx) = mpsc::sync_channel(CHANNEL_CAPACITY);
    let mut threads = Vec::with_capacity(listeners.len());
    for l in listeners {
        match l.spawn(tx.clone(), Arc::clone(&stop)) {
            Ok(t) => threads.push(t),
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
    }
    // The threads hold the only senders: the channel disconnects once they
    // have all ended.
    drop(tx);

    if cfg.format == CollectFormat::Top {
        let result = top::run(&rx, &stop, &urls, &cfg.top);
        // Nothing more is shown: what is still queued is dropped.
        finish(&rx, threads, &stop, |_| {});
        return result;
    }

    let out = io::BufWriter::new(io::stdout().lock());
    let mut process = CollectingProcess::new(cfg.format, out, io::stderr());
    let result = loop {
        if stop.load(Ordering::Relaxed) {
            break Ok(());
        }
        match rx.recv_timeout(net::POLL) {
            Ok(input) => {
                if let Err(e) = process.handle(input, Instant::now()) {
                    break Err(e);
                }
            }
            Err(RecvTimeoutError::Timeout) => process.expire(Instant::now()),
            Err(RecvTimeoutError::Disconnected) => break Ok(()),
        }
    };

    // Print what is still queued while the threads finish.
    let mut printing = result.is_ok();
    finish(&rx, threads, &stop, |input| {
        if printing {
            printing = process.handle(input, Instant::now()).is_ok();
        }
    });
    match result {
        // `collect | head`: the reader is gone, nothing left to do.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing records to stdout"),
    }
}

/// Stops the threads and hands `queued` what is still in the channel while
/// they finish (a thread blocked on a full channel needs us to keep
/// receiving); waits for them at most [`SHUTDOWN_GRACE`].
fn finish(
    rx: &mpsc::Receiver<Input>,
    threads: Vec<std::thread::JoinHandle<()>>,
    stop: &AtomicBool,
    mut queued: impl FnMut(Input),
) {
    stop.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    let all_ended = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(input) => queued(input),
            Err(RecvTimeoutError::Disconnected) => break true,
            Err(RecvTimeoutError::Timeout) => break false,
        }
    };
    if all_ended {
        for t in threads {
            let _ = t.join();
        }
    }
}
