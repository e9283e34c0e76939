//! Durations as users write them: a bare number is seconds; `500ms`, `10s`, `5m`, `48h` work too.

use std::time::Duration;

use crate::Error;

/// Parse a duration: `30` and `1.5` are seconds, anything else goes through humantime
/// (`500ms`, `10s`, `5m`, `1h 30m`, `48h`).
///
/// # Errors
/// [`Error::BadDuration`] for negative, non-finite or unparsable input.
pub fn parse_duration(text: &str) -> Result<Duration, Error> {
    let trimmed = text.trim();
    if let Ok(secs) = trimmed.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|_| Error::BadDuration(text.to_owned()));
    }
    humantime::parse_duration(trimmed).map_err(|_| Error::BadDuration(text.to_owned()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn numbers_are_seconds_and_units_work() {
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("0.25").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(
            parse_duration("48h").unwrap(),
            Duration::from_secs(48 * 3600)
        );
        for bad in ["", "-1", "NaN", "inf", "ten", "5 parsecs"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
