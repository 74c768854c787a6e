//! The keys of the live view. Pure.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::config::TopSort;

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Sort(TopSort),
    Quit,
}

/// The keys, as the view's title lists them.
pub const HELP: &str = "o octets  p packets  q quit";

/// `o` sorts by octets, `p` by packets; `q`, Esc and Ctrl-C quit (in raw
/// mode Ctrl-C is a key, not SIGINT). Releases and repeats of a key are
/// not actions.
pub fn action(key: KeyEvent) -> Option<Action> {
    if key.kind != KeyEventKind::Press {
        return None;
    }
    match key.code {
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Some(Action::Quit),
        KeyCode::Char('o' | 'O') => Some(Action::Sort(TopSort::Octets)),
        KeyCode::Char('p' | 'P') => Some(Action::Sort(TopSort::Packets)),
        KeyCode::Char('q' | 'Q') | KeyCode::Esc => Some(Action::Quit),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn keys() {
        let none = KeyModifiers::NONE;
        assert_eq!(
            action(press(KeyCode::Char('o'), none)),
            Some(Action::Sort(TopSort::Octets))
        );
        assert_eq!(
            action(press(KeyCode::Char('p'), none)),
            Some(Action::Sort(TopSort::Packets))
        );
        assert_eq!(
            action(press(KeyCode::Char('P'), KeyModifiers::SHIFT)),
            Some(Action::Sort(TopSort::Packets))
        );
        assert_eq!(action(press(KeyCode::Char('q'), none)), Some(Action::Quit));
        assert_eq!(action(press(KeyCode::Esc, none)), Some(Action::Quit));
        assert_eq!(
            action(press(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(action(press(KeyCode::Char('c'), none)), None);
        assert_eq!(action(press(KeyCode::Enter, none)), None);
        let mut release = press(KeyCode::Char('q'), none);
        release.kind = KeyEventKind::Release;
        assert_eq!(action(release), None);
    }
}
