//! Signals: Ctrl-C (SIGINT) and SIGTERM become one cancellation (servers stop accepting, drain
//! and exit 0); SIGHUP asks a server to reload its configuration.

use prise_core::CancellationToken;

/// A token cancelled on the first SIGINT or SIGTERM. A second signal exits at once, for the
/// impatient operator whose server is draining a stuck client.
pub(crate) fn on_shutdown() -> anyhow::Result<CancellationToken> {
    let token = CancellationToken::new();
    let cancel = token.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            tracing::info!("shutting down; press Ctrl-C again to stop at once");
            cancel.cancel();
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            std::process::exit(130);
        });
    }
    #[cfg(not(unix))]
    {
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        });
    }
    Ok(token)
}

/// Run `reload` on every SIGHUP until `shutdown` is cancelled. Where there is no SIGHUP (not
/// Unix) this does nothing.
pub(crate) fn on_reload(
    shutdown: CancellationToken,
    mut reload: impl FnMut() + Send + 'static,
) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    got = hup.recv() => match got {
                        Some(()) => reload(),
                        None => break,
                    },
                }
            }
        });
    }
    #[cfg(not(unix))]
    {
        let _ = (shutdown, &mut reload);
    }
    Ok(())
}
