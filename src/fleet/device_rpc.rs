//! The device's side of ThingsBoard's requests through the bridge: `rpc: ` requests answered
//! (`setInterval` applied), and `attr: ` shared-attribute lines (an `interval` in one applies as
//! `setInterval` does). Part of [`Device`]; tested in `device_rpc_tests.rs`.

use std::time::{Duration, Instant};

use super::{Device, MAX_RPC_PENDING, rpc};
use crate::fleet::stats::bump;

impl Device {
    /// A request from the server: queues its answer and applies what it changes.
    pub(super) fn queue_rpc_answer(&mut self, text: &str, now: Instant) {
        let pending = self.rpc_out.len() + self.flight.rpcs();
        let Some(request) = rpc::parse(text).filter(|_| pending < MAX_RPC_PENDING) else {
            return bump(&self.stats.rpcs_ignored);
        };
        let answer = rpc::answer(&request, self.interval);
        if let Some(interval) = answer.set_interval {
            self.set_interval(interval, now);
        }
        self.rpc_out.push_back(answer.line);
    }

    /// A new interval: the next reading comes one new (jittered) interval from now, as in the
    /// firmware. Setting the interval it already has changes nothing.
    fn set_interval(&mut self, interval: Duration, now: Instant) {
        if interval == self.interval {
            return;
        }
        self.interval = interval;
        if self.next_reading_at.is_some() {
            self.next_reading_at = Some(now + self.jittered(interval));
        }
    }

    /// An `attr: ` line: answers nothing; an interval in it applies as setInterval's does.
    pub(super) fn handle_attributes_line(&mut self, text: &str, now: Instant) {
        if let Some(interval) = rpc::attributes_interval(text) {
            self.set_interval(interval, now);
        }
    }
}
