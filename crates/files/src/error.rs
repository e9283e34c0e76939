//! The one error type of `prise-files`.

/// What can go wrong in a transfer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing failed (a file or the connection).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The peer closed the connection.
    #[error("the connection closed before the transfer ended")]
    Closed,
    /// The peer broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The peer refused (its code and words).
    #[error("{text} ({code})")]
    Refused {
        /// The protocol error code.
        code: String,
        /// Its explanation.
        text: String,
    },
    /// Connecting, TLS or a local setup failed.
    #[error("{0}")]
    Setup(String),
    /// A path from the peer or the command line is not acceptable.
    #[error(transparent)]
    Core(#[from] prise_core::Error),
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}
