//! `prise-core`: the networking every prise service stands on.
//!
//! - [`codec`]: line and length-prefixed framing with size limits and typed errors.
//! - [`tls`]: rustls server and client configuration, self-signed certificates, fingerprints.
//! - [`stream`]: one stream type for plain and TLS connections, traced when asked.
//! - [`net`]: connect with timeouts, bind, the `listening on` announcement.
//! - [`server`]: the accept loop with a connection cap, accept back-off and graceful shutdown.
//! - [`retry`]: exponential backoff with jitter for reconnecting clients.
//! - [`trace`]: the traffic log behind `--trace-file`.
//! - [`path`]: resolve peer-supplied paths inside a root folder, or refuse them.
//! - [`fs`]: atomic file writes (temporary file, sync, rename).
//! - [`duration`]: `500ms`, `10s`, `5m`, or a bare number of seconds.
//!
//! Services take an already-bound listener and a [`CancellationToken`] and return when it is
//! cancelled and their connections are done; see [`server::serve`].

pub mod codec;
pub mod duration;
mod error;
pub mod fs;
pub mod net;
pub mod path;
pub mod retry;
pub mod server;
pub mod stream;
pub mod tls;
pub mod trace;

pub use error::Error;
pub use tokio_util::sync::CancellationToken;

/// Whether two secrets (tokens, passwords) are equal, in time that depends only on their
/// lengths: how long a refusal takes says nothing of how much of a guess was right.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"secret", b"secret"));
        assert!(!same_secret(b"secret", b"secreT"));
        assert!(!same_secret(b"secret", b"secret2"));
        assert!(!same_secret(b"", b"x"));
        assert!(same_secret(b"", b""));
    }
}
