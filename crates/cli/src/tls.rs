//! TLS flags into prise-core configurations.

use anyhow::Context as _;
use prise_core::tls::{ClientTls, ServerTls, Verify};

use crate::args::{ClientTlsArgs, ServerTlsArgs};

/// The server's TLS config, or `None` for plain TCP. A self-signed certificate also names the
/// listen address when it is a specific IP.
pub(crate) fn server(
    args: &ServerTlsArgs,
    listen_ip: Option<std::net::IpAddr>,
) -> anyhow::Result<Option<ServerTls>> {
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        return Ok(Some(ServerTls::from_pem_files(cert, key)?));
    }
    if args.tls_self_signed {
        let mut names = ServerTls::default_self_signed_names();
        if let Some(ip) = listen_ip.filter(|ip| !ip.is_unspecified()) {
            let ip = ip.to_string();
            if !names.contains(&ip) {
                names.push(ip);
            }
        }
        return Ok(Some(
            ServerTls::self_signed(&names).context("--tls-self-signed")?,
        ));
    }
    Ok(None)
}

/// Print what a client needs to trust this server: the fingerprint on stdout (scripts read it),
/// a hint on stderr.
pub(crate) fn announce_fingerprint(service: &str, tls: &ServerTls, self_signed: bool) {
    let fingerprint = tls.fingerprint();
    let mut out = std::io::stdout().lock();
    let _ = std::io::Write::write_fmt(
        &mut out,
        format_args!("{service} certificate {fingerprint}\n"),
    );
    let _ = std::io::Write::flush(&mut out);
    if self_signed {
        eprintln!(
            "prise: self-signed certificate; clients can pin it with --fingerprint {fingerprint}"
        );
    }
}

/// The client's TLS config, or `None` for plain TCP.
pub(crate) fn client(args: &ClientTlsArgs) -> anyhow::Result<Option<ClientTls>> {
    client_with(args, None)
}

/// As [`client`], presenting the certificate and key in the PEM files of `identity`.
pub(crate) fn client_with(
    args: &ClientTlsArgs,
    identity: Option<(&std::path::Path, &std::path::Path)>,
) -> anyhow::Result<Option<ClientTls>> {
    let verify = if args.insecure {
        eprintln!(
            "prise: warning: --insecure: the server's certificate is not checked; \
             anyone on the path can read and change this connection"
        );
        Verify::Insecure
    } else if let Some(fingerprint) = args.fingerprint {
        Verify::Pinned(fingerprint)
    } else if let Some(ca) = &args.ca {
        Verify::CaFile(ca.clone())
    } else if args.tls {
        Verify::SystemRoots
    } else if identity.is_some() {
        anyhow::bail!(
            "--cert is a TLS client certificate: add --tls, --ca, --fingerprint or --insecure"
        );
    } else {
        return Ok(None);
    };
    Ok(Some(match identity {
        Some((cert, key)) => ClientTls::with_certificate(verify, cert, key)?,
        None => ClientTls::new(verify)?,
    }))
}

/// On SIGHUP, read the command line and config file again and present the certificate they
/// name now, without dropping anyone (certificate renewal). Only for certificates from files;
/// on any error the running certificate stays. `pick` finds this service's TLS flags in the
/// re-read command line.
pub(crate) fn reload_on_hangup(
    shutdown: &prise_core::CancellationToken,
    running: Option<&ServerTls>,
    args: &ServerTlsArgs,
    pick: fn(crate::args::Cli) -> Option<ServerTlsArgs>,
) -> anyhow::Result<()> {
    let Some(running) = running.filter(|_| args.tls_cert.is_some()).cloned() else {
        return Ok(());
    };
    crate::signals::on_reload(shutdown.clone(), move || {
        let reloaded = crate::reparse_arguments().and_then(|cli| match pick(cli) {
            Some(args) => server(&args, None),
            None => anyhow::bail!("the command changed"),
        });
        match reloaded {
            Ok(Some(new)) => {
                running.reload_from(&new);
                tracing::warn!(
                    fingerprint = %new.fingerprint(),
                    "reloaded the TLS certificate; other settings apply after a restart"
                );
            }
            Ok(None) => tracing::error!(
                "reload: the configuration no longer names a certificate; keeping the current one"
            ),
            Err(e) => tracing::error!("reload failed, keeping the current certificate: {e:#}"),
        }
    })
}
