//! `iotchat readings`: prints the readings the server stored, as an aligned table, CSV or
//! JSON. CSV and JSON are streamed row by row; the table is buffered to align its columns.
//! A closed pipe (`| head`) ends the command quietly.

use std::borrow::Cow;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iotchat::config::{ConfigError, LoadedProfile, Origin, StoreSection, data_dir, no_data_dir};
use iotchat::protocol::reading::Value;
use iotchat::store::{Query, Reader, Row, StoreError};
use iotchat::text::{VALUE_WIDTH, ellipsis, for_terminal};

use clap::Args;

use crate::cli_values::{at_least, non_empty};

pub(super) const EXAMPLES: &str = "\
Examples:
  iotchat readings                                  # latest value per device and key
  iotchat readings --device esp-1 --all             # every reading of esp-1
  iotchat readings --key temp --since 10m --format csv > temp.csv
  iotchat readings --data-dir /var/lib/iotchat --format json

Timestamps are unix milliseconds: `ts` is the device's own (empty if it sent none),
`received_at` is the server's.";

/// Output formats of `iotchat readings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// Comma-separated, header `device,key,value,ts,received_at`; streamed; text cells
    /// that a spreadsheet would run as a formula start with '.
    Csv,
    /// A JSON array of objects; streamed.
    Json,
}

/// `iotchat readings`.
#[derive(Debug, Args)]
pub struct ReadingsArgs {
    /// Read settings (the data directory) from this TOML profile.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreSection,
    /// Only this device (its name, or peer address for unnamed devices).
    #[arg(long, value_name = "NAME", value_parser = non_empty)]
    pub device: Option<String>,
    /// Only this key.
    #[arg(long, value_name = "KEY", value_parser = non_empty)]
    pub key: Option<String>,
    /// Every reading, oldest first, instead of the latest value per device and key.
    #[arg(long)]
    pub all: bool,
    /// Only readings received since then: a duration ago (10m, 2h) or a time (2026-11-23T10:00:00Z). Implies --all.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// At most N rows (with --all, the most recent N, still oldest first).
    #[arg(long, value_name = "N", value_parser = at_least(1))]
    pub limit: Option<u64>,
    /// Output format. In CSV, a text cell that starts with =, +, -, @, a tab or a CR gets a
    /// leading ' so that a spreadsheet shows it rather than running it as a formula (OWASP);
    /// numbers, ts and received_at are never changed, nor is JSON.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Runs `iotchat readings`.
pub fn run(args: ReadingsArgs, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let loaded = LoadedProfile::load(args.profile.as_deref())?;
    let at = loaded.at(Some(matches), "store");
    let dir = data_dir(args.store, loaded.profile.store.clone(), &at)?.ok_or_else(no_data_dir)?;
    let since_ms = args.since.as_deref().map(|text| parse_since(text, SystemTime::now())).transpose()?;
    let empty = nothing_found(args.device.as_deref(), args.key.as_deref(), args.since.as_deref());
    let query = Query { device: args.device, key: args.key, since_ms, limit: args.limit, all: args.all };
    let reader = Reader::open(&dir.value).map_err(|e| super::store_error(e, &dir.origin))?;
    let mut out = BufWriter::new(io::stdout().lock());
    let written = match args.format {
        Format::Table => {
            table(&reader, &query, &empty, &mut out).and_then(|()| outbox_line(&reader, &mut out))
        }
        Format::Csv => csv(&reader, &query, &mut out),
        Format::Json => json(&reader, &query, &mut out),
    }
    .and_then(|()| out.flush().map_err(|cause| StoreError::Output { cause }));
    match written {
        Err(e) if e.is_broken_pipe() => Ok(()),
        // The store's messages already name the file and what to do.
        other => Ok(other?),
    }
}

/// Under the table: what still waits for ThingsBoard, when the bridge has run on this store.
fn outbox_line(reader: &Reader, out: &mut impl Write) -> Result<(), StoreError> {
    if let Some(pending) = reader.outbox_pending(iotchat::bridge::OUTBOX)? {
        writeln!(out, "{pending} {} to ThingsBoard", iotchat::bridge::WAITING)
            .map_err(|cause| StoreError::Output { cause })?;
    }
    Ok(())
}

/// `--since`: a duration ago (`10m`, `2h`) or an RFC 3339 time, as unix milliseconds.
fn parse_since(text: &str, now: SystemTime) -> Result<i64, ConfigError> {
    let trimmed = text.trim();
    let when = match humantime::parse_duration(trimmed) {
        // Before the epoch is fine (it selects everything); beyond SystemTime's range too.
        Ok(ago) => now.checked_sub(ago).unwrap_or(UNIX_EPOCH - Duration::from_secs(1)),
        Err(_) => humantime::parse_rfc3339_weak(trimmed).map_err(|_| ConfigError::Invalid {
            origin: Origin::Flag("--since"),
            value: text.to_owned(),
            expected: "a duration ago such as 10m or 2h, or a time such as 2026-11-23T10:00:00Z".into(),
        })?,
    };
    Ok(unix_ms(when))
}

fn unix_ms(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// Unix milliseconds as an RFC 3339 UTC time, or the bare number when outside years
/// 1970..=9999 (a device clock that was never set can send anything).
fn rfc3339(ms: i64) -> String {
    const YEAR_10000_MS: u64 = 253_402_300_800_000;
    match u64::try_from(ms) {
        Ok(ms) if ms < YEAR_10000_MS => {
            humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
        }
        _ => ms.to_string(),
    }
}

const HEADER: [&str; 5] = ["DEVICE", "KEY", "VALUE", "TS", "RECEIVED_AT"];

/// What the table says when nothing matched: the filters that emptied it, or that the store
/// is empty. Not an error (exit 0): "nothing matched" is an answer, and scripts that read
/// the CSV or JSON get a header or `[]` the same way.
fn nothing_found(device: Option<&str>, key: Option<&str>, since: Option<&str>) -> String {
    let filters: Vec<String> = [("device", device), ("key", key)]
        .into_iter()
        .filter_map(|(what, value)| value.map(|v| format!("{what} {}", cell(v))))
        .collect();
    let mut text = if filters.is_empty() {
        "no readings".to_owned()
    } else {
        format!("no readings for {}", filters.join(" and "))
    };
    match since {
        Some(since) => text.push_str(&format!(" received since {}", cell(since))),
        None if filters.is_empty() => text.push_str(" yet"),
        None => {}
    }
    text
}

fn table(reader: &Reader, query: &Query, empty: &str, out: &mut impl Write) -> Result<(), StoreError> {
    let mut cells: Vec<[String; 5]> = Vec::new();
    reader.for_each(query, &mut |row| {
        let ts = row.ts.map(rfc3339).unwrap_or_else(|| "-".into());
        // Cut as the server console's `clients` cuts a last reading: one long value must
        // not push every other row's times off the screen.
        let value = ellipsis(&row.value.to_string(), VALUE_WIDTH);
        cells.push([cell(&row.device), cell(&row.key), value, ts, rfc3339(row.received_at)]);
        Ok(())
    })?;
    let write = |out: &mut dyn Write| -> io::Result<()> {
        if cells.is_empty() {
            return writeln!(out, "{empty}");
        }
        let mut widths = HEADER.map(str::len);
        for row in &cells {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        write_line(out, &HEADER, &widths)?;
        for row in &cells {
            write_line(out, row, &widths)?;
        }
        let plural = if cells.len() == 1 { "" } else { "s" };
        writeln!(out, "{} reading{plural}", cells.len())
    };
    write(out).map_err(|cause| StoreError::Output { cause })
}

fn write_line<S: AsRef<str>>(out: &mut dyn Write, cells: &[S; 5], widths: &[usize; 5]) -> io::Result<()> {
    let mut line = String::new();
    for (cell, width) in cells.iter().zip(widths) {
        let cell = cell.as_ref();
        line.push_str(cell);
        line.extend(std::iter::repeat_n(' ', width - cell.chars().count() + 2));
    }
    writeln!(out, "{}", line.trim_end())
}

/// Text for a table cell: a newline or other control character would break the layout.
fn cell(text: &str) -> String {
    for_terminal(text).into_owned()
}

fn csv(reader: &Reader, query: &Query, out: &mut impl Write) -> Result<(), StoreError> {
    let mut writer = csv::Writer::from_writer(out);
    let io_err = |e: csv::Error| match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    };
    let output = |cause| StoreError::Output { cause };
    writer.write_record(["device", "key", "value", "ts", "received_at"]).map_err(io_err).map_err(output)?;
    reader.for_each(query, &mut |row| {
        let ts = row.ts.map(|ts| ts.to_string()).unwrap_or_default();
        let value = match &row.value {
            Value::Text(text) => csv_text(text).into_owned(),
            number_or_bool => number_or_bool.to_string(),
        };
        let (device, key) = (csv_text(&row.device), csv_text(&row.key));
        let record = [&*device, &*key, &value, &ts, &row.received_at.to_string()];
        writer.write_record(record).map_err(io_err)
    })?;
    writer.flush().map_err(output)
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

fn json(reader: &Reader, query: &Query, out: &mut impl Write) -> Result<(), StoreError> {
    let output = |cause| StoreError::Output { cause };
    out.write_all(b"[").map_err(output)?;
    let mut first = true;
    reader.for_each(query, &mut |row| {
        out.write_all(if first { b"\n" } else { b",\n" })?;
        first = false;
        serde_json::to_writer(&mut *out, &json_row(row)).map_err(io::Error::from)
    })?;
    out.write_all(if first { b"]\n" } else { b"\n]\n" }).map_err(output)
}

fn json_row(row: &Row) -> serde_json::Value {
    let value = match &row.value {
        Value::Int(v) => serde_json::Value::from(*v),
        Value::Float(v) => serde_json::Value::from(*v),
        Value::Bool(v) => serde_json::Value::from(*v),
        Value::Text(v) => serde_json::Value::from(v.as_str()),
    };
    serde_json::json!({
        "device": row.device,
        "key": row.key,
        "value": value,
        "ts": row.ts,
        "received_at": row.received_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_duration_ago_or_a_time() {
        let now = UNIX_EPOCH + Duration::from_secs(10_000);
        assert_eq!(parse_since("10m", now).expect("duration"), 9_400_000);
        assert_eq!(parse_since("1970-01-01T00:00:05Z", now).expect("time"), 5_000);
        assert_eq!(parse_since("1970-01-01 00:00:05", now).expect("weak time"), 5_000);
        assert!(parse_since("1000h", now).expect("before the epoch") < 0);
        let error = parse_since("yesterday", now).expect_err("unparseable");
        assert!(error.to_string().contains("--since") && error.to_string().contains("10m"), "{error}");
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

    #[test]
    fn an_empty_result_names_its_filters() {
        assert_eq!(nothing_found(None, None, None), "no readings yet");
        assert_eq!(nothing_found(Some("x"), None, None), "no readings for device x");
        assert_eq!(nothing_found(None, Some("t"), Some("1h")), "no readings for key t received since 1h");
        assert_eq!(nothing_found(None, None, Some("1h")), "no readings received since 1h");
        assert_eq!(nothing_found(Some("a\nb"), None, None), "no readings for device a\\nb");
    }

    #[test]
    fn times_outside_rfc3339_years_show_as_numbers() {
        assert_eq!(rfc3339(1_500), "1970-01-01T00:00:01.500Z");
        assert_eq!(rfc3339(-1), "-1");
        assert_eq!(rfc3339(i64::MAX), i64::MAX.to_string());
    }
}
