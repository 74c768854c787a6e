//! The collecting process's diagnostic lines while the live view owns the
//! terminal: writing them to stderr (the same terminal) would tear the
//! view, so they are counted, the last is shown in the status line, and the
//! last [`KEPT`] are printed to stderr once the terminal is given back.
//! Pure: a [`Write`] into memory.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::rc::Rc;

/// Lines kept for printing at exit.
pub const KEPT: usize = 20;
/// Longest line kept, in bytes (a hostile sender's text is bounded).
const LINE_MAX: usize = 1024;

#[derive(Debug, Default)]
pub struct Notices {
    lines: VecDeque<String>,
    count: u64,
    /// An unfinished line.
    partial: Vec<u8>,
}

impl Notices {
    /// Lines written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn last(&self) -> Option<&str> {
        self.lines.back().map(String::as_str)
    }

    /// The last [`KEPT`] lines, oldest first.
    pub fn kept(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(String::as_str)
    }

    fn push_bytes(&mut self, mut bytes: &[u8]) {
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            self.push_partial(&bytes[..end]);
            // No control characters: the line is drawn into the view.
            let line = String::from_utf8_lossy(&self.partial)
                .chars()
                .map(|c| if c.is_control() { '\u{fffd}' } else { c })
                .collect();
            self.partial.clear();
            self.count += 1;
            if self.lines.len() == KEPT {
                self.lines.pop_front();
            }
            self.lines.push_back(line);
            bytes = &bytes[end + 1..];
        }
        self.push_partial(bytes);
    }

    fn push_partial(&mut self, bytes: &[u8]) {
        let room = LINE_MAX.saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

/// The [`Write`] the collecting process gets; the view reads the same
/// [`Notices`].
#[derive(Debug, Clone, Default)]
pub struct NoticeWriter(pub Rc<RefCell<Notices>>);

impl Write for NoticeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().push_bytes(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_counted_last_shown_tail_kept() {
        let mut w = NoticeWriter::default();
        write!(w, "first ").unwrap();
        assert_eq!(w.0.borrow().count(), 0);
        writeln!(w, "line").unwrap();
        assert_eq!(w.0.borrow().last(), Some("first line"));
        for i in 0..30 {
            writeln!(w, "line {i}").unwrap();
        }
        let n = w.0.borrow();
        assert_eq!(n.count(), 31);
        assert_eq!(n.last(), Some("line 29"));
        let kept: Vec<&str> = n.kept().collect();
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0], "line 10");
    }

    #[test]
    fn control_characters_are_replaced() {
        let mut w = NoticeWriter::default();
        w.write_all(b"bad \x1b[2J\tname\n").unwrap();
        assert_eq!(w.0.borrow().last(), Some("bad \u{fffd}[2J\u{fffd}name"));
    }

    #[test]
    fn long_lines_are_cut() {
        let mut w = NoticeWriter::default();
        w.write_all(&vec![b'x'; 5000]).unwrap();
        w.write_all(b"\n").unwrap();
        assert_eq!(w.0.borrow().last().map(str::len), Some(LINE_MAX));
    }
}
