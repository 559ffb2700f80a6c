//! The build profiles in `Cargo.toml` (issue #16): the release binary that users install has no
//! debug info (64.8 MB with line tables, 12.1 MB without), and the `profiling` profile keeps
//! line tables for perf, flamegraphs and callgrind. Building release in a test would take
//! minutes on the shared machine, so this reads the manifest cargo builds from.

use std::path::Path;

fn profile(name: &str) -> toml::Table {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let text = std::fs::read_to_string(&file).expect("Cargo.toml");
    let manifest: toml::Table = text.parse().expect("Cargo.toml is TOML");
    let found = manifest.get("profile").and_then(|p| p.get(name)).and_then(toml::Value::as_table);
    found.unwrap_or_else(|| panic!("Cargo.toml has no [profile.{name}]")).clone()
}

fn value(table: &toml::Table, key: &str) -> Option<String> {
    table.get(key).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
}

#[test]
fn the_release_binary_has_no_debug_info() {
    let release = profile("release");
    let debug = value(&release, "debug");
    assert!(
        matches!(debug.as_deref(), None | Some("false" | "0" | "none")),
        "[profile.release] debug = {debug:?}: debug info belongs in [profile.profiling]"
    );
    let strip = value(&release, "strip");
    assert!(matches!(strip.as_deref(), Some("debuginfo" | "symbols" | "true")), "strip = {strip:?}");
}

#[test]
fn the_profiling_profile_is_release_with_line_tables() {
    let profiling = profile("profiling");
    assert_eq!(value(&profiling, "inherits").as_deref(), Some("release"));
    assert_eq!(value(&profiling, "debug").as_deref(), Some("line-tables-only"));
    // Inherited, release's strip would remove the line tables again.
    assert_eq!(value(&profiling, "strip").as_deref(), Some("none"));
}
