//! The announce line: every prise server's first line on stdout is `SERVICE listening on ADDR`
//! (one per listening port), printed once it accepts connections.

use std::io::BufRead;

/// Read one line from `stdout` and return the address of `SERVICE listening on ADDR`, as
/// printed (`127.0.0.1:4242`, `[::1]:4242`).
///
/// # Panics
/// When the line is anything else (the server failed to start, or printed something first):
/// the message shows the line.
pub fn read(stdout: &mut impl BufRead, service: &str) -> String {
    let mut line = String::new();
    let _ = stdout.read_line(&mut line);
    let prefix = format!("{service} listening on ");
    line.trim()
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("expected {prefix:?}ADDR, got {line:?}"))
        .to_owned()
}
