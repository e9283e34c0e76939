//! The one error type of `prise-ftp`.

/// What can go wrong serving or using FTP.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Connecting, TLS, timeouts: see the core error.
    #[error(transparent)]
    Core(#[from] prise_core::Error),
    /// A local or network operation failed.
    #[error("{context}")]
    Io {
        /// What we were doing.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The server answered with an error reply.
    #[error("the server said: {code} {text}")]
    Refused {
        /// The reply code.
        code: u16,
        /// Its text.
        text: String,
    },
    /// The peer broke the protocol.
    #[error("{0}")]
    Protocol(String),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
