//! Maintenance windows: `"daily 03:00-03:30"`, `"Sun 02:00-04:00"`, `"Mon-Fri 22:00-06:00"`,
//! `"Sat,Sun 00:00-24:00"`, in UTC. During a window checks run and are recorded, but their
//! notices are held back; a check still failing when the window ends is told then.

/// A weekly window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Days it starts on, Monday = 0.
    days: [bool; 7],
    /// Start, minutes after midnight UTC.
    start: u32,
    /// End, minutes after midnight (past 1440 when it crosses midnight).
    end: u32,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Window {
    /// Parse `DAYS HH:MM-HH:MM`.
    ///
    /// # Errors
    /// What does not parse, for the config's error message.
    pub fn parse(text: &str) -> Result<Self, String> {
        let usage = "a maintenance window is DAYS HH:MM-HH:MM in UTC: \"daily 03:00-03:30\", \"Sun 02:00-04:00\", \"Mon-Fri 22:00-06:00\"";
        let (days_text, times) = text
            .trim()
            .split_once(' ')
            .ok_or_else(|| format!("{usage}; found {text:?}"))?;
        let mut days = [false; 7];
        let day = |name: &str| {
            DAYS.iter()
                .position(|d| name.eq_ignore_ascii_case(d))
                .ok_or_else(|| format!("unknown day {name:?}; {usage}"))
        };
        if days_text.eq_ignore_ascii_case("daily") {
            days = [true; 7];
        } else {
            for part in days_text.split(',') {
                match part.split_once('-') {
                    Some((from, to)) => {
                        let (from, to) = (day(from)?, day(to)?);
                        let mut d = from;
                        loop {
                            days[d] = true;
                            if d == to {
                                break;
                            }
                            d = (d + 1) % 7;
                        }
                    }
                    None => days[day(part)?] = true,
                }
            }
        }
        let (from, to) = times
            .trim()
            .split_once('-')
            .ok_or_else(|| format!("{usage}; found {text:?}"))?;
        let minutes = |t: &str| -> Result<u32, String> {
            let (h, m) = t
                .split_once(':')
                .ok_or_else(|| format!("{t:?} is not HH:MM; {usage}"))?;
            let (h, m): (u32, u32) = (
                h.parse().map_err(|_| format!("{t:?} is not HH:MM"))?,
                m.parse().map_err(|_| format!("{t:?} is not HH:MM"))?,
            );
            if h > 24 || m > 59 || (h == 24 && m > 0) {
                return Err(format!("{t:?} is not a time of day"));
            }
            Ok(h * 60 + m)
        };
        let start = minutes(from)?;
        let mut end = minutes(to)?;
        if start == end {
            return Err(format!("{text:?} is empty: it ends when it starts"));
        }
        if end < start {
            end += 24 * 60;
        }
        Ok(Self { days, start, end })
    }

    /// Whether `unix` (seconds) falls in this window.
    pub fn contains(&self, unix: u64) -> bool {
        let day = unix / 86_400;
        let minute = u32::try_from(unix % 86_400 / 60).unwrap_or(0);
        // 1970-01-01 was a Thursday (3, counting Monday as 0).
        let weekday = usize::try_from((day + 3) % 7).unwrap_or(0);
        let yesterday = (weekday + 6) % 7;
        // Today's window, or yesterday's running past midnight.
        (self.days[weekday] && minute >= self.start && minute < self.end)
            || (self.days[yesterday] && self.end > 1440 && minute + 1440 < self.end)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// 2026-11-30 was a Monday.
    fn at(day_offset: u64, hh: u64, mm: u64) -> u64 {
        1_795_996_800 + day_offset * 86_400 + hh * 3600 + mm * 60
    }

    #[test]
    fn windows_by_day_and_time_in_utc() {
        assert_eq!(at(0, 0, 0) / 86_400 % 7, 4, "a Monday: (days + 3) % 7 == 0");
        let daily = Window::parse("daily 03:00-03:30").unwrap();
        assert!(daily.contains(at(2, 3, 10)));
        assert!(!daily.contains(at(2, 3, 30)), "the end is outside");
        let sunday = Window::parse("Sun 02:00-04:00").unwrap();
        assert!(sunday.contains(at(6, 2, 0)));
        assert!(!sunday.contains(at(5, 2, 0)), "a Saturday");
        let nights = Window::parse("Mon-Fri 22:00-06:00").unwrap();
        assert!(nights.contains(at(0, 23, 0)), "Monday night");
        assert!(
            nights.contains(at(1, 5, 59)),
            "Tuesday morning: Monday's window"
        );
        assert!(
            nights.contains(at(5, 5, 0)),
            "Saturday morning: Friday's window"
        );
        assert!(
            !nights.contains(at(6, 5, 0)),
            "Sunday morning: no Saturday window"
        );
        assert!(!nights.contains(at(2, 12, 0)));
        let weekend = Window::parse("sat,SUN 00:00-24:00").unwrap();
        assert!(weekend.contains(at(5, 0, 0)) && weekend.contains(at(6, 23, 59)));
        assert!(!weekend.contains(at(0, 0, 0)));
        for bad in [
            "03:00-04:00",
            "Someday 03:00-04:00",
            "daily 3-4",
            "daily 25:00-26:00",
            "daily 03:00-03:00",
        ] {
            assert!(Window::parse(bad).is_err(), "{bad}");
        }
    }
}
