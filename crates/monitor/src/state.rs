//! A check's state: up, or down after `failure_threshold` failed runs in a row; up again after
//! `success_threshold` good runs in a row. A check starts up, so a target that is down from the
//! start is reported once the threshold is reached, and a recovery is only announced after a
//! down.

/// Up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Its runs succeed (or have not failed enough yet).
    Up,
    /// It failed `failure_threshold` times in a row.
    Down,
}

impl Health {
    /// `up` or `down`, as reports and notifications say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

/// A change worth telling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The check went down.
    Down,
    /// The check came back up.
    Recovered,
    /// Still down (a reminder).
    Reminder,
}

impl Event {
    /// `down` or `recovered`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Down => "down",
            Self::Recovered => "recovered",
            Self::Reminder => "reminder",
        }
    }
}

/// One check's run of successes and failures.
#[derive(Debug, Clone)]
pub struct Tracker {
    health: Health,
    failures: u32,
    successes: u32,
    failure_threshold: u32,
    success_threshold: u32,
}

impl Tracker {
    /// A check that starts up.
    pub fn new(failure_threshold: u32, success_threshold: u32) -> Self {
        Self {
            health: Health::Up,
            failures: 0,
            successes: 0,
            failure_threshold: failure_threshold.max(1),
            success_threshold: success_threshold.max(1),
        }
    }

    /// A check already down (its config reloaded while it was).
    pub fn down(failure_threshold: u32, success_threshold: u32) -> Self {
        Self {
            health: Health::Down,
            failures: failure_threshold.max(1),
            ..Self::new(failure_threshold, success_threshold)
        }
    }

    /// The current state.
    pub fn health(&self) -> Health {
        self.health
    }

    /// Failed runs in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Count one run; the event when the state changes.
    pub fn observe(&mut self, ok: bool) -> Option<Event> {
        if ok {
            self.failures = 0;
            self.successes = self.successes.saturating_add(1);
            if self.health == Health::Down && self.successes >= self.success_threshold {
                self.health = Health::Up;
                return Some(Event::Recovered);
            }
        } else {
            self.successes = 0;
            self.failures = self.failures.saturating_add(1);
            if self.health == Health::Up && self.failures >= self.failure_threshold {
                self.health = Health::Down;
                return Some(Event::Down);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_decide_and_each_change_is_told_once() {
        let mut t = Tracker::new(3, 2);
        let runs = [
            true, false, false, true, // a blip: never down
            false, false, false, // down on the third
            false, false, // still down: nothing more
            true, false, // one success is not enough
            true, true, // up again on the second in a row
            true,
        ];
        let events: Vec<(usize, Event)> = runs
            .iter()
            .enumerate()
            .filter_map(|(i, &ok)| t.observe(ok).map(|e| (i, e)))
            .collect();
        assert_eq!(events, [(6, Event::Down), (12, Event::Recovered)]);
        assert_eq!(t.health(), Health::Up);
    }
}
