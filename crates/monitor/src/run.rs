//! Running checks: each on its own interval until shutdown, notifying on state changes; or
//! every check once (`--once`).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::check::{self, Outcome};
use crate::config::{Check, Config, Notifier};
use crate::notify::{self, Notice};
use crate::state::{Event, Health, Tracker};

/// Every check once, at the same time; the outcomes in the config's order.
pub async fn once(config: &Config) -> Vec<(Check, Outcome)> {
    let runs = config
        .checks
        .iter()
        .map(|c| async move { (c.clone(), check::run(c).await) });
    futures_util::future::join_all(runs).await
}

/// Run every check on its interval until `shutdown`; state changes are logged and notified.
pub async fn forever(config: Config, shutdown: CancellationToken) {
    let notifiers = Arc::new(config.notifiers);
    let mut tasks = tokio::task::JoinSet::new();
    for check in config.checks {
        let notifiers = Arc::clone(&notifiers);
        let shutdown = shutdown.clone();
        tasks.spawn(async move { watch(check, &notifiers, shutdown).await });
    }
    while tasks.join_next().await.is_some() {}
}

async fn watch(check: Check, notifiers: &[Notifier], shutdown: CancellationToken) {
    let mut tracker = Tracker::new(check.failure_threshold, check.success_threshold);
    let mut ticks = tokio::time::interval(check.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_error = String::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let outcome = tokio::select! {
            () = shutdown.cancelled() => return,
            outcome = check::run(&check) => outcome,
        };
        if let Some(error) = &outcome.error {
            last_error.clone_from(error);
            tracing::debug!(check = %check.name, "failed: {error}");
        }
        let failures = tracker.failures() + u32::from(!outcome.ok());
        let Some(event) = tracker.observe(outcome.ok()) else {
            continue;
        };
        match event {
            Event::Down => {
                tracing::warn!(check = %check.name, "down after {failures} failed runs: {last_error}")
            }
            Event::Recovered => tracing::warn!(check = %check.name, "up again"),
        }
        let notice = Notice::new(
            &check.name,
            &check.url,
            event,
            if event == Event::Down {
                &last_error
            } else {
                ""
            },
            failures,
        );
        for notifier in notifiers
            .iter()
            .filter(|n| check.notify.is_empty() || check.notify.contains(&n.name))
        {
            let notifier = notifier.clone();
            let notice = notice.clone();
            tokio::spawn(async move { notify::send(&notifier, &notice).await });
        }
    }
}

/// `up` or `down` for a single run.
pub fn health_of(outcome: &Outcome) -> Health {
    if outcome.ok() {
        Health::Up
    } else {
        Health::Down
    }
}
