//! The one error type of `prise-backup`.

/// What can go wrong in a backup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The peer broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Refused, by the peer or by a check here (its code and words).
    #[error("{text} ({code})")]
    Refused {
        /// The protocol error code.
        code: String,
        /// Its explanation.
        text: String,
    },
    /// The connection or its framing failed.
    #[error(transparent)]
    Wire(#[from] prise_files::Error),
    /// A path or an atomic write failed.
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

    pub(crate) fn refused(code: &str, text: impl Into<String>) -> Self {
        Error::Refused {
            code: code.into(),
            text: text.into(),
        }
    }
}
