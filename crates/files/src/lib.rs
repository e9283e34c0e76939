//! `prise send` / `prise receive`: files and folders over TCP (or TLS), verified with BLAKE3
//! while they move, written atomically, resumable. The protocol is in docs/PROTOCOL-files.md.
//!
//! - [`wire`]: the messages and the framing.
//! - [`receive`]: the receiver (a server: one session per connection).
//! - [`send`]: the sender (a client), with a progress callback.

mod error;
pub mod receive;
pub mod send;
pub mod wire;

pub use error::Error;

/// A fresh random token (128 bits, hex): what a receiver without `--token` makes up.
///
/// # Errors
/// When the system's random source fails.
pub fn new_token() -> Result<String, Error> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Setup("no random source".into()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
