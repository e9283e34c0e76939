//! `prise monitor CONFIG`: every check on its interval until Ctrl-C, or `--once`.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use prise_core::net::announce;

use prise_monitor::{config, run};

use crate::args::MonitorArgs;

pub(crate) async fn run(args: MonitorArgs) -> anyhow::Result<ExitCode> {
    let config = match config::load(&args.checks) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("prise: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if args.once {
        let results = run::once(&config).await;
        let mut out = std::io::stdout().lock();
        let width = results.iter().map(|(c, _)| c.name.len()).max().unwrap_or(4);
        let mut all_up = true;
        for (check, outcome) in &results {
            all_up &= outcome.ok();
            let millis = outcome.seen.response_time.map(|d| d.as_secs_f64() * 1000.0);
            if args.json {
                let line = serde_json::json!({
                    "name": check.name,
                    "url": check.url,
                    "state": outcome.state(),
                    "response_time_ms": millis,
                    "status": outcome.seen.status,
                    "error": outcome.error,
                    "warning": outcome.warning,
                });
                writeln!(out, "{line}")?;
            } else {
                let time = millis.map_or_else(|| "-".to_owned(), |m| format!("{m:.1} ms"));
                let detail = outcome
                    .error
                    .as_deref()
                    .or(outcome.warning.as_deref())
                    .unwrap_or("");
                let line = format!(
                    "{:<width$}  {:<8}  {time:>10}  {detail}",
                    check.name,
                    outcome.state()
                );
                writeln!(out, "{}", line.trim_end())?;
            }
        }
        return Ok(if all_up {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let shutdown = crate::signals::on_shutdown()?;
    let history = if args.no_history {
        None
    } else {
        let path = match args.history {
            Some(path) => path,
            None => dirs::data_dir()
                .context("no data folder for this user; use --history FILE or --no-history")?
                .join("prise")
                .join("monitor-history.sqlite"),
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let history = prise_monitor::history::History::open(&path)
            .with_context(|| format!("opening the history {}", path.display()))?;
        Some(Arc::new(history))
    };
    let board = Arc::new(prise_monitor::board::Board::new(&config.checks));
    let status = match &args.status {
        Some(addr) => {
            let listener = prise_core::net::bind(addr).await?;
            let local = listener
                .local_addr()
                .context("reading the listening address")?;
            announce("monitor", local);
            let server = prise_monitor::status::run(
                listener,
                Arc::clone(&board),
                history.clone(),
                shutdown.clone(),
            );
            Some(tokio::spawn(server))
        }
        None => None,
    };
    println!("monitor watching {} checks", config.checks.len());
    // SIGHUP reads the config again; a broken one is refused and the checks in place go on.
    let reload = Arc::new(tokio::sync::Notify::new());
    let notifier = Arc::clone(&reload);
    crate::signals::on_reload(shutdown.clone(), move || notifier.notify_one())?;
    let sinks = run::Sinks {
        board: Arc::clone(&board),
        history,
    };
    let mut config = config;
    loop {
        let round = shutdown.child_token();
        let mut task = tokio::spawn(run::forever(config.clone(), sinks.clone(), round.clone()));
        let next = loop {
            tokio::select! {
                _ = &mut task => break None,
                () = reload.notified() => match prise_monitor::config::load(&args.checks) {
                    Ok(new) => break Some(new),
                    Err(e) => tracing::error!("config not reloaded: {e}; the checks in place go on"),
                },
            }
        };
        let Some(new) = next else {
            break;
        };
        round.cancel();
        let _ = task.await;
        board.reset(&new.checks);
        tracing::warn!("config reloaded: {} checks", new.checks.len());
        config = new;
    }
    if let Some(status) = status {
        status.await??;
    }
    Ok(ExitCode::SUCCESS)
}
