//! The one error type of `prise-echo`.

/// What can go wrong serving or using echo.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Connecting, TLS, timeouts: see the core error.
    #[error(transparent)]
    Core(#[from] prise_core::Error),
    /// Reading from or writing to the peer or a local stream failed.
    #[error("{context}")]
    Io {
        /// What we were doing.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The server closed the connection before answering.
    #[error("{peer} closed the connection before answering")]
    Closed {
        /// The server.
        peer: String,
    },
    /// A reply line broke the line limit.
    #[error("reply from {peer}")]
    Codec {
        /// The server.
        peer: String,
        /// The framing error.
        #[source]
        source: prise_core::codec::CodecError,
    },
    /// A `--count` message cannot contain a line break: replies are matched line by line.
    #[error("with --count the message must be a single line")]
    MultiLineMessage,
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
