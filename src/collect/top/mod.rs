//! `collect --format top`: a live view of the biggest flows of the last
//! `--window`, per exporter and direction, redrawn each second.
//!
//! A pure core — [`record`] (a data record's flow key and counts, from the
//! standard IANA elements), [`totals`] (total counts turned into deltas),
//! [`window`] (the sliding window), [`rank`] (ranked rows per exporter and
//! direction), [`keys`] — and a thin shell: [`view`] draws one frame,
//! [`terminal`] owns the terminal's state, and [`run`] is the loop. The
//! decoding is the [`CollectingProcess`] every format uses; its diagnostic
//! lines go to [`notices`] while the view owns the terminal.

pub mod keys;
pub mod notices;
pub mod rank;
pub mod record;
pub mod terminal;
pub mod totals;
pub mod view;
pub mod window;

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ratatui::crossterm::event::{self, Event};

use super::process::{CollectingProcess, Input};
use crate::config::{CollectFormat, TopConfig, TopSort};
use keys::Action;
use notices::NoticeWriter;
pub use terminal::require_terminal;
use terminal::Screen;
use window::Window;

/// How often the view is redrawn (also at once after a sort key or a
/// resize).
pub const REFRESH: Duration = Duration::from_secs(1);
/// Longest wait for a message before the keyboard is looked at again: a
/// key takes effect within this.
const TICK: Duration = Duration::from_millis(50);
/// Keyboard events read per turn at most.
const KEYS_PER_TURN: usize = 64;

/// Shows the view until `q`, a stop signal, or the receiving threads end;
/// the terminal is given back on every path, then the diagnostics that
/// arrived meanwhile go to stderr.
pub fn run(
    rx: &Receiver<Input>,
    stop: &AtomicBool,
    listening: &[String],
    cfg: &TopConfig,
) -> Result<()> {
    let notices = NoticeWriter::default();
    let result =
        Screen::take().and_then(|mut screen| show(&mut screen, rx, stop, listening, cfg, &notices));
    // The screen was dropped: the terminal is back.
    let n = notices.0.borrow();
    if n.count() > 0 {
        let mut stderr = io::stderr();
        let kept = n.kept().count();
        let _ = writeln!(
            stderr,
            "diagnostics while the view was shown: {}; the last {kept}:",
            n.count()
        );
        for line in n.kept() {
            let _ = writeln!(stderr, "{line}");
        }
    }
    result
}

fn show(
    screen: &mut Screen,
    rx: &Receiver<Input>,
    stop: &AtomicBool,
    listening: &[String],
    cfg: &TopConfig,
    notices: &NoticeWriter,
) -> Result<()> {
    let mut process = CollectingProcess::new(CollectFormat::Top, io::sink(), notices.clone());
    let mut window = Window::new(cfg.window);
    let mut sort = cfg.sort;
    let mut next_draw = Instant::now();
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut redraw = false;
        for _ in 0..KEYS_PER_TURN {
            if !event::poll(Duration::ZERO).context("reading the keyboard")? {
                break;
            }
            match event::read().context("reading the keyboard")? {
                Event::Key(key) => match keys::action(key) {
                    Some(Action::Quit) => return Ok(()),
                    Some(Action::Sort(s)) => {
                        redraw |= s != sort;
                        sort = s;
                    }
                    None => {}
                },
                Event::Resize(..) => redraw = true,
                _ => {}
            }
        }
        match rx.recv_timeout(TICK) {
            Ok(input) => {
                let now = Instant::now();
                // The records go to `take_records`, not to the sink: this
                // cannot fail.
                process.handle(input, now).context("decoding a message")?;
                for (exporter, r) in process.take_records() {
                    if let Some(flow) = record::read_record(exporter, &r) {
                        window.add(flow, now);
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => process.expire(Instant::now()),
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
        let now = Instant::now();
        if redraw || now >= next_draw {
            window.expire(now);
            draw(screen, &window, sort, listening, notices)?;
            next_draw = now + REFRESH;
        }
    }
}

fn draw(
    screen: &mut Screen,
    window: &Window,
    sort: TopSort,
    listening: &[String],
    notices: &NoticeWriter,
) -> Result<()> {
    let n = notices.0.borrow();
    screen
        .terminal
        .draw(|frame| {
            let height = frame.area().height;
            let groups = rank::rank(window.flows(), sort, |count| {
                view::rows_per_group(height, count)
            });
            let s = view::Screen {
                listening,
                span: window.span(),
                sort,
                groups: &groups,
                records: window.record_count(),
                flows: window.flow_count(),
                left_early: window.left_early(),
                notices: n.count(),
                last_notice: n.last(),
            };
            view::draw(frame, &s);
        })
        .context("drawing the view")?;
    Ok(())
}
