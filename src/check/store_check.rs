//! The store check of milestone 2: every reading the scenario sent (and the server
//! acknowledged) is in the readings store exactly once. Matching is pure ([`compare`]); only
//! [`verify`] opens the store, read-only, through [`crate::store::Reader`].

use std::path::PathBuf;

use super::eval::{self, Failure, Verdict};
use crate::protocol::reading::{Meaning, classify};
use crate::store::{Query, Reader, Row};

/// A reading the scenario sent and saw acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentReading {
    /// The name the device gave with HELLO.
    pub device: String,
    /// The line as sent, e.g. `temp=21.1 ts=1763900000001`.
    pub line: String,
}

/// Which sent readings are missing from `rows`, and which are stored more than once. A
/// reading counts as stored when each of its values is, under its device, key and `ts`.
pub fn compare(sent: &[SentReading], rows: &[Row]) -> (Vec<String>, Vec<String>) {
    let (mut missing, mut duplicated) = (Vec::new(), Vec::new());
    for s in sent {
        let Ok(Meaning::Reading(reading)) = classify(&s.line) else {
            missing.push(format!("{} (not a reading: {})", s.line, s.device));
            continue;
        };
        let counts = reading.values.iter().map(|(key, value)| {
            rows.iter()
                .filter(|r| r.device == s.device && r.key == *key && r.ts == reading.ts && r.value == *value)
                .count()
        });
        let (min, max) = counts.fold((usize::MAX, 0), |(lo, hi), c| (lo.min(c), hi.max(c)));
        let label = format!("{}: {}", s.device, s.line);
        if min == 0 {
            missing.push(label);
        } else if max > 1 {
            duplicated.push(label);
        }
    }
    (missing, duplicated)
}

/// Reads the store in `data_dir` and judges `sent` against it.
/// `setting` names what gave `data_dir`, in the command's words, for a store that cannot be read.
pub async fn verify(data_dir: PathBuf, sent: Vec<SentReading>, setting: &str) -> Verdict {
    let work = tokio::task::spawn_blocking(move || {
        let rows = read_rows(&data_dir, &sent)?;
        let (missing, duplicated) = compare(&sent, &rows);
        Ok::<_, String>(eval::store(sent.len(), &missing, &duplicated))
    });
    let why = match work.await {
        Ok(Ok(verdict)) => return verdict,
        Ok(Err(e)) => e,
        Err(e) => format!("the store check stopped: {e}"),
    };
    Verdict::Fail(Failure {
        client: None,
        sent: String::new(),
        expected: "a readable readings store".into(),
        got: why,
        why: format!("cannot read the store: check that {setting} names the server's data directory"),
    })
}

fn read_rows(data_dir: &std::path::Path, sent: &[SentReading]) -> Result<Vec<Row>, String> {
    let reader = Reader::open(data_dir).map_err(|e| e.to_string())?;
    let mut devices: Vec<&str> = sent.iter().map(|s| s.device.as_str()).collect();
    devices.sort_unstable();
    devices.dedup();
    let mut rows = Vec::new();
    for device in devices {
        let query = Query { device: Some(device.to_owned()), all: true, ..Query::default() };
        reader
            .for_each(&query, &mut |row| {
                rows.push(row.clone());
                Ok(())
            })
            .map_err(|e| e.to_string())?;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::reading::Value;

    fn row(device: &str, value: f64, ts: i64) -> Row {
        Row {
            device: device.into(),
            key: "temp".into(),
            value: Value::Float(value),
            ts: Some(ts),
            received_at: ts,
        }
    }

    fn sent(device: &str, line: &str) -> SentReading {
        SentReading { device: device.into(), line: line.into() }
    }

    #[test]
    fn readings_are_matched_by_device_key_value_and_ts() {
        let sent = [sent("d1", "temp=21.1 ts=5"), sent("d1", "temp=21.2 ts=6"), sent("d2", "temp=22.1 ts=5")];
        let rows = [row("d1", 21.1, 5), row("d1", 21.2, 6), row("d1", 21.2, 6), row("d2", 22.0, 5)];
        let (missing, duplicated) = compare(&sent, &rows);
        assert_eq!(missing, ["d2: temp=22.1 ts=5"]);
        assert_eq!(duplicated, ["d1: temp=21.2 ts=6"]);
        let all = [row("d1", 21.1, 5), row("d1", 21.2, 6), row("d2", 22.1, 5)];
        assert_eq!(compare(&sent, &all), (vec![], vec![]));
    }
}
