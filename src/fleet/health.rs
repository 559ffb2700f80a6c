//! A simulated device's health report, sans-IO: when a `HEALTH` line is due (at each
//! greeting, then every interval; time passed in) and plausible values for it, as the
//! firmware reports (Wi-Fi RSSI, free heap and its fragmentation, uptime since it booted,
//! reset reason, firmware version). JSON, as the reset reason has a space.

use std::time::{Duration, Instant};

/// The firmware version a simulated device reports unless told otherwise: this build's.
pub const FW: &str = env!("CARGO_PKG_VERSION");

/// When to report, and the values' random walk.
#[derive(Debug)]
pub struct Health {
    every: Option<Duration>,
    next_at: Option<Instant>,
    booted: Instant,
    rng: fastrand::Rng,
    rssi: i64,
    /// The firmware version it runs.
    fw: String,
}

impl Health {
    /// Reports every `every` (`None`: never) from a device that booted at `booted`.
    pub fn new(every: Option<Duration>, seed: u64, booted: Instant) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let rssi = rng.i64(-78..=-52);
        Self { every: every.filter(|d| !d.is_zero()), next_at: None, booted, rng, rssi, fw: FW.to_owned() }
    }

    /// The firmware version it runs (after an update: the new one, reported from the next report).
    pub fn set_fw(&mut self, fw: &str) {
        self.fw = fw.to_owned();
    }

    /// The firmware version it runs.
    pub fn fw(&self) -> &str {
        &self.fw
    }

    /// The server greeted the device: a report is due now (then every interval).
    pub fn handle_greeted(&mut self, now: Instant) {
        if self.every.is_some() {
            self.next_at = Some(now);
        }
    }

    /// When the next report is due, if reporting.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_at
    }

    /// The report's line (without LF) if one is due at `now`; the next is one interval later.
    pub fn poll_line(&mut self, now: Instant) -> Option<String> {
        let every = self.every?;
        self.next_at.filter(|at| *at <= now)?;
        self.next_at = Some(now + every);
        Some(self.line(now))
    }

    fn line(&mut self, now: Instant) -> String {
        self.rssi = (self.rssi + self.rng.i64(-3..=3)).clamp(-90, -40);
        let heap = self.rng.u32(26_000..=36_000);
        let frag = self.rng.u8(3..=25);
        let uptime = now.saturating_duration_since(self.booted).as_secs();
        format!(
            r#"HEALTH {{"rssi":{},"heap":{heap},"frag":{frag},"uptime":{uptime},"reset":"Power On","fw":"{}"}}"#,
            self.rssi, self.fw
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::reading::{Meaning, Value, classify};

    #[test]
    fn a_report_is_due_at_each_greeting_then_every_interval() {
        let t0 = Instant::now();
        let mut h = Health::new(Some(Duration::from_secs(300)), 7, t0);
        assert_eq!((h.poll_timeout(), h.poll_line(t0)), (None, None), "nothing before a greeting");
        let greeted = t0 + Duration::from_secs(2);
        h.handle_greeted(greeted);
        assert_eq!(h.poll_timeout(), Some(greeted));
        assert!(h.poll_line(greeted).is_some());
        assert!(h.poll_line(greeted + Duration::from_secs(299)).is_none());
        assert_eq!(h.poll_timeout(), Some(greeted + Duration::from_secs(300)));
        assert!(h.poll_line(greeted + Duration::from_secs(300)).is_some());
        h.handle_greeted(greeted + Duration::from_secs(301)); // a reconnect reports at once
        assert!(h.poll_line(greeted + Duration::from_secs(301)).is_some());
    }

    #[test]
    fn an_interval_of_zero_or_none_never_reports() {
        let t0 = Instant::now();
        for every in [None, Some(Duration::ZERO)] {
            let mut h = Health::new(every, 1, t0);
            h.handle_greeted(t0);
            assert_eq!((h.poll_timeout(), h.poll_line(t0)), (None, None));
        }
    }

    #[test]
    fn the_line_is_plausible_attributes_the_server_reads() {
        let t0 = Instant::now();
        let mut h = Health::new(Some(Duration::from_secs(60)), 3, t0);
        h.handle_greeted(t0 + Duration::from_secs(3600));
        let line = h.poll_line(t0 + Duration::from_secs(3600)).expect("due");
        let Ok(Meaning::Attributes(values)) = classify(&line) else { panic!("not attributes: {line}") };
        let get = |k: &str| values.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        assert_eq!(get("uptime"), Some(Value::Int(3600)));
        assert_eq!(get("reset"), Some(Value::Text("Power On".into())));
        assert_eq!(get("fw"), Some(Value::Text(FW.into())));
        assert!(matches!(get("rssi"), Some(Value::Int(r)) if (-90..=-40).contains(&r)), "{line}");
        assert!(matches!(get("heap"), Some(Value::Int(h)) if (26_000..=36_000).contains(&h)), "{line}");
        assert!(matches!(get("frag"), Some(Value::Int(f)) if (0..=100).contains(&f)), "{line}");
    }
}
