//! Reconnecting with exponential backoff and jitter.
//!
//! The delays come from `backon`'s exponential builder (full jitter, so a crowd of clients that
//! lost the same server do not all come back in the same millisecond). [`retry`] adds what every
//! prise client needs on top: stop at once on shutdown, and report each failure with the wait
//! that follows, so a UI can show a countdown.

use std::future::Future;
use std::time::Duration;

use backon::BackoffBuilder;
use tokio_util::sync::CancellationToken;

/// A backoff policy.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// First delay.
    pub min: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Give up after this many retries; `None` retries forever.
    pub max_retries: Option<usize>,
}

impl Default for Backoff {
    /// 250 ms doubling up to 30 s, forever: right for a chat client that should come back as
    /// soon as the server does without hammering it.
    fn default() -> Self {
        Self {
            min: Duration::from_millis(250),
            max: Duration::from_secs(30),
            max_retries: None,
        }
    }
}

impl Backoff {
    /// The sequence of delays this policy yields, jittered.
    pub fn delays(&self) -> impl Iterator<Item = Duration> + Send {
        let mut builder = backon::ExponentialBuilder::default()
            .with_min_delay(self.min)
            .with_max_delay(self.max)
            .with_factor(2.0)
            .with_jitter();
        builder = match self.max_retries {
            Some(n) => builder.with_max_times(n),
            None => builder.without_max_times(),
        };
        builder.build()
    }
}

/// Run `op` until it succeeds, waiting the policy's delays in between.
///
/// `on_retry` is told each failure and how long we wait before the next try. Returns the last
/// error when the policy gives up, or at once when `shutdown` is cancelled during a wait.
///
/// # Errors
/// The last error of `op`.
///
/// # Cancel safety
/// Dropping the future drops the attempt in flight; nothing is left behind.
pub async fn retry<T, E, F, Fut>(
    backoff: &Backoff,
    shutdown: &CancellationToken,
    mut op: F,
    mut on_retry: impl FnMut(&E, Duration),
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut delays = backoff.delays();
    loop {
        let err = match op().await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        let Some(delay) = delays.next() else {
            return Err(err);
        };
        on_retry(&err, delay);
        tokio::select! {
            () = shutdown.cancelled() => return Err(err),
            () = tokio::time::sleep(delay) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn delays_grow_and_stay_under_the_cap() {
        let policy = Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(2),
            max_retries: Some(8),
        };
        let delays: Vec<Duration> = policy.delays().collect();
        assert_eq!(delays.len(), 8);
        // Jitter adds up to one more base delay, so the cap can be at most doubled.
        assert!(
            delays.iter().all(|d| *d <= Duration::from_secs(4)),
            "{delays:?}"
        );
        assert!(
            delays.last().unwrap() >= &Duration::from_secs(1),
            "{delays:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retry_succeeds_after_failures_and_reports_each_wait() {
        let mut attempts = 0;
        let mut waits = Vec::new();
        let result: Result<u32, &str> = retry(
            &Backoff::default(),
            &CancellationToken::new(),
            || {
                attempts += 1;
                let n = attempts;
                async move {
                    if n < 3 {
                        Err("down")
                    } else {
                        Ok(n)
                    }
                }
            },
            |_, d| waits.push(d),
        )
        .await;
        assert_eq!(result, Ok(3));
        assert_eq!(waits.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_stops_on_shutdown() {
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let result: Result<(), &str> = retry(
            &Backoff::default(),
            &shutdown,
            || async { Err("down") },
            |_, _| {},
        )
        .await;
        assert_eq!(result, Err("down"));
    }
}
