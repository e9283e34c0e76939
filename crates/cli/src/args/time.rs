//! The arguments of `prise time`.

use std::time::Duration;

use clap::Args;

use super::common::duration;

#[derive(Debug, Args)]
pub(crate) struct TimeArgs {
    /// Servers to ask, as NAME, NAME:PORT, an address, or an IPv6 address in brackets with a
    /// port (`[::1]:123`); every address a name
    /// resolves to is asked. Default: pool.ntp.org.
    #[arg(value_name = "SERVER")]
    pub(crate) servers: Vec<String>,

    /// Requests per server; the one with the smallest round trip is the answer.
    #[arg(long, value_name = "N", default_value = "1", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) samples: u32,

    /// Time between two requests to one server (public servers refuse faster than 2 s).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = duration)]
    pub(crate) interval: Duration,

    /// How long to wait for each reply.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    pub(crate) timeout: Duration,

    /// IPv4 addresses only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub(crate) ipv4: bool,

    /// IPv6 addresses only.
    #[arg(short = '6')]
    pub(crate) ipv6: bool,

    /// One JSON object per server on stdout, for scripts.
    #[arg(long)]
    pub(crate) json: bool,
}
