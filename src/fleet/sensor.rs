//! A plausible sensor node's readings: temperature and humidity that wander, a counter, a door
//! that opens now and then. Pure: the random source is seeded per device, the timestamp is
//! passed in.

use std::fmt::Write;

/// Where the temperature wanders around, °C.
const TEMP_CENTRE: f64 = 21.0;
/// Largest temperature step per reading, °C.
const TEMP_STEP: f64 = 0.1;
/// How strongly the temperature is pulled back toward the centre at each reading.
const TEMP_PULL: f64 = 0.05;
/// Humidity stays within this band, %.
const HUM_RANGE: (f64, f64) = (30.0, 70.0);
/// Largest humidity step per reading, %.
const HUM_STEP: f64 = 0.5;
/// Chance that the door changes state at a reading.
const DOOR_FLIP: f64 = 0.02;

/// One device's simulated sensors.
#[derive(Debug, Clone)]
pub struct Sensor {
    rng: fastrand::Rng,
    temp: f64,
    hum: f64,
    count: u64,
    door_open: bool,
}

impl Sensor {
    /// Sensors whose readings follow from `seed`: two devices with one seed read alike.
    pub fn new(seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let temp = TEMP_CENTRE + (rng.f64() - 0.5) * 2.0;
        let hum = HUM_RANGE.0 + rng.f64() * (HUM_RANGE.1 - HUM_RANGE.0);
        Self { rng, temp, hum, count: 0, door_open: false }
    }

    /// Takes the next reading, stamped `ts` (unix ms), as its line without LF:
    /// `temp=21.37 hum=40.2 count=7 door=closed ts=1763900000000`.
    pub fn read(&mut self, ts: i64) -> String {
        let step = |rng: &mut fastrand::Rng, max: f64| (rng.f64() * 2.0 - 1.0) * max;
        self.temp += (TEMP_CENTRE - self.temp) * TEMP_PULL + step(&mut self.rng, TEMP_STEP);
        self.hum = (self.hum + step(&mut self.rng, HUM_STEP)).clamp(HUM_RANGE.0, HUM_RANGE.1);
        self.count += 1;
        if self.rng.f64() < DOOR_FLIP {
            self.door_open = !self.door_open;
        }
        let door = if self.door_open { "open" } else { "closed" };
        let mut line = String::with_capacity(64);
        // Writing to a String cannot fail.
        let _ = write!(
            line,
            "temp={:.2} hum={:.1} count={} door={door} ts={ts}",
            self.temp, self.hum, self.count
        );
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<'a>(line: &'a str, key: &str) -> &'a str {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
            .unwrap_or_else(|| panic!("{key} in {line}"))
    }

    #[test]
    fn a_reading_has_the_documented_shape() {
        let line = Sensor::new(7).read(1_763_900_000_000);
        let keys: Vec<_> = line.split(' ').map(|kv| kv.split_once('=').expect("key=value").0).collect();
        assert_eq!(keys, ["temp", "hum", "count", "door", "ts"], "{line}");
        assert_eq!(field(&line, "temp").split_once('.').expect("decimals").1.len(), 2, "{line}");
        assert_eq!(field(&line, "hum").split_once('.').expect("decimals").1.len(), 1, "{line}");
        assert_eq!(field(&line, "count"), "1");
        assert_eq!(field(&line, "ts"), "1763900000000");
        assert!(line.is_ascii());
    }

    #[test]
    fn values_stay_plausible_over_a_long_run() {
        let mut s = Sensor::new(42);
        let mut flips = 0;
        let mut last_door = "closed".to_owned();
        for i in 1..=100_000u64 {
            let line = s.read(0);
            let temp: f64 = field(&line, "temp").parse().expect("number");
            let hum: f64 = field(&line, "hum").parse().expect("number");
            assert!((15.0..=27.0).contains(&temp), "{line}");
            assert!((30.0..=70.0).contains(&hum), "{line}");
            assert_eq!(field(&line, "count"), i.to_string());
            let door = field(&line, "door");
            assert!(door == "open" || door == "closed");
            if door != last_door {
                flips += 1;
                last_door = door.to_owned();
            }
        }
        assert!((500..=4000).contains(&flips), "the door flips rarely but does flip: {flips}");
    }

    #[test]
    fn one_seed_gives_one_sequence() {
        let (mut a, mut b, mut c) = (Sensor::new(1), Sensor::new(1), Sensor::new(2));
        let run = |s: &mut Sensor| (0..20).map(|_| s.read(5)).collect::<Vec<_>>();
        assert_eq!(run(&mut a), run(&mut b));
        assert_ne!(run(&mut a), run(&mut c));
    }
}
