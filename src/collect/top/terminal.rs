//! The terminal while the live view is shown: raw mode, the alternate
//! screen, no cursor. [`Screen`] owns that state and gives the terminal
//! back as it was when dropped — at a normal exit, on an error, on SIGINT
//! or SIGTERM (the view's loop ends and drops it) — and a panic hook gives
//! it back before the panic message is printed, so that the message lands
//! on the normal screen.

use std::io::{self, IsTerminal, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use anyhow::{Context, Result};
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::cursor::{Hide, Show};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::Terminal;

/// Whether the terminal is in the view's state, for [`restore`] to undo
/// once only (a second `LeaveAlternateScreen` would move the cursor).
static TAKEN: AtomicBool = AtomicBool::new(false);
static PANIC_HOOK: Once = Once::new();

/// The one startup check of `--format top`: stdout must be a terminal.
pub fn require_terminal() -> Result<()> {
    anyhow::ensure!(
        io::stdout().is_terminal(),
        "--format top draws a live view and needs a terminal, but stdout is not one; \
         use --format table or --format json to pipe or redirect the records"
    );
    Ok(())
}

pub struct Screen {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Screen {
    pub fn take() -> Result<Screen> {
        PANIC_HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        });
        enable_raw_mode().context("switching the terminal to raw mode")?;
        TAKEN.store(true, Ordering::SeqCst);
        // From here on an early return drops nothing that restores: do it.
        let screen = (|| {
            execute!(io::stdout(), EnterAlternateScreen, Hide)
                .context("switching to the terminal's alternate screen")?;
            let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))
                .context("reading the terminal's size")?;
            terminal.clear().context("clearing the terminal")?;
            Ok(Screen { terminal })
        })();
        if screen.is_err() {
            restore();
        }
        screen
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

/// Gives the terminal back: cooked mode, the normal screen, the cursor.
/// Does nothing unless [`Screen::take`] took it; errors are ignored (there
/// is no better place to report them).
fn restore() {
    if TAKEN.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
    }
}
