//! What several services' arguments share: the server options, TLS for servers and clients,
//! client timeouts, token clients, and the parsers of durations, sizes and `NAME:PASSWORD`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueHint};
use prise_core::tls::Fingerprint;

/// What every client of a token-protected server takes (`prise send`, the backup commands).
#[derive(Debug, Args)]
pub(crate) struct TokenClientArgs {
    /// The server's token (for `prise send`, what `prise receive` printed).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "PRISE_TOKEN",
        hide_env_values = true
    )]
    pub(crate) token: Option<String>,

    /// Give up connecting (TCP and TLS) after this long.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    pub(crate) connect_timeout: Duration,

    /// Give up when the server has not answered for this long.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = duration)]
    pub(crate) timeout: Duration,

    #[command(flatten)]
    pub(crate) tls: ClientTlsArgs,
}

/// A byte count: digits, optionally followed by K, M, G or T (powers of 1024) and an optional
/// `B` or `iB`.
pub(super) fn size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (digits, shift) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 30),
        Some('t' | 'T') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let n: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 500M, 2G, 1048576)"))?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Options every server has besides TLS.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Read settings from a TOML file (the same names as the flags; flags win). On SIGHUP the
    /// TLS certificate and key are read again.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub(crate) config: Option<PathBuf>,

    /// Serve at most N clients at once on each listening port; others wait until a slot frees.
    #[arg(long, value_name = "N", default_value_t = prise_core::server::MAX_CONNECTIONS as u64,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: u64,

    /// On Ctrl-C or SIGTERM, give connections this long to finish.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    pub(crate) grace: Duration,
}

impl ServeArgs {
    /// The connection cap as the services take it.
    pub(crate) fn max_connections(&self) -> usize {
        // Bounded to 1..=1_000_000 by the parser, so it fits any usize.
        usize::try_from(self.max_connections).unwrap_or(usize::MAX)
    }
}

/// TLS options of every server.
#[derive(Debug, Args)]
#[command(next_help_heading = "TLS")]
pub(crate) struct ServerTlsArgs {
    /// Serve TLS with this certificate chain (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_key", value_hint = ValueHint::FilePath)]
    pub(crate) tls_cert: Option<PathBuf>,

    /// The private key for --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert", value_hint = ValueHint::FilePath)]
    pub(crate) tls_key: Option<PathBuf>,

    /// Serve TLS with a certificate made at start; its fingerprint is printed for clients to
    /// pin with --fingerprint.
    #[arg(long, conflicts_with = "tls_cert")]
    pub(crate) tls_self_signed: bool,
}

/// TLS options of every client.
#[derive(Debug, Args)]
#[command(next_help_heading = "TLS")]
pub(crate) struct ClientTlsArgs {
    /// Connect with TLS, verifying the server against the system's trusted roots.
    #[arg(long)]
    pub(crate) tls: bool,

    /// Trust the certificates in FILE (PEM) instead of the system roots. Implies --tls.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub(crate) ca: Option<PathBuf>,

    /// Trust exactly the certificate with this SHA-256 fingerprint ("SHA256:" and 64 hex digits,
    /// as the server prints it). Implies --tls.
    #[arg(long, value_name = "SHA256:HEX", conflicts_with = "ca")]
    pub(crate) fingerprint: Option<Fingerprint>,

    /// Do not verify the server at all (encrypted, but anyone in between can read). Implies
    /// --tls. Prints a warning.
    #[arg(long, conflicts_with_all = ["ca", "fingerprint"])]
    pub(crate) insecure: bool,
}

/// Timeouts of every client.
#[derive(Debug, Args)]
pub(crate) struct TimeoutArgs {
    /// Give up connecting (TCP and TLS) after this long.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    pub(crate) connect_timeout: Duration,

    /// Give up when the server has not answered for this long.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    pub(crate) timeout: Duration,
}

pub(super) fn duration(text: &str) -> Result<Duration, String> {
    prise_core::duration::parse_duration(text).map_err(|e| e.to_string())
}

/// `NAME:PASSWORD` for `--oper`.
pub(super) fn parse_oper(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((name, password)) if !name.is_empty() && !password.is_empty() => {
            if name.contains(char::is_whitespace) {
                return Err("the operator name has no spaces".into());
            }
            Ok((name.to_owned(), password.to_owned()))
        }
        _ => Err("expected NAME:PASSWORD, both non-empty".into()),
    }
}
