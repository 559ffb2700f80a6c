//! [`Budget`]: the buckets of a session, asked before each publish.

use std::collections::HashMap;
use std::time::Instant;

use super::{Buckets, Cost, DEVICES_KEPT, MARGIN, SessionLimits, Windows};

/// The gateway's buckets and each device's, at [`MARGIN`] of [`SessionLimits`].
#[derive(Debug)]
pub struct Budget {
    limits: SessionLimits,
    gateway: Buckets,
    devices: HashMap<String, Buckets>,
    /// Whether anything was spent: then new limits cannot start with full buckets.
    spent: bool,
}

impl Budget {
    /// A budget whose buckets are all full at `now`.
    pub fn new(limits: SessionLimits, now: Instant) -> Self {
        let gateway = Buckets::new(&limits.gateway, now);
        Self { limits, gateway, devices: HashMap::new(), spent: false }
    }

    /// New limits in the middle of a session (ThingsBoard's answer). ThingsBoard's buckets
    /// have counted what we already sent: unless nothing was, the new gateway buckets start
    /// empty, so the pace holds from the first message (at the cost of one burst).
    pub fn replace(&mut self, limits: SessionLimits, now: Instant) {
        self.gateway = Buckets::new(&limits.gateway, now);
        if self.spent {
            self.gateway.empty();
        }
        if limits.device != self.limits.device {
            self.devices.clear();
        }
        self.limits = limits;
    }

    /// The limits it keeps to.
    pub fn limits(&self) -> &SessionLimits {
        &self.limits
    }

    /// Most data points one message may carry and still fit every data-point bucket (80% of
    /// the smallest window's capacity); `usize::MAX` without data-point limits.
    pub fn max_points_per_message(&self) -> usize {
        let windows = self.limits.gateway.data_points.0.iter().chain(&self.limits.device.data_points.0);
        windows.map(|w| ((w.capacity as f64 * MARGIN).floor() as usize).max(1)).min().unwrap_or(usize::MAX)
    }

    /// The gateway's sustained message rate at the margin (the slowest window), per second;
    /// `None` when unlimited.
    pub fn messages_per_second(&self) -> Option<f64> {
        slowest(&self.limits.gateway.messages)
    }

    /// Spends `cost` if every bucket it touches has the tokens at `now` (`Ok`); otherwise
    /// spends nothing and says when to ask again (`Err`). A message bigger than a bucket
    /// goes alone once that bucket is full, leaving it in debt.
    pub fn try_spend(&mut self, now: Instant, cost: &Cost) -> Result<(), Instant> {
        let mut wait = self.gateway.wait(now, cost.points);
        for (device, points) in &cost.devices {
            let limits = &self.limits.device;
            let buckets = self.devices.entry(device.clone()).or_insert_with(|| Buckets::new(limits, now));
            wait = wait.max(buckets.wait(now, *points));
        }
        if !wait.is_zero() {
            return Err(now + wait);
        }
        self.spent = true;
        self.gateway.take(cost.points);
        for (device, points) in &cost.devices {
            if let Some(buckets) = self.devices.get_mut(device) {
                buckets.take(*points);
            }
        }
        if self.devices.len() > DEVICES_KEPT {
            // A full bucket remembers nothing a new one would not.
            self.devices.retain(|_, b| !b.full(now));
        }
        Ok(())
    }
}

fn slowest(windows: &Windows) -> Option<f64> {
    windows.0.iter().map(|w| w.capacity as f64 * MARGIN / w.seconds as f64).min_by(f64::total_cmp)
}
