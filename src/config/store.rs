//! `[store]` and `--data-dir`: where readings are kept (`serve` writes, `readings` reads).

use std::path::PathBuf;

use super::layer::{At, Section, Sourced};
use super::{ConfigError, Origin};

crate::section! {
    /// `[store]` in a profile, and the same setting as `--data-dir`.
    pub struct StoreSection => StoreMerged {
        /// The data directory, holding readings.db (serve: none by default, and it then keeps no
        /// readings). A relative path is relative to where iotchat runs, in a profile too.
        #[arg(long, value_name = "DIR", env = "IOTCHAT_DATA_DIR", value_parser = any_path)]
        pub data_dir: Option<PathBuf>,
    }
}

/// The data directory, when one is given: the flag, else `$IOTCHAT_DATA_DIR`, else the
/// profile's (`None`: no store; `serve` then keeps no readings, as the milestone 0 and 1
/// profiles do: chat alone needs no file). An empty variable counts as not set; an empty
/// flag or key is an error (a script's `--data-dir "$DIR"` with `DIR` unset must not lose
/// readings without a word).
pub fn data_dir(
    flags: StoreSection,
    profile: StoreSection,
    at: &At<'_>,
) -> Result<Option<Sourced<PathBuf>>, ConfigError> {
    let merged = StoreSection::merge(flags, profile.clone(), at).data_dir;
    match merged {
        Some(Sourced { value, origin }) if value.as_os_str().is_empty() => match origin {
            Origin::Env(_) => data_dir(StoreSection::default(), profile, at),
            origin => {
                let expected = "give a directory, such as iotchat-data".to_owned();
                Err(ConfigError::Invalid { origin, value: String::new(), expected })
            }
        },
        other => Ok(other),
    }
}

/// A path as given, empty too (clap's own parser refuses an empty `$IOTCHAT_DATA_DIR`, which
/// means "not set"; [`data_dir`] refuses an empty flag itself).
fn any_path(text: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(PathBuf::from(text))
}

/// What to say when a command that reads the store is given no data directory.
pub fn no_data_dir() -> ConfigError {
    let earlier = earlier_default_data_dir().map(|dir| dir.display().to_string());
    let earlier = earlier
        .map(|dir| format!(" ({dir} holds readings kept by an earlier iotchat: --data-dir {dir})"))
        .unwrap_or_default();
    ConfigError::Setting {
        origin: Origin::Flag("--data-dir"),
        problem: format!(
            "no data directory given; name the server's: --data-dir DIR, a profile with [store] data_dir \
             (--profile config/m2.toml), or $IOTCHAT_DATA_DIR{earlier}"
        ),
    }
}

/// Where earlier iotchat versions kept readings when no data directory was named
/// (`$XDG_DATA_HOME/iotchat`, else `~/.local/share/iotchat`), if a store is there: serve no
/// longer keeps one by default, and says where the old one is.
pub fn earlier_default_data_dir() -> Option<PathBuf> {
    let env = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let dir = env("XDG_DATA_HOME")
        .map(|d| d.join("iotchat"))
        .or_else(|| env("HOME").map(|h| h.join(".local/share/iotchat")))?;
    dir.join(crate::store::DB_FILE).is_file().then_some(dir)
}
