//! The one error type of `prise-core`.

use std::time::Duration;

/// Everything that can go wrong in the shared networking layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation failed; `context` says which.
    #[error("{context}")]
    Io {
        /// What we were doing.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A TLS configuration could not be built (bad file, bad key, no roots).
    #[error("TLS: {0}")]
    Tls(String),
    /// A `--fingerprint` value is not `SHA256:` and 64 hex digits.
    #[error("invalid fingerprint {0:?}: expected SHA256: followed by 64 hex digits")]
    BadFingerprint(String),
    /// A host name did not resolve, or resolved to nothing.
    #[error("cannot resolve {addr}: {reason}")]
    Resolve {
        /// The address as given.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The peer refused or reset the connection.
    #[error("cannot connect to {addr}")]
    Connect {
        /// The address as given.
        addr: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Connecting took longer than the connect timeout.
    #[error("cannot connect to {addr}: no answer within {}", humantime::format_duration(*after))]
    ConnectTimeout {
        /// The address as given.
        addr: String,
        /// The timeout in force.
        after: Duration,
    },
    /// The TLS handshake failed (untrusted certificate, fingerprint mismatch, not TLS at all).
    #[error("TLS handshake with {peer} failed: {reason}")]
    TlsHandshake {
        /// The peer.
        peer: String,
        /// What rustls reported, as one line.
        reason: String,
    },
    /// An operation did not finish in time.
    #[error("{what}: no answer within {}", humantime::format_duration(*after))]
    Timeout {
        /// What we were waiting for.
        what: String,
        /// The timeout in force.
        after: Duration,
    },
    /// A peer-supplied path would leave the root folder or is not a valid name.
    #[error("refused path {path:?}: {reason}")]
    UnsafePath {
        /// The path as received.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A duration could not be parsed.
    #[error("invalid duration {0:?}: use a number of seconds or a value like 500ms, 10s, 5m, 48h")]
    BadDuration(String),
    /// A framing limit was broken or a message was cut short.
    #[error(transparent)]
    Codec(#[from] crate::codec::CodecError),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn tls(message: impl Into<String>) -> Self {
        Error::Tls(message.into())
    }
}
