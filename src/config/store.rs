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
/// profiles do: chat alone needs no file). An empty one counts as not given.
pub fn data_dir(flags: StoreSection, profile: StoreSection, at: &At<'_>) -> Option<Sourced<PathBuf>> {
    let given = |s: StoreSection| StoreSection { data_dir: s.data_dir.filter(|d| !d.as_os_str().is_empty()) };
    StoreSection::merge(given(flags), given(profile), at).data_dir
}

/// A path as given, empty too (clap's own parser refuses an empty `$IOTCHAT_DATA_DIR`, which
/// means "not set").
fn any_path(text: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(PathBuf::from(text))
}

/// What to say when a command that reads the store is given no data directory.
pub fn no_data_dir() -> ConfigError {
    let earlier = earlier_default_data_dir()
        .map(|dir| {
            format!(
                " ({} holds readings kept by an earlier iotchat: --data-dir {})",
                dir.display(),
                dir.display()
            )
        })
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
