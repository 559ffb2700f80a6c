use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, FromArgMatches};

use super::*;
use crate::config::{LoadedProfile, Profile};

/// Parses `argv` as the flags of section `S`, as a command that flattens it would.
pub(crate) fn flags<S: Args + FromArgMatches>(argv: &[&str]) -> Result<(S, clap::ArgMatches), clap::Error> {
    let matches = S::augment_args(clap::Command::new("t").no_binary_name(true)).try_get_matches_from(argv)?;
    Ok((S::from_arg_matches(&matches)?, matches))
}

/// A profile named `p.toml` with this text.
pub(crate) fn profile(text: &str) -> LoadedProfile {
    LoadedProfile {
        path: Some(PathBuf::from("p.toml")),
        profile: Profile::parse(text).expect("a valid profile"),
    }
}

crate::section! {
    /// A section to try the layer on.
    pub struct TrySection => TryMerged {
        /// A plain setting.
        #[arg(long)]
        pub plain: Option<u64>,
        /// One whose flag is not its key.
        #[arg(long = "other-name")]
        pub renamed: Option<String>,
        /// Only in a profile.
        #[arg(skip)]
        pub table: ProfileOnly<Vec<String>>,
        /// A sub-table.
        #[command(flatten)]
        pub inner: Nested<InnerSection>,
        /// After the sub-table.
        #[arg(long, value_name = "DURATION")]
        pub last: Option<Dur>,
    }
}

crate::section! {
    /// The sub-table.
    pub struct InnerSection => InnerMerged {
        /// In the sub-table.
        #[arg(long = "inner-deep")]
        pub deep: Option<bool>,
    }
}

fn merged(argv: &[&str], text: &str) -> TryMerged {
    #[derive(serde::Deserialize, Default)]
    struct File {
        #[serde(default)]
        t: TrySection,
    }
    let (given, matches) = flags::<TrySection>(argv).expect("valid flags");
    let file: File = toml::from_str(text).expect("valid toml");
    TrySection::merge(given, file.t, &At::new(Some(&matches), Some(std::path::Path::new("p.toml")), "t"))
}

#[test]
fn each_value_says_where_it_came_from() {
    let text = "[t]\nplain = 1\nrenamed = \"k\"\ntable = [\"a\"]\nlast = \"5ms\"\n[t.inner]\ndeep = true\n";
    let m = merged(&["--other-name", "f"], text);
    let origin = |o: Option<Origin>| o.map(|o| o.to_string());
    assert_eq!(origin(m.plain.map(|s| s.origin)), Some("p.toml key t.plain".into()));
    assert_eq!(origin(m.renamed.map(|s| s.origin)), Some("--other-name".into()), "the flag wins");
    assert_eq!(origin(m.table.map(|s| s.origin)), Some("p.toml key t.table".into()));
    assert_eq!(origin(m.inner.deep.map(|s| s.origin)), Some("p.toml key t.inner.deep".into()));
    let last = m.last.expect("set by its alias");
    assert_eq!(
        (last.value.0, last.origin.to_string()),
        (Duration::from_millis(5), "p.toml key t.last".into())
    );
}

#[test]
fn flags_after_a_nested_section_keep_their_names() {
    let m = merged(&["--last", "7ms", "--inner-deep", "true", "--plain", "2"], "");
    assert_eq!(m.last.map(|s| s.origin.to_string()), Some("--last".into()));
    assert_eq!(m.inner.deep.map(|s| s.origin.to_string()), Some("--inner-deep".into()));
    assert_eq!(m.plain.map(|s| (s.value, s.origin.to_string())), Some((2, "--plain".into())));
}

#[test]
fn nothing_given_is_nothing_merged() {
    let m = merged(&[], "");
    assert!(m.plain.is_none() && m.renamed.is_none() && m.table.is_none() && m.inner.deep.is_none());
}

#[test]
fn durations_read_as_people_write_them() {
    let ms = Duration::from_millis;
    for (text, want) in [("200ms", ms(200)), ("1m 30s", ms(90_000)), ("0", ms(0)), (" 2s ", ms(2_000))] {
        assert_eq!(text.parse::<Dur>().map(|d| d.0), Ok(want), "{text}");
    }
    assert!("5".parse::<Dur>().is_err(), "a bare number needs a unit");
    let err = "soon".parse::<Dur>().expect_err("no duration");
    assert!(err.contains("500ms"), "{err}");
}

#[test]
fn a_profile_writes_durations_as_text() {
    #[derive(serde::Deserialize)]
    struct T {
        d: Option<Dur>,
    }
    let t: T = toml::from_str("d = \"2s\"\n").expect("valid");
    assert_eq!(t.d.map(|d| d.0), Some(Duration::from_secs(2)));
    let err = toml::from_str::<T>("d = 250\n").err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("a duration such as"), "{err}");
}
