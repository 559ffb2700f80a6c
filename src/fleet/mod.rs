//! Simulated ESP8266 sensor nodes, sans-IO: the sensor model ([`sensor`]), one device's state
//! machine ([`device`]: buffer, in-flight replies, resends, reconnect schedule), the answers
//! to the server's RPC requests ([`rpc`]) and the fleet-wide counters ([`stats`]). `client::fake_device` drives them over real sockets; the
//! firmware implements the same machine in C++.

pub mod device;
mod flight;
pub mod health;
pub mod rpc;
pub mod sensor;
pub mod stats;

use std::time::Duration;

/// When device `index` (from 0) of `count` starts, after the fleet's start: evenly spread over
/// the first interval, so that a large fleet neither connects nor reads all at once.
pub fn start_offset(index: usize, count: usize, interval: Duration) -> Duration {
    let count = count.max(1) as u128;
    let nanos = interval.as_nanos() * (index as u128 % count) / count;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// A well-mixed seed for device `index` of a run seeded with `run_seed` (SplitMix64), so that
/// neighbouring devices do not walk alike.
pub fn device_seed(run_seed: u64, index: usize) -> u64 {
    let mut z = run_seed.wrapping_add((index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_are_spread_over_one_interval() {
        let interval = Duration::from_secs(1);
        let offsets: Vec<_> = (0..4).map(|i| start_offset(i, 4, interval)).collect();
        assert_eq!(offsets, [0, 250, 500, 750].map(Duration::from_millis));
        assert!(start_offset(9_999, 10_000, interval) < interval);
    }

    #[test]
    fn seeds_differ_between_devices_and_runs() {
        assert_ne!(device_seed(1, 0), device_seed(1, 1));
        assert_ne!(device_seed(1, 0), device_seed(2, 0));
        assert_eq!(device_seed(3, 7), device_seed(3, 7));
    }
}
