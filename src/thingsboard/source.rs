//! Where `tb-publish` readings come from besides the command line: a CSV file (a header row
//! of keys, an optional `ts` column) or lines in the milestone-2 reading syntax (`key=value`
//! pairs, a JSON object, a bare value), from a `.jsonl`/text file or standard input.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::protocol::reading::{self, Meaning, Reading};

/// A line or row that is not a reading, with where it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct BadInput {
    /// 1-based line (row) number.
    pub line: u64,
    /// What is wrong.
    pub why: String,
}

/// Opens a readings file, so that the command can refuse one it cannot read before it
/// connects anywhere. A directory is refused here: opening one succeeds, and only the first
/// read would fail.
pub fn open(path: &Path) -> io::Result<File> {
    let file = File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(io::Error::new(io::ErrorKind::IsADirectory, "it is a directory"));
    }
    Ok(file)
}

/// Parses one line in the reading syntax. Empty lines and `#` comments give `None`.
pub fn line_reading(line: &str, number: u64) -> Result<Option<Reading>, BadInput> {
    let text = line.trim();
    if text.is_empty() || text.starts_with('#') {
        return Ok(None);
    }
    let bad = |why: String| BadInput { line: number, why };
    match reading::classify(text) {
        Ok(Meaning::Reading(r)) => Ok(Some(r)),
        Ok(
            Meaning::Hello { .. }
            | Meaning::Chat
            | Meaning::RpcAnswer { .. }
            | Meaning::Attributes(_)
            | Meaning::OtaFailed(_),
        ) => {
            Err(bad(format!("`{text}` is not a reading; write key=value pairs, a JSON object or one value")))
        }
        Err(e) => Err(bad(e.to_string())),
    }
}

/// Reads CSV readings: the header names the keys; a `ts` column holds unix milliseconds.
/// Empty cells are left out of that row's reading.
pub fn csv_readings(input: impl Read) -> impl Iterator<Item = Result<Reading, BadInput>> {
    let mut csv = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(false).from_reader(input);
    let header = csv
        .headers()
        .cloned()
        .map_err(|e| BadInput { line: 1, why: format!("no CSV header: {e}") })
        .and_then(check_header);
    let mut failed = false;
    let mut records = csv.into_records();
    let mut line = 1;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        let header = match &header {
            Ok(h) => h,
            Err(e) => {
                failed = true;
                return Some(Err(e.clone()));
            }
        };
        let record = records.next()?;
        line += 1;
        let result = record
            .map_err(|e| BadInput { line, why: format!("not valid CSV: {e}") })
            .and_then(|r| row_reading(header, &r, line));
        failed = result.is_err();
        Some(result)
    })
}

/// The header's keys, checked as a reading's keys are (`ts` is the timestamp column).
fn check_header(header: csv::StringRecord) -> Result<csv::StringRecord, BadInput> {
    for key in header.iter().filter(|k| *k != "ts") {
        reading::check_key(key).map_err(|e| BadInput { line: 1, why: e.to_string() })?;
    }
    Ok(header)
}

fn row_reading(header: &csv::StringRecord, row: &csv::StringRecord, line: u64) -> Result<Reading, BadInput> {
    let bad = |why: String| BadInput { line, why };
    let mut reading = Reading { ts: None, values: Vec::new() };
    for (key, cell) in header.iter().zip(row.iter()) {
        if cell.is_empty() {
            continue;
        }
        if key == "ts" {
            reading.ts = Some(reading::parse_timestamp(cell).map_err(|e| bad(e.to_string()))?);
        } else {
            reading
                .values
                .push((key.to_owned(), reading::parse_value(key, cell).map_err(|e| bad(e.to_string()))?));
        }
    }
    if reading.values.is_empty() {
        return Err(bad("the row has no values".into()));
    }
    Ok(reading)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::reading::Value;

    #[test]
    fn csv_rows_become_typed_readings() {
        let text = "ts,temp,door\n1000,21.5,open\n2000,,closed\n";
        let rows: Vec<Reading> = csv_readings(text.as_bytes()).collect::<Result<_, _>>().expect("valid");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].ts, Some(1000));
        assert_eq!(
            rows[0].values,
            vec![("temp".into(), Value::Float(21.5)), ("door".into(), Value::Text("open".into()))]
        );
        assert_eq!(rows[1].values, vec![("door".into(), Value::Text("closed".into()))]);
    }

    #[test]
    fn bad_csv_names_the_line_and_stops() {
        let text = "ts,temp\n1000,1\nsoon,2\n3000,3\n";
        let results: Vec<_> = csv_readings(text.as_bytes()).collect();
        assert_eq!(results.len(), 2, "stops at the first bad row");
        let err = results[1].clone().expect_err("bad ts");
        assert_eq!(err.line, 3);
        assert!(err.why.contains("unix milliseconds"), "{err}");
        let ragged: Vec<_> = csv_readings("a,b\n1\n".as_bytes()).collect();
        assert!(ragged[0].is_err());
    }

    #[test]
    fn csv_header_keys_are_checked_like_a_readings_keys() {
        let cases = [
            ("bidi control", "ts,te\u{202e}mp\n1000,1\n", "invalid key"),
            ("control character", "ts,t\u{1b}[2J\n1000,1\n", "invalid key"),
            ("line in the key", "ts,\"a\nb\"\n1000,1\n", "invalid key"),
        ];
        for (label, text, want) in cases {
            let results: Vec<_> = csv_readings(text.as_bytes()).collect();
            let err = results[0].clone().expect_err(label);
            assert!(err.why.contains(want) && err.line == 1, "{label}: {err}");
            assert!(
                !err.why.chars().any(|c| c.is_control() || reading::is_bidi_control(c)),
                "{label}: {err}"
            );
        }
        let reading = line_reading("te\u{2066}mp=1", 3).expect_err("a line's keys are checked too");
        assert!(reading.why.contains("invalid key"), "{reading}");
    }

    #[test]
    fn lines_use_the_reading_syntax() {
        assert!(line_reading("  ", 1).expect("ok").is_none());
        assert!(line_reading("# comment", 1).expect("ok").is_none());
        assert_eq!(line_reading("t=1 ts=5", 1).expect("ok").map(|r| r.ts), Some(Some(5)));
        assert!(line_reading(r#"{"t":1}"#, 1).expect("ok").is_some());
        let err = line_reading("just words here", 7).expect_err("chat");
        assert_eq!(err.line, 7);
    }
}
