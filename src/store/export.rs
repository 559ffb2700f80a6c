//! The readings as CSV, JSON or JSON Lines, written row by row: one writer behind
//! `iotchat readings --format csv|json` and `GET /api/readings`, so both give the same bytes.
//! Nothing is buffered beyond the writer given (a million rows never sit in memory).
//!
//! CSV: header `device,key,value,ts,received_at`, times in unix milliseconds, `ts` empty when
//! the device sent none; a text cell a spreadsheet would run as a formula gets a leading `'`
//! ([`csv_text`]). JSON: an array of objects, one per line, values with their JSON type.
//! JSON Lines: the same objects, one per line and no array, for output that never ends
//! (`--follow`).

use std::borrow::Cow;
use std::io::{self, Write};

use super::{Query, Reader, Row, StoreError};
use crate::protocol::reading::Value;

/// The forms [`Exporter`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Comma-separated, with a header.
    Csv,
    /// One JSON array.
    Json,
    /// One JSON object per line.
    JsonLines,
}

/// The CSV header.
pub const CSV_HEADER: [&str; 5] = ["device", "key", "value", "ts", "received_at"];

/// Writes rows in one [`ExportFormat`]: [`Exporter::start`], [`Exporter::row`] for each,
/// [`Exporter::finish`].
pub struct Exporter<W: Write> {
    sink: Sink<W>,
    rows: u64,
}

enum Sink<W: Write> {
    // Boxed: its buffer and state are ten times the others' size.
    Csv(Box<csv::Writer<W>>),
    Json(W),
    JsonLines(W),
}

impl<W: Write> Exporter<W> {
    /// Writes what comes before the rows (the CSV header, JSON's `[`).
    pub fn start(format: ExportFormat, out: W) -> io::Result<Self> {
        let sink = match format {
            ExportFormat::Csv => {
                let mut writer = csv::Writer::from_writer(out);
                writer.write_record(CSV_HEADER).map_err(csv_io)?;
                Sink::Csv(Box::new(writer))
            }
            ExportFormat::Json => {
                let mut out = out;
                out.write_all(b"[")?;
                Sink::Json(out)
            }
            ExportFormat::JsonLines => Sink::JsonLines(out),
        };
        Ok(Exporter { sink, rows: 0 })
    }

    /// Writes one row.
    pub fn row(&mut self, row: &Row) -> io::Result<()> {
        match &mut self.sink {
            Sink::Csv(writer) => {
                writer.write_record(csv_record(row).iter().map(|c| c.as_ref())).map_err(csv_io)?
            }
            Sink::Json(out) => {
                out.write_all(if self.rows == 0 { b"\n" } else { b",\n" })?;
                serde_json::to_writer(&mut *out, &json_row(row))?;
            }
            Sink::JsonLines(out) => {
                serde_json::to_writer(&mut *out, &json_row(row))?;
                out.write_all(b"\n")?;
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Passes what was written on to the writer given, and flushes it.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Csv(writer) => writer.flush(),
            Sink::Json(out) | Sink::JsonLines(out) => out.flush(),
        }
    }

    /// Writes what comes after the rows (JSON's `]`), flushes, and returns the row count.
    pub fn finish(mut self) -> io::Result<u64> {
        if let Sink::Json(out) = &mut self.sink {
            out.write_all(if self.rows == 0 { b"]\n" } else { b"\n]\n" })?;
        }
        self.flush()?;
        Ok(self.rows)
    }
}

/// Writes every row `query` selects from `reader` in `format` to `out`; returns how many.
/// A failed write (a closed pipe, a client gone) is [`StoreError::Output`].
pub fn export(
    reader: &Reader,
    query: &Query,
    format: ExportFormat,
    out: impl Write,
) -> Result<u64, StoreError> {
    let output = |cause| StoreError::Output { cause };
    let mut exporter = Exporter::start(format, out).map_err(output)?;
    reader.for_each(query, &mut |row| exporter.row(row))?;
    exporter.finish().map_err(output)
}

/// A row's CSV cells.
fn csv_record(row: &Row) -> [Cow<'_, str>; 5] {
    let value = match &row.value {
        Value::Text(text) => csv_text(text),
        number_or_bool => Cow::Owned(number_or_bool.to_string()),
    };
    let ts = row.ts.map(|ts| Cow::Owned(ts.to_string())).unwrap_or_default();
    [csv_text(&row.device), csv_text(&row.key), value, ts, Cow::Owned(row.received_at.to_string())]
}

/// A text cell of the CSV, safe to open in a spreadsheet (OWASP's CSV injection advice): one
/// that starts with `=`, `+`, `-`, `@`, a tab or a CR would be run as a formula, so it gets a
/// leading `'`, which spreadsheets show as text. A text that is a plain number (`-3.5`) is
/// left as it is: a spreadsheet reads it as that number, no formula. Numbers, booleans and the
/// two time columns never come here.
fn csv_text(text: &str) -> Cow<'_, str> {
    let formula = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if formula && !text.parse::<f64>().is_ok_and(f64::is_finite) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// The csv crate's error as the I/O error it nearly always is (a record of five cells cannot
/// be malformed).
fn csv_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// A row as a JSON object: `device`, `key`, `value` (number, bool or string), `ts` (null when
/// the device sent none), `received_at`, in the CSV's order.
#[derive(serde::Serialize)]
struct JsonRow<'a> {
    device: &'a str,
    key: &'a str,
    value: JsonValue<'a>,
    ts: Option<i64>,
    received_at: i64,
}

/// `row` as a [`JsonRow`].
fn json_row(row: &Row) -> JsonRow<'_> {
    JsonRow {
        device: &row.device,
        key: &row.key,
        value: JsonValue(&row.value),
        ts: row.ts,
        received_at: row.received_at,
    }
}

/// A value with its JSON type, serialised in place (no `serde_json::Value` built).
pub struct JsonValue<'a>(pub &'a Value);

impl serde::Serialize for JsonValue<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Int(v) => s.serialize_i64(*v),
            Value::Float(v) => s.serialize_f64(*v),
            Value::Bool(v) => s.serialize_bool(*v),
            Value::Text(v) => s.serialize_str(v),
        }
    }
}

/// A value with its JSON type: an int or float a number, a bool a bool, text a string.
pub fn json_value(value: &Value) -> serde_json::Value {
    match value {
        Value::Int(v) => serde_json::Value::from(*v),
        Value::Float(v) => serde_json::Value::from(*v),
        Value::Bool(v) => serde_json::Value::from(*v),
        Value::Text(v) => serde_json::Value::from(v.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Row> {
        vec![
            Row {
                device: "esp-1".into(),
                key: "temp".into(),
                value: Value::Float(21.0),
                ts: Some(5),
                received_at: 7,
            },
            Row {
                device: "=x".into(),
                key: "door".into(),
                value: Value::Text("a, b".into()),
                ts: None,
                received_at: 9,
            },
        ]
    }

    fn written(format: ExportFormat, rows: &[Row]) -> String {
        let mut out = Vec::new();
        let mut exporter = Exporter::start(format, &mut out).expect("start");
        for row in rows {
            exporter.row(row).expect("row");
        }
        assert_eq!(exporter.finish().expect("finish"), rows.len() as u64);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn each_format_writes_its_frame_and_rows() {
        let cases = [
            (ExportFormat::Csv, "device,key,value,ts,received_at\nesp-1,temp,21,5,7\n'=x,door,\"a, b\",,9\n"),
            (
                ExportFormat::Json,
                "[\n{\"device\":\"esp-1\",\"key\":\"temp\",\"value\":21.0,\"ts\":5,\"received_at\":7},\n\
                 {\"device\":\"=x\",\"key\":\"door\",\"value\":\"a, b\",\"ts\":null,\"received_at\":9}\n]\n",
            ),
            (
                ExportFormat::JsonLines,
                "{\"device\":\"esp-1\",\"key\":\"temp\",\"value\":21.0,\"ts\":5,\"received_at\":7}\n\
                 {\"device\":\"=x\",\"key\":\"door\",\"value\":\"a, b\",\"ts\":null,\"received_at\":9}\n",
            ),
        ];
        for (format, want) in cases {
            assert_eq!(written(format, &rows()), want, "{format:?}");
        }
    }

    #[test]
    fn no_rows_is_a_header_an_empty_array_or_nothing() {
        assert_eq!(written(ExportFormat::Csv, &[]), "device,key,value,ts,received_at\n");
        assert_eq!(written(ExportFormat::Json, &[]), "[]\n");
        assert_eq!(written(ExportFormat::JsonLines, &[]), "");
    }

    #[test]
    fn csv_text_that_a_spreadsheet_would_run_gets_a_quote() {
        let cases = [
            ("=1+1", "'=1+1"),
            ("+41", "+41"),
            ("+cmd", "'+cmd"),
            ("-3.5", "-3.5"),
            ("-2+3", "'-2+3"),
            ("-inf", "'-inf"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("open", "open"),
            ("a=b", "a=b"),
            ("", ""),
        ];
        for (text, want) in cases {
            assert_eq!(csv_text(text), want, "{text:?}");
        }
    }
}
