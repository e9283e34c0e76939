//! prise chat in a terminal, on the client library of `prise-chat` ([`prise_chat::client`]):
//!
//! - [`screen`]: the full-screen client of `prise chat connect` (ratatui): rooms and private
//!   chats, messages, members, the input line and the connection's state;
//! - [`commands`]: the slash commands (`/join`, `/nick` or `/nom`, `/msg`, …) turned into
//!   protocol requests, shared with the line client that `prise chat connect` runs when its
//!   output is not a terminal.
//!
//! - [`read_password`]: a password asked on the terminal without echo (`--account`).
//!
//! The binary crate only wires these to its arguments and output.

pub mod commands;
pub mod screen;

/// Read a password from the terminal without showing it: `prompt` on stderr, then keys until
/// Enter (Backspace erases, a paste is taken whole, Esc or Ctrl-C gives up).
///
/// # Errors
/// The terminal's errors, and [`std::io::ErrorKind::Interrupted`] when the user gives up.
pub fn read_password(prompt: &str) -> std::io::Result<String> {
    use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
    use std::io::Write as _;
    let mut err = std::io::stderr();
    write!(err, "{prompt}")?;
    err.flush()?;
    ratatui::crossterm::terminal::enable_raw_mode()?;
    let read = (|| {
        let mut password = String::new();
        loop {
            match event::read()? {
                Event::Key(key) if key.kind != KeyEventKind::Release => match key.code {
                    KeyCode::Enter => return Ok(password),
                    KeyCode::Backspace => {
                        password.pop();
                    }
                    KeyCode::Esc => break,
                    KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => break,
                    KeyCode::Char(c) => password.push(c),
                    _ => {}
                },
                Event::Paste(text) => password.push_str(&text),
                _ => {}
            }
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::Interrupted,
            "no password given",
        ))
    })();
    ratatui::crossterm::terminal::disable_raw_mode()?;
    writeln!(err)?;
    read
}
