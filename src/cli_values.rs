//! clap value parsers for flags that only the command line sets: clap checks the value before
//! anything runs, and its usage error (exit 2) names the flag and the accepted range:
//! `invalid value '0' for '--connections <N>': must be from 1 to 1000000`. Settings a
//! profile can also hold are checked in `iotchat::config`, which names the key too.

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

/// A whole number from `min` to `max`.
pub fn in_range<T>(min: T, max: T) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr + PartialOrd + Display + Copy + Send + Sync + 'static,
{
    move |text| match text.trim().parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(format!("must be from {min} to {max}")),
    }
}

/// A whole number of at least `min`.
pub fn at_least(min: u64) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync + 'static {
    move |text| match text.trim().parse::<u64>() {
        Ok(n) if n >= min => Ok(n),
        Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => {
            Err(format!("too large: at most {}", u64::MAX))
        }
        _ => Err(format!("must be a whole number, at least {min}")),
    }
}

/// A duration longer than zero, such as `500ms` or `10s`.
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be more than 0, such as 500ms or 10s".into()),
        Err(e) => Err(format!("{e}; write a duration such as 500ms, 2s or 1m")),
    }
}

/// A finite number more than zero.
pub fn positive_number(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err("must be a number more than 0, such as 0.5 or 100".into()),
    }
}

/// Any text but the empty one.
pub fn non_empty(text: &str) -> Result<String, String> {
    if text.is_empty() { Err("must not be empty".into()) } else { Ok(text.to_owned()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_in_and_out_of_range() {
        let connections = in_range(1usize, 10);
        assert_eq!(connections("1"), Ok(1));
        assert_eq!(connections("10"), Ok(10));
        for bad in ["0", "11", "-1", "x", ""] {
            assert_eq!(connections(bad), Err("must be from 1 to 10".into()), "{bad:?}");
        }
        assert_eq!(at_least(1)("7"), Ok(7));
        assert!(at_least(1)("0").is_err_and(|e| e.contains("at least 1")));
        assert!(
            at_least(1)("99999999999999999999999")
                .is_err_and(|e| e.contains("too large: at most 18446744073709551615"))
        );
        assert_eq!(positive_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(positive_duration("0s").is_err_and(|e| e.contains("more than 0")));
        assert!(positive_duration("soon").is_err_and(|e| e.contains("500ms")));
        assert_eq!(positive_number("0.5"), Ok(0.5));
        for bad in ["0", "-1", "NaN", "inf", "fast"] {
            assert!(positive_number(bad).is_err(), "{bad:?}");
        }
        assert!(non_empty("").is_err());
        assert_eq!(non_empty("esp-1"), Ok("esp-1".into()));
    }
}
