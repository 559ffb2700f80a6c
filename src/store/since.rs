//! A query's "since", as people write it: a duration ago (`10m`, `2h`) or a time
//! (`2026-11-23T10:00:00Z`), as the unix milliseconds the store compares. One parser for
//! `iotchat readings --since` and `GET /api/readings?since=`; its error names neither, each
//! caller says which of its names held the value.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a "since" may be, for messages: the caller puts its own name in front.
pub const SINCE_EXPECTED: &str = "a duration ago such as 10m or 2h, or a time such as 2026-11-23T10:00:00Z";

/// A "since" that is neither a duration nor a time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not {SINCE_EXPECTED}")]
pub struct SinceError {
    /// The text as given.
    pub value: String,
}

/// `text` as unix milliseconds: a duration before `now`, or an RFC 3339 time (the `T` and the
/// zone may be left out: UTC).
pub fn parse_since(text: &str, now: SystemTime) -> Result<i64, SinceError> {
    let trimmed = text.trim();
    let when = match humantime::parse_duration(trimmed) {
        // Before the epoch is fine (it selects everything); beyond SystemTime's range too.
        Ok(ago) => now.checked_sub(ago).unwrap_or(UNIX_EPOCH - Duration::from_secs(1)),
        Err(_) => {
            humantime::parse_rfc3339_weak(trimmed).map_err(|_| SinceError { value: text.to_owned() })?
        }
    };
    Ok(unix_ms(when))
}

/// `time` as unix milliseconds, negative before 1970, saturating.
pub fn unix_ms(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_duration_ago_or_a_time() {
        let now = UNIX_EPOCH + Duration::from_secs(10_000);
        assert_eq!(parse_since("10m", now), Ok(9_400_000));
        assert_eq!(parse_since(" 10m ", now), Ok(9_400_000));
        assert_eq!(parse_since("1970-01-01T00:00:05Z", now), Ok(5_000));
        assert_eq!(parse_since("1970-01-01 00:00:05", now), Ok(5_000));
        assert!(parse_since("1000h", now).is_ok_and(|ms| ms < 0), "before the epoch");
        let error = parse_since("yesterday", now).expect_err("unparseable");
        assert_eq!(error.value, "yesterday");
        assert!(error.to_string().contains("10m"), "{error}");
    }

    #[test]
    fn unix_ms_saturates_and_goes_below_zero() {
        assert_eq!(unix_ms(UNIX_EPOCH + Duration::from_millis(1_500)), 1_500);
        assert_eq!(unix_ms(UNIX_EPOCH - Duration::from_millis(1_500)), -1_500);
    }
}
