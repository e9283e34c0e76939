//! What the monitor knows now, for the status page, the JSON API and `/metrics`: each check's
//! state, its last run, counters, and its last runs' times for the chart.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;

use crate::config::Check;
use crate::state::Health;

/// Runs kept per check for the response-time chart.
pub const RECENT: usize = 120;

/// One run, as the chart draws it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Run {
    /// When, Unix seconds.
    pub time: u64,
    /// Milliseconds to the answer.
    pub millis: f64,
    /// Whether it succeeded.
    pub ok: bool,
}

/// One check's status.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The check's name.
    pub name: String,
    /// Its URL.
    pub url: String,
    /// `up`, `degraded` or `down`, or `pending` before its first run.
    pub state: &'static str,
    /// The last run's error, if it failed.
    pub error: Option<String>,
    /// When it last ran, Unix seconds.
    pub last_run: Option<u64>,
    /// Runs so far.
    pub runs: u64,
    /// Failed runs so far.
    pub failed_runs: u64,
    /// The last runs, oldest first.
    pub recent: VecDeque<Run>,
}

/// Every check's status.
#[derive(Debug)]
pub struct Board {
    checks: Mutex<Vec<Status>>,
}

impl Board {
    /// A board for `checks`, all pending.
    pub fn new(checks: &[Check]) -> Self {
        Self {
            checks: Mutex::new(
                checks
                    .iter()
                    .map(|c| Status {
                        name: c.name.clone(),
                        url: c.url.clone(),
                        state: "pending",
                        error: None,
                        last_run: None,
                        runs: 0,
                        failed_runs: 0,
                        recent: VecDeque::new(),
                    })
                    .collect(),
            ),
        }
    }

    /// Take a new list of checks (a reloaded config): a check whose name was there keeps its
    /// status, runs and counters; a new one is pending.
    pub fn reset(&self, checks: &[Check]) {
        let Ok(mut current) = self.checks.lock() else {
            return;
        };
        let fresh = Self::new(checks).snapshot();
        let kept = fresh
            .into_iter()
            .map(
                |new| match current.iter().position(|old| old.name == new.name) {
                    Some(i) => Status {
                        url: new.url,
                        ..current[i].clone()
                    },
                    None => new,
                },
            )
            .collect();
        *current = kept;
    }

    /// Record a run of check `index`, and the state it leaves the check in (`degraded` when
    /// the check is up but this run failed a warning condition).
    pub fn record(
        &self,
        index: usize,
        run: Run,
        error: Option<&str>,
        warning: Option<&str>,
        health: Health,
    ) {
        let Ok(mut checks) = self.checks.lock() else {
            return;
        };
        let Some(status) = checks.get_mut(index) else {
            return;
        };
        status.state = match (health, warning) {
            (Health::Up, Some(_)) => "degraded",
            (health, _) => health.as_str(),
        };
        status.error = error.or(warning).map(str::to_owned);
        status.last_run = Some(run.time);
        status.runs += 1;
        status.failed_runs += u64::from(!run.ok);
        if status.recent.len() == RECENT {
            status.recent.pop_front();
        }
        status.recent.push_back(run);
    }

    /// Whether check `index` is down now.
    pub fn is_down(&self, index: usize) -> bool {
        self.checks
            .lock()
            .is_ok_and(|c| c.get(index).is_some_and(|s| s.state == "down"))
    }

    /// A copy of every check's status.
    pub fn snapshot(&self) -> Vec<Status> {
        self.checks.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

/// Now, Unix seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
