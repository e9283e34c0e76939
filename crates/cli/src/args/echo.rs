//! The arguments of `prise echo`: the server and the client.

use std::time::Duration;

use clap::{Args, Subcommand};

use super::common::{duration, ClientTlsArgs, ServeArgs, ServerTlsArgs, TimeoutArgs};

#[derive(Debug, Subcommand)]
pub(crate) enum EchoCommand {
    /// Serve echo: every client gets its bytes back, any number of clients at once.
    Serve(EchoServeArgs),
    /// Send MESSAGE (or stdin) to an echo server and print what comes back.
    Send(EchoSendArgs),
}

#[derive(Debug, Args)]
pub(crate) struct EchoServeArgs {
    /// Address to listen on (port 0 picks a free port; the announce line tells which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7007")]
    pub(crate) listen: String,

    /// Answer every received line with TEXT instead of echoing (the tutorial's server says
    /// "Message bien reçu!").
    #[arg(long, value_name = "TEXT")]
    pub(crate) reply: Option<String>,

    /// Close a connection that sends nothing for this long.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration)]
    pub(crate) idle_timeout: Duration,

    #[command(flatten)]
    pub(crate) common: ServeArgs,

    #[command(flatten)]
    pub(crate) tls: ServerTlsArgs,
}

#[derive(Debug, Args)]
pub(crate) struct EchoSendArgs {
    /// Server address, HOST:PORT.
    #[arg(value_name = "ADDR")]
    pub(crate) addr: String,

    /// Text to send, followed by a newline; stdin is sent as is when absent.
    #[arg(value_name = "MESSAGE")]
    pub(crate) message: Option<String>,

    /// Send MESSAGE N times over one connection, one line at a time, and print round-trip
    /// times like ping (MESSAGE defaults to "ping").
    #[arg(short = 'c', long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) count: Option<u32>,

    /// With --count, wait this long between messages.
    #[arg(short = 'i', long, value_name = "DURATION", default_value = "0", value_parser = duration, requires = "count")]
    pub(crate) interval: Duration,

    #[command(flatten)]
    pub(crate) timeouts: TimeoutArgs,

    #[command(flatten)]
    pub(crate) tls: ClientTlsArgs,
}
