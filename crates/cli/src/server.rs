//! What every `prise ... serve` does before its service runs: signals, bind, TLS with its
//! fingerprint line and SIGHUP reload. The `listening on` line is left to the caller, printed
//! once the service is configured, so that it means "ready".

use std::net::SocketAddr;

use anyhow::Context as _;
use prise_core::net::bind;
use prise_core::tls::ServerTls;
use prise_core::CancellationToken;
use tokio::net::TcpListener;

use crate::args::{Cli, ServerTlsArgs};

/// A bound listener and what goes with it.
pub(crate) struct Started {
    pub(crate) shutdown: CancellationToken,
    pub(crate) listener: TcpListener,
    pub(crate) local: SocketAddr,
    pub(crate) tls: Option<ServerTls>,
}

/// Map signals, bind `listen`, set up TLS for service `name` (printing the fingerprint), and
/// reload the certificate on SIGHUP; `pick` finds this service's TLS flags in a re-read
/// command line.
pub(crate) async fn start(
    name: &str,
    listen: &str,
    tls_args: &ServerTlsArgs,
    pick: fn(Cli) -> Option<ServerTlsArgs>,
) -> anyhow::Result<Started> {
    let shutdown = crate::signals::on_shutdown()?;
    let listener = bind(listen).await?;
    let local = listener
        .local_addr()
        .context("reading the listening address")?;
    let tls = crate::tls::server(tls_args, Some(local.ip()))?;
    if let Some(tls) = &tls {
        crate::tls::announce_fingerprint(name, tls, tls_args.tls_self_signed);
    }
    crate::tls::reload_on_hangup(&shutdown, tls.as_ref(), tls_args, pick)?;
    Ok(Started {
        shutdown,
        listener,
        local,
        tls,
    })
}
