//! ThingsBoard's session and rate limits, as a budget the bridge asks before each publish:
//! "may I publish a message carrying N data points now, and if not, when?". Sans-IO: no
//! tokio, no clock; `now` is passed in.
//!
//! Limits are windows `capacity:seconds[,capacity:seconds...]` (`"10:1,300:60"`: 10 per second
//! and 300 per minute). ThingsBoard checks them with `TbRateLimits`, a bucket4j bucket with
//! one bandwidth per window (`Bandwidth.simple(capacity, Duration.ofSeconds(seconds))` in older
//! releases, `refillGreedy(capacity, ofSeconds(seconds))` unless `refillIntervally` in newer
//! ones): each bucket starts full and refills *greedily*, i.e. continuously, `capacity /
//! seconds` tokens per second (10:1 gives a token back every 100 ms), never above capacity.
//! A publish is refused (QUOTA_EXCEEDED, and the session is closed) unless every bucket has
//! the tokens, and bucket4j never lets a consume larger than a bucket's capacity through.
//!
//! Like the official Python client (`tb_device_mqtt.py`, which paces at 80% of the announced
//! limits), each of our buckets is 80% of ThingsBoard's: capacity and refill both ([`MARGIN`]),
//! so our clock and ThingsBoard's may drift and a PUBACK-less retransmission may count twice
//! without closing the session. A 10:1 window lets 8 through at once, then one every 125 ms.
//!
//! A message costs one message token in every message window, and its data points in every
//! data-point window: for the gateway (all it publishes: telemetry, connect, disconnect,
//! attributes, RPC replies, its own RPC requests), and for each device it names. A message
//! bigger than a whole bucket (more data points than 80% of the smallest data-point window)
//! is let through alone once that bucket is full, leaving the bucket in debt that later
//! messages wait out; the bridge avoids it by packing at most
//! [`Budget::max_points_per_message`] points per publish, since ThingsBoard itself would
//! refuse a message over its own capacity.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The share of each announced limit we use, as the official Python client does.
pub const MARGIN: f64 = 0.8;
/// Device buckets kept before full (idle) ones are forgotten.
const DEVICES_KEPT: usize = 1024;
/// Rounding slack, in tokens.
const EPSILON: f64 = 1e-6;

/// A rate-limit string that is not `capacity:seconds[,...]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    /// A window is not two numbers around a colon.
    #[error("rate limit \"{value}\": \"{window}\" is not capacity:seconds (e.g. 10:1,300:60)")]
    Window {
        /// The whole string.
        value: String,
        /// The window at fault.
        window: String,
    },
    /// A capacity or a period of 0.
    #[error("rate limit \"{value}\": \"{window}\" has a capacity or period of 0; both must be at least 1")]
    Zero {
        /// The whole string.
        value: String,
        /// The window at fault.
        window: String,
    },
    /// A `getSessionLimits` answer that is not the expected JSON.
    #[error("getSessionLimits answer is not {{\"maxPayloadSize\":..,\"rateLimits\":{{..}}}}: {0}")]
    Answer(String),
}

/// One window: at most `capacity` per `seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Tokens when full.
    pub capacity: u64,
    /// Seconds to refill from empty.
    pub seconds: u64,
}

/// The windows of one limit; none means unlimited (ThingsBoard sends `""` for a limit that is
/// off).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Windows(pub Vec<Window>);

impl FromStr for Windows {
    type Err = LimitsError;

    fn from_str(value: &str) -> Result<Self, LimitsError> {
        let mut windows = Vec::new();
        for window in value.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let err = || LimitsError::Window { value: value.to_owned(), window: window.to_owned() };
            let (capacity, seconds) = window.split_once(':').ok_or_else(err)?;
            let capacity: u64 = capacity.trim().parse().map_err(|_| err())?;
            let seconds: u64 = seconds.trim().parse().map_err(|_| err())?;
            if capacity == 0 || seconds == 0 {
                return Err(LimitsError::Zero { value: value.to_owned(), window: window.to_owned() });
            }
            windows.push(Window { capacity, seconds });
        }
        Ok(Self(windows))
    }
}

/// The limits of one scope (the gateway, or one device behind it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// Messages of any kind.
    pub messages: Windows,
    /// Data points (one key's value each).
    pub data_points: Windows,
}

/// Everything a session must keep to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionLimits {
    /// For all the gateway publishes.
    pub gateway: RateLimits,
    /// For each device, over the messages that name it.
    pub device: RateLimits,
    /// Largest payload, bytes (none: the caller's default).
    pub max_payload: Option<usize>,
    /// Most publishes awaiting their PUBACK (none: no bound of ours).
    pub max_in_flight: Option<usize>,
}

/// The message limit assumed for a gateway closed while it knew of none: ThingsBoard Cloud's
/// strictest default, 10 messages a second.
pub const FALLBACK_MESSAGES: Window = Window { capacity: 10, seconds: 1 };

impl SessionLimits {
    /// The same limits `divisor` times slower (after ThingsBoard closed sessions kept to
    /// these): every window's capacity divided, its seconds kept; a window left with less than
    /// one token keeps one and takes longer instead. A gateway with no message limit that is
    /// slowed at all was closed while unlimited (a ThingsBoard that never answered
    /// `getSessionLimits`, and no limits in the profile): it starts from [`FALLBACK_MESSAGES`],
    /// ThingsBoard Cloud's strictest default, else it would burst and be closed for ever.
    pub fn slowed(mut self, divisor: u64) -> Self {
        let divisor = divisor.max(1);
        if divisor > 1 && self.gateway.messages.0.is_empty() {
            self.gateway.messages = Windows(vec![FALLBACK_MESSAGES]);
        }
        let slow = |windows: &mut Windows| {
            for w in &mut windows.0 {
                *w = if w.capacity >= divisor {
                    Window { capacity: w.capacity / divisor, seconds: w.seconds }
                } else {
                    Window { capacity: 1, seconds: w.seconds * divisor.div_ceil(w.capacity) }
                };
            }
        };
        for scope in [&mut self.gateway, &mut self.device] {
            slow(&mut scope.messages);
            slow(&mut scope.data_points);
        }
        self
    }

    /// Reads ThingsBoard's answer to `getSessionLimits`:
    /// `{"maxPayloadSize":N,"maxInflightMessages":N,"rateLimits":{"messages":"..",
    /// "telemetryMessages":"..","telemetryDataPoints":".."},"gatewayRateLimits":{..}}`. As the
    /// official Python gateway client does, `gatewayRateLimits` (else `rateLimits`) rules what a
    /// gateway publishes; `telemetryMessages` is applied to every message (stricter, simpler).
    /// The answer names no per-device limits: `device` stays as given.
    pub fn with_answer(mut self, payload: &[u8]) -> Result<Self, LimitsError> {
        let answer: Answer =
            serde_json::from_slice(payload).map_err(|e| LimitsError::Answer(e.to_string()))?;
        if let Some(given) = answer.gateway_rate_limits.or(answer.rate_limits) {
            let mut messages: Windows = given.messages.parse()?;
            messages.0.extend(given.telemetry_messages.parse::<Windows>()?.0);
            self.gateway = RateLimits { messages, data_points: given.telemetry_data_points.parse()? };
        }
        let positive =
            |n: Option<u64>| n.filter(|n| *n > 0).map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        self.max_payload = positive(answer.max_payload_size).or(self.max_payload);
        self.max_in_flight = positive(answer.max_inflight_messages).or(self.max_in_flight);
        Ok(self)
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    max_payload_size: Option<u64>,
    max_inflight_messages: Option<u64>,
    rate_limits: Option<AnswerLimits>,
    gateway_rate_limits: Option<AnswerLimits>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnswerLimits {
    #[serde(default)]
    messages: String,
    #[serde(default)]
    telemetry_messages: String,
    #[serde(default)]
    telemetry_data_points: String,
}

/// What one publish costs: the gateway's message and data points, and each named device's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cost {
    /// Data points it carries in all.
    pub points: u64,
    /// The devices it names, with their data points (a connect names one device, 0 points).
    pub devices: BTreeMap<String, u64>,
}

impl Cost {
    /// A message for the gateway alone, without data points (e.g. its own RPC request).
    pub fn message() -> Self {
        Self::default()
    }

    /// A message about one device, without data points (connect, disconnect, RPC reply).
    pub fn for_device(device: &str) -> Self {
        Self { points: 0, devices: [(device.to_owned(), 0)].into() }
    }

    /// Telemetry with these data points per device.
    pub fn telemetry(devices: BTreeMap<String, u64>) -> Self {
        Self { points: devices.values().sum(), devices }
    }
}

#[path = "limits_budget.rs"]
mod budget;
pub use budget::Budget;

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;

/// Seconds as a `Duration`, rounded up to the microsecond so a wait is never a hair short.
fn secs(seconds: f64) -> Duration {
    Duration::from_micros((seconds.max(0.0) * 1e6).ceil() as u64)
}

/// One bucket at [`MARGIN`] of a window.
#[derive(Debug, Clone)]
struct Bucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(window: Window, now: Instant) -> Self {
        let capacity = (window.capacity as f64 * MARGIN).floor().max(1.0);
        let per_second = window.capacity as f64 * MARGIN / window.seconds as f64;
        Self { capacity, per_second, tokens: capacity, at: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.at = self.at.max(now);
    }

    /// How long until `n` tokens may be taken: `n` of them, or a full bucket if `n` is
    /// more than it holds.
    fn wait(&mut self, now: Instant, n: f64) -> Duration {
        self.refill(now);
        let need = n.min(self.capacity);
        if self.tokens + EPSILON >= need {
            Duration::ZERO
        } else {
            secs((need - self.tokens) / self.per_second)
        }
    }

    fn take(&mut self, n: f64) {
        self.tokens -= n;
    }

    fn full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens + EPSILON >= self.capacity
    }
}

/// The buckets of one scope.
#[derive(Debug, Clone)]
struct Buckets {
    messages: Vec<Bucket>,
    points: Vec<Bucket>,
}

impl Buckets {
    fn new(limits: &RateLimits, now: Instant) -> Self {
        let make = |w: &Windows| w.0.iter().map(|w| Bucket::new(*w, now)).collect();
        Self { messages: make(&limits.messages), points: make(&limits.data_points) }
    }

    fn wait(&mut self, now: Instant, points: u64) -> Duration {
        let messages = self.messages.iter_mut().map(|b| b.wait(now, 1.0));
        let data = self.points.iter_mut().filter(|_| points > 0).map(|b| b.wait(now, points as f64));
        messages.chain(data).max().unwrap_or_default()
    }

    fn take(&mut self, points: u64) {
        self.messages.iter_mut().for_each(|b| b.take(1.0));
        self.points.iter_mut().for_each(|b| b.take(points as f64));
    }

    fn empty(&mut self) {
        self.messages.iter_mut().chain(self.points.iter_mut()).for_each(|b| b.tokens = 0.0);
    }

    fn full(&mut self, now: Instant) -> bool {
        self.messages.iter_mut().chain(self.points.iter_mut()).all(|b| b.full(now))
    }
}
