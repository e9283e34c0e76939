//! Running checks: each on its own interval until shutdown, notifying on state changes; or
//! every check once (`--once`).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::board::{now, Board, Run};
use crate::check::{self, Outcome};
use crate::config::{Check, Config, Notifier};
use crate::history::History;
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

/// Where results go besides the notifiers.
#[derive(Debug, Clone)]
pub struct Sinks {
    /// The live status (for the status server).
    pub board: Arc<Board>,
    /// The history database, if kept.
    pub history: Option<Arc<History>>,
}

/// Run every check on its interval until `shutdown`; state changes are logged and notified,
/// every run goes to the board and the history.
pub async fn forever(config: Config, sinks: Sinks, shutdown: CancellationToken) {
    let notifiers = Arc::new(config.notifiers);
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(history) = sinks.history.clone() {
        // Runs older than 30 days go, once an hour.
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            let mut hourly = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = hourly.tick() => {}
                }
                let history = Arc::clone(&history);
                let _ = tokio::task::spawn_blocking(move || history.prune(now())).await;
            }
        });
    }
    for (index, check) in config.checks.into_iter().enumerate() {
        let notifiers = Arc::clone(&notifiers);
        let shutdown = shutdown.clone();
        let sinks = sinks.clone();
        tasks.spawn(async move { watch(index, check, &notifiers, &sinks, shutdown).await });
    }
    while tasks.join_next().await.is_some() {}
}

async fn watch(
    index: usize,
    check: Check,
    notifiers: &[Notifier],
    sinks: &Sinks,
    shutdown: CancellationToken,
) {
    // A check that was down before a reload stays down (and its down was told): no second
    // down notice for the same outage.
    let was_down = sinks.board.is_down(index);
    let mut tracker = if was_down {
        Tracker::down(check.failure_threshold, check.success_threshold)
    } else {
        Tracker::new(check.failure_threshold, check.success_threshold)
    };
    // Checks start spread over their interval, as Prometheus spreads its scrapes: a thousand
    // checks do not hit their servers (and this process) in the same instant every round.
    let spread = check.interval.mul_f64(fastrand::f64());
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + spread, check.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_error = String::new();
    // Whether the current down was told (a held-back down gets no recovery notice either), and
    // when the last notice went out (for reminders).
    let mut told_down = was_down;
    let mut last_notice = was_down.then(std::time::Instant::now);
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
        let run_time = now();
        let failures = tracker.failures() + u32::from(!outcome.ok());
        let event = tracker.observe(outcome.ok());
        let run = Run {
            time: run_time,
            millis: outcome
                .seen
                .response_time
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            ok: outcome.ok(),
        };
        sinks.board.record(
            index,
            run,
            outcome.error.as_deref(),
            outcome.warning.as_deref(),
            tracker.health(),
        );
        if let Some(history) = sinks.history.clone() {
            let name = check.name.clone();
            let error = outcome.error.clone();
            let incident = event.map(|e| (e.as_str(), last_error.clone()));
            tokio::task::spawn_blocking(move || {
                history.run(&name, run.time, run.ok, run.millis, error.as_deref());
                if let Some((event, error)) = incident {
                    let error = if event == "down" {
                        error
                    } else {
                        String::new()
                    };
                    history.incident(&name, run.time, event, &error);
                }
            });
        }
        // A down held back while the check it depends on was down is told once that one is up
        // and this one still fails.
        let in_maintenance = check.maintenance.iter().any(|w| w.contains(run_time));
        let parent_down = check.depends_on.is_some_and(|p| sinks.board.is_down(p));
        let held_back = tracker.health() == Health::Down
            && !outcome.ok()
            && !told_down
            && (check.depends_on.is_some() || !check.maintenance.is_empty())
            && !parent_down
            && !in_maintenance;
        let event = event.or_else(|| held_back.then_some(Event::Down));
        // While down, a reminder every `reminder`, counted from the last notice.
        let event = event.or_else(|| {
            let due = tracker.health() == Health::Down
                && check
                    .reminder
                    .zip(last_notice)
                    .is_some_and(|(every, at)| at.elapsed() >= every);
            due.then_some(Event::Reminder)
        });
        let Some(event) = event else {
            continue;
        };
        match event {
            Event::Down => {
                tracing::warn!(check = %check.name, "down after {failures} failed runs: {last_error}");
            }
            Event::Recovered => tracing::warn!(check = %check.name, "up again"),
            Event::Reminder => tracing::warn!(check = %check.name, "still down: {last_error}"),
        }
        // A recovery is told only to those who were told of the down.
        if event == Event::Recovered && !told_down {
            last_notice = None;
            continue;
        }
        if event == Event::Down && parent_down {
            tracing::warn!(check = %check.name, "not notified: the check it depends on is down");
            continue;
        }
        if event != Event::Recovered && in_maintenance {
            tracing::warn!(check = %check.name, "not notified: in a maintenance window");
            continue;
        }
        let notice = Notice::new(
            &check.name,
            &check.url,
            event,
            if event == Event::Recovered {
                ""
            } else {
                &last_error
            },
            failures,
        );
        told_down = event != Event::Recovered;
        last_notice = (event != Event::Recovered).then(std::time::Instant::now);
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
