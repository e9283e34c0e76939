//! Logs go to stderr through tracing; `-v`/`-q` pick the level and `RUST_LOG` overrides both.
//! The HTTP access log (target `prise::access`, one line per request) shows unless `-q`.

use tracing_subscriber::EnvFilter;

pub(crate) fn init(verbose: u8, quiet: u8) {
    let level = match (quiet, verbose) {
        (q, _) if q >= 2 => "off",
        (1, _) => "error",
        (_, 0) => "warn,prise::access=info",
        (_, 1) => "info",
        (_, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .init();
}
