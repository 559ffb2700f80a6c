//! `iotchat readings`: prints the readings the server stored, as an aligned table, CSV or
//! JSON (the library's `store::export`, which `GET /api/readings` writes too). CSV and JSON
//! are streamed row by row; the table is buffered to align its columns. `--follow` goes on
//! printing new readings (`readings/follow.rs`). A closed pipe (`| head`) ends the command
//! quietly.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iotchat::config::{ConfigError, LoadedProfile, Origin, StoreSection, data_dir, no_data_dir};
use iotchat::store::{
    ExportFormat, Query, Reader, Row, SINCE_EXPECTED, SinceError, StoreError, export, parse_since,
};
use iotchat::text::{VALUE_WIDTH, ellipsis, for_terminal};

use clap::Args;

use crate::cli_values::{at_least, non_empty};

mod follow;

pub(super) const EXAMPLES: &str = "\
Examples:
  iotchat readings                                  # latest value per device and key
  iotchat readings --device esp-1 --all             # every reading of esp-1
  iotchat readings --key temp --since 10m --format csv > temp.csv
  iotchat readings --data-dir /var/lib/iotchat --format json
  iotchat readings --follow --device esp-1          # new readings as they are stored (tail -f)
  iotchat readings -f --limit 10 --format json      # the last 10, then new ones; JSON Lines

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
    /// A JSON array of objects; streamed. With --follow, one object per line (JSON Lines).
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
    /// Go on printing readings as they are stored, until Ctrl-C (like tail -f): first what
    /// --all, --since or --limit select (the last N readings), if given. The table's columns
    /// have fixed widths; --format json prints one JSON object per line (JSON Lines).
    #[arg(short, long)]
    pub follow: bool,
}

/// Runs `iotchat readings`.
pub fn run(args: ReadingsArgs, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let loaded = LoadedProfile::load(args.profile.as_deref())?;
    let at = loaded.at(Some(matches), "store");
    let dir = data_dir(args.store, loaded.profile.store.clone(), &at)?.ok_or_else(no_data_dir)?;
    let since_ms = args
        .since
        .as_deref()
        .map(|text| parse_since(text, SystemTime::now()))
        .transpose()
        .map_err(since_error)?;
    let empty = nothing_found(args.device.as_deref(), args.key.as_deref(), args.since.as_deref());
    let query = Query { device: args.device, key: args.key, since_ms, limit: args.limit, all: args.all };
    if args.follow {
        return follow::run(&dir.value, &dir.origin, query, args.format);
    }
    let reader = Reader::open(&dir.value).map_err(|e| super::store_error(e, &dir.origin))?;
    let mut out = BufWriter::new(io::stdout().lock());
    let written = match args.format {
        Format::Table => {
            table(&reader, &query, &empty, &mut out).and_then(|()| outbox_line(&reader, &mut out))
        }
        Format::Csv => export(&reader, &query, ExportFormat::Csv, &mut out).map(drop),
        Format::Json => export(&reader, &query, ExportFormat::Json, &mut out).map(drop),
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

/// A `--since` that is neither a duration nor a time, as a usage error naming the flag.
fn since_error(e: SinceError) -> ConfigError {
    ConfigError::Invalid { origin: Origin::Flag("--since"), value: e.value, expected: SINCE_EXPECTED.into() }
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

pub(super) const HEADER: [&str; 5] = ["DEVICE", "KEY", "VALUE", "TS", "RECEIVED_AT"];

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
        cells.push(table_cells(row));
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

/// A row's table cells, as shown.
pub(super) fn table_cells(row: &Row) -> [String; 5] {
    let ts = row.ts.map(rfc3339).unwrap_or_else(|| "-".into());
    // Cut as the server console's `clients` cuts a last reading: one long value must not push
    // every other row's times off the screen.
    let value = ellipsis(&row.value.to_string(), VALUE_WIDTH);
    [cell(&row.device), cell(&row.key), value, ts, rfc3339(row.received_at)]
}

pub(super) fn write_line<S: AsRef<str>>(
    out: &mut dyn Write,
    cells: &[S; 5],
    widths: &[usize; 5],
) -> io::Result<()> {
    let mut line = String::new();
    for (cell, width) in cells.iter().zip(widths) {
        let cell = cell.as_ref();
        line.push_str(cell);
        line.extend(std::iter::repeat_n(' ', width.saturating_sub(cell.chars().count()) + 2));
    }
    writeln!(out, "{}", line.trim_end())
}

/// Text for a table cell: a newline or other control character would break the layout.
fn cell(text: &str) -> String {
    for_terminal(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_since_names_the_flag_and_what_to_write() {
        let error = since_error(SinceError { value: "yesterday".into() }).to_string();
        assert!(error.contains("--since") && error.contains("yesterday") && error.contains("10m"), "{error}");
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
