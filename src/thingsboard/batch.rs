//! Packing telemetry entries into as few publishes as fit ThingsBoard's payload limit: each
//! publish is a JSON array of entries (`[{"ts":..,"values":{..}}, ..]`), never over the limit.

use serde_json::Value as Json;

/// An entry too big to publish even alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("one reading is {size} bytes as JSON, over the {max}-byte payload limit; split it")]
pub struct TooLarge {
    /// Its size as JSON.
    pub size: usize,
    /// The limit.
    pub max: usize,
}

/// Collects entries into array payloads of at most `max` bytes.
#[derive(Debug)]
pub struct Batcher {
    max: usize,
    buf: Vec<u8>,
    entries: usize,
}

impl Batcher {
    /// A batcher for payloads of at most `max` bytes.
    pub fn new(max: usize) -> Self {
        Self { max, buf: Vec::new(), entries: 0 }
    }

    /// Adds `entry`. Returns the batch that was full, if adding it needed a new one.
    pub fn push(&mut self, entry: &Json) -> Result<Option<Vec<u8>>, TooLarge> {
        let text = entry.to_string();
        if text.len() + 2 > self.max {
            return Err(TooLarge { size: text.len(), max: self.max });
        }
        // `[` + entries joined by `,` + `]`
        let grown = if self.entries == 0 { text.len() + 2 } else { self.buf.len() + 1 + text.len() + 1 };
        let full = if grown > self.max { self.finish() } else { None };
        self.buf.push(if self.entries == 0 { b'[' } else { b',' });
        self.buf.extend_from_slice(text.as_bytes());
        self.entries += 1;
        Ok(full)
    }

    /// The last, partly filled batch, if any.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        if self.entries == 0 {
            return None;
        }
        self.entries = 0;
        let mut batch = std::mem::take(&mut self.buf);
        batch.push(b']');
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn batches_fill_up_to_the_limit_and_stay_valid_json() {
        let entry = json!({"ts": 1, "values": {"t": 1}});
        let one = entry.to_string().len();
        let max = 2 + one * 3 + 2; // room for exactly three entries
        let mut b = Batcher::new(max);
        let mut batches = Vec::new();
        for _ in 0..7 {
            batches.extend(b.push(&entry).expect("fits"));
        }
        batches.extend(b.finish());
        let sizes: Vec<usize> = batches
            .iter()
            .map(|p| serde_json::from_slice::<Vec<Json>>(p).expect("a JSON array").len())
            .collect();
        assert_eq!(sizes, vec![3, 3, 1]);
        assert!(batches.iter().all(|p| p.len() <= max));
        assert_eq!(b.finish(), None);
    }

    #[test]
    fn an_entry_over_the_limit_is_refused() {
        let mut b = Batcher::new(16);
        let err = b.push(&json!({"long": "x".repeat(40)})).expect_err("too big");
        assert_eq!(err.max, 16);
        assert_eq!(b.finish(), None);
    }
}
