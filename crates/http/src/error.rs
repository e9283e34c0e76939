//! The one error type of `prise-http`.

/// What can go wrong in the HTTP server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The folder to serve is not usable.
    #[error("{0}")]
    Setup(String),
    /// Accepting connections failed.
    #[error("listening: {0}")]
    Io(#[from] std::io::Error),
    /// A path or TLS setup failed.
    #[error(transparent)]
    Core(#[from] prise_core::Error),
}
