//! `iotchat bench`: a load generator for the chat protocol, like `redis-benchmark`.
//!
//! The sans-IO parts (request generation and reply checking in [`request`], the latency
//! [`histogram`], counters and the [`report`]) take bytes and times and do no I/O; the
//! [`driver`] runs one tokio task per connection over them; [`progress`] shows it live on a
//! terminal.

pub mod driver;
pub mod histogram;
pub mod progress;
pub mod report;
pub mod request;

use std::time::Duration;

pub use driver::run;
pub use report::Report;

/// When the run stops sending.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// Send for this long, then wait for the replies still due.
    Duration(Duration),
    /// Send this many requests in all, spread over the connections.
    Requests(u64),
}

/// A validated bench configuration.
#[derive(Debug, Clone)]
pub struct Options {
    /// Connections, each its own task.
    pub connections: usize,
    /// Requests written at once per connection (closed loop: then all replies are awaited).
    pub pipeline: usize,
    pub stop: Stop,
    /// Chat line length in bytes, without the LF.
    pub size: usize,
    /// Open loop: requests per second per connection. `None` = closed loop.
    pub rate: Option<f64>,
    /// Send `HELLO bench-<i>` and then readings instead of chat lines.
    pub readings: bool,
    /// Speak redis's inline protocol instead (`SET`, answered `+OK`): a redis-server baseline.
    pub redis: bool,
    /// A request without its reply for this long counts as an error and ends its connection.
    pub reply_timeout: Duration,
}

impl Options {
    /// The requests connection `conn` sends under [`Stop::Requests`] (an even split).
    pub fn quota(&self, conn: usize) -> Option<u64> {
        match self.stop {
            Stop::Requests(n) => {
                let c = self.connections as u64;
                Some(n / c + u64::from((conn as u64) < n % c))
            }
            Stop::Duration(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_split_evenly_over_connections() {
        let o = Options {
            connections: 3,
            pipeline: 1,
            stop: Stop::Requests(10),
            size: 32,
            rate: None,
            readings: false,
            redis: false,
            reply_timeout: Duration::from_secs(1),
        };
        let quotas: Vec<_> = (0..3).map(|c| o.quota(c).unwrap()).collect();
        assert_eq!(quotas, [4, 3, 3]);
    }
}
