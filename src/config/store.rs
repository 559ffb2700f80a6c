//! `[store]` and `--data-dir`: where readings are kept (`serve` writes, `readings` reads).

use std::path::PathBuf;

use super::{ConfigError, Origin};

crate::section! {
    /// `[store]` in a profile, and the same setting as `--data-dir`.
    pub struct StoreSection => StoreMerged {
        /// The data directory: readings are kept in DIR/readings.db [default: none, and serve
        /// then keeps no readings: chat only]. A relative path is relative to where iotchat
        /// runs, in a profile too.
        #[arg(long, value_name = "DIR", env = "IOTCHAT_DATA_DIR")]
        pub data_dir: Option<PathBuf>,
    }
}

/// The data directory, when one is given (`None`: no store; `serve` then keeps no readings,
/// as the milestone 0 and 1 profiles do: chat alone needs no file).
pub fn data_dir(m: StoreMerged) -> Option<PathBuf> {
    m.data_dir.map(|s| s.value).filter(|dir| !dir.as_os_str().is_empty())
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
