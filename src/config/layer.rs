//! The settings layer's one mechanism: a setting is one field of a section struct that is both
//! the command's flags (`clap::Args`) and the profile's table (`serde::Deserialize`). The
//! [`section!`](crate::section) macro writes the struct and its `merge`: flag > environment > profile, each
//! value kept with its [`Origin`] so that an error names what the user typed (a flag, `$VAR`
//! or `file key section.key`). Defaults and checks are the resolver's, next to the options
//! type they build.
//!
//! Why our own layer and not figment: figment is not among the vendored crates, and what it
//! would add — metadata per value — is the 100 lines here; clap already knows, per flag,
//! whether the command line or the environment gave it ([`clap::ArgMatches::value_source`]).

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use clap::parser::ValueSource;

use super::TbFlagNames;

/// Where a setting's value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag, e.g. `--bind` (or a variable read by hand, named as such).
    Flag(&'static str),
    /// The environment variable a flag reads, e.g. `IOTCHAT_DATA_DIR` (shown as `$IOTCHAT_DATA_DIR`).
    Env(&'static str),
    /// A key in a profile file, e.g. `serve.bind`.
    Profile(PathBuf, &'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "{flag}"),
            Origin::Env(name) => write!(f, "${name}"),
            Origin::Profile(path, key) => write!(f, "{} key {key}", path.display()),
        }
    }
}

/// A setting's name built at run time (`--tls-cert`, `serve.tls.cert`) as a `&'static str`,
/// as the names written in the code are. Bounded: one allocation per distinct name, and a
/// command has about a hundred.
fn interned(name: String) -> &'static str {
    static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(known) = names.get(name.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.into_boxed_str());
    names.insert(leaked);
    leaked
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    /// The value as given.
    pub value: T,
    /// Where.
    pub origin: Origin,
}

impl<T> Sourced<T> {
    /// The same origin, another value (a parsed one).
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Sourced<U> {
        Sourced { value: f(self.value), origin: self.origin }
    }
}

/// A section struct: flags and profile table in one, merged by [`section!`](crate::section).
pub trait Section: clap::Args + Default {
    /// The section with each value's origin.
    type Merged;
    /// Flags (and environment) over the profile's values.
    fn merge(flags: Self, profile: Self, at: &At<'_>) -> Self::Merged;
}

/// A nested section field (`[serve.tls]`): written `tls: Nested<TlsSection>`.
pub type Nested<T> = T;
/// A setting only a profile can give (a table, a list): written `tokens: ProfileOnly<T>`
/// with `#[arg(skip)]`.
pub type ProfileOnly<T> = Option<T>;

/// Where a section is being merged: the command line as parsed, the profile file, the key.
#[derive(Debug, Clone)]
pub struct At<'a> {
    matches: Option<&'a clap::ArgMatches>,
    path: PathBuf,
    key: &'static str,
    /// Put before each flag's name: `tb-` for `serve`'s `--tb-host` (see [`Prefixed`]).
    prefix: &'static str,
    /// A command whose flags are not the section's (`check`'s `--broker`) names them here.
    names: Option<TbFlagNames>,
}

impl<'a> At<'a> {
    /// Section `key` (e.g. `serve`) of the profile at `path` (`None`: no file), under the
    /// command line `matches` (`None`, in tests: every flag value counts as typed).
    pub fn new(matches: Option<&'a clap::ArgMatches>, path: Option<&Path>, key: &'static str) -> Self {
        let path = path.map_or_else(|| PathBuf::from("profile"), Path::to_owned);
        Self { matches, path, key, prefix: "", names: None }
    }

    /// The same, for flags named with `prefix` before the section's names.
    pub fn with_prefix(self, prefix: &'static str) -> Self {
        Self { prefix, ..self }
    }

    /// The same, for a command that names the flags of some fields itself.
    pub fn with_names(self, names: TbFlagNames) -> Self {
        Self { names: Some(names), ..self }
    }

    /// The nested section `key` (e.g. `tls` in `serve`).
    pub fn child(&self, key: &str) -> Self {
        Self { path: self.path.clone(), key: interned(format!("{}.{key}", self.key)), ..*self }
    }

    /// The profile key of a field of this section.
    pub fn key_of(&self, field: &str) -> Origin {
        Origin::Profile(self.path.clone(), interned(format!("{}.{field}", self.key)))
    }

    /// One field: the flag's value (with its flag or variable), else the profile's (a
    /// profile-only field has no flag).
    pub fn pick<T>(
        &self,
        arg: Option<&clap::Arg>,
        field: &str,
        flag: Option<T>,
        key: Option<T>,
    ) -> Option<Sourced<T>> {
        if let Some(value) = flag {
            return Some(Sourced { value, origin: self.flag_origin(arg, field) });
        }
        key.map(|value| Sourced { value, origin: self.key_of(field) })
    }

    fn flag_origin(&self, arg: Option<&clap::Arg>, field: &str) -> Origin {
        if let Some(flag) = self.names.and_then(|names| names.flag_of(field)) {
            return Origin::Flag(flag);
        }
        let prefix = self.prefix;
        let Some(arg) = arg else { return Origin::Flag(flag_name(prefix, field)) };
        let from_env = self.matches.and_then(|m| m.value_source(arg.get_id().as_str()))
            == Some(ValueSource::EnvVariable);
        match (from_env, arg.get_env()) {
            (true, Some(var)) => Origin::Env(interned(var.to_string_lossy().into_owned())),
            _ => Origin::Flag(flag_name(prefix, arg.get_long().unwrap_or(field))),
        }
    }
}

/// The flag of `field` under `prefix`: `("tb-", "token_file")` is `--tb-token-file`.
pub fn flag_name(prefix: &str, field: &str) -> &'static str {
    interned(format!("--{prefix}{}", field.replace('_', "-")))
}

/// The flags of section `S` that the command line gave (typed, or read from the environment),
/// named as the command names them (`prefix`: see [`Prefixed`]).
pub fn given_flags<S: clap::Args>(matches: &clap::ArgMatches, prefix: &str) -> Vec<&'static str> {
    let given = |arg: &clap::Arg| {
        matches!(
            matches.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    args_of::<S>()
        .iter()
        .filter(|a| given(a))
        .map(|a| flag_name(prefix, a.get_long().unwrap_or_default()))
        .collect()
}

/// The clap arguments of a section, in the order of its fields.
pub fn args_of<S: clap::Args>() -> Vec<clap::Arg> {
    S::augment_args(clap::Command::new("section")).get_arguments().cloned().collect()
}

/// How a command names a section's flags when it takes them under a prefix ([`Prefixed`]).
pub trait FlagPrefix {
    /// Put before each flag's name, e.g. `tb-`.
    const PREFIX: &'static str;
    /// The heading of these flags in `--help`.
    const HEADING: &'static str;
    /// Fields whose flags are left out of `--help` (the command refuses them).
    const HIDDEN: &'static [&'static str] = &[];
}

/// Section `S` as flags named `--PREFIX-NAME` (`serve`'s `--tb-host` for `[thingsboard]`'s
/// `host`): the same fields, help and checks, so a setting is still declared once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prefixed<S, P> {
    /// The flags' values.
    pub section: S,
    prefix: std::marker::PhantomData<P>,
}

impl<S: clap::Args, P: FlagPrefix> Prefixed<S, P> {
    fn rename(mut cmd: clap::Command) -> clap::Command {
        let inner = S::augment_args(clap::Command::new("section"));
        for group in inner.get_groups() {
            cmd = cmd.group(group.clone());
        }
        for (order, arg) in args_of::<S>().into_iter().enumerate() {
            let long = interned(format!("{}{}", P::PREFIX, arg.get_long().unwrap_or_default()));
            let hidden = P::HIDDEN.contains(&arg.get_id().as_str()) || arg.is_hide_set();
            let arg = arg.long(long).short(None).hide(hidden).help_heading(P::HEADING).display_order(order);
            cmd = cmd.arg(arg);
        }
        cmd
    }
}

impl<S: clap::Args, P: FlagPrefix> clap::Args for Prefixed<S, P> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        Self::rename(cmd)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::rename(cmd)
    }
}

impl<S: clap::FromArgMatches, P> clap::FromArgMatches for Prefixed<S, P> {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self { section: S::from_arg_matches(matches)?, prefix: std::marker::PhantomData })
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.section.update_from_arg_matches(matches)
    }
}

/// A duration, as flags and profiles write it: `200ms`, `30s`, `1m 30s`, or `0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl std::str::FromStr for Dur {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parsed = humantime::parse_duration(text.trim());
        parsed.map(Dur).map_err(|e| format!("{e}; write a duration such as 500ms, 2s or 1m"))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// Reads a duration from a profile: a string such as `"500ms"` (or `"0"`).
struct DurVisitor;

impl serde::de::Visitor<'_> for DurVisitor {
    type Value = Dur;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as \"500ms\", \"2s\" or \"1m\"")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Dur, E> {
        text.parse().map_err(E::custom)
    }
}

impl<'de> serde::Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurVisitor)
    }
}

/// Writes a section struct (both `clap::Args` and `serde::Deserialize`) and its [`Section`]
/// impl. Each field is `Option<T>` (a flag and a key), `ProfileOnly<T>` (a key; mark it
/// `#[arg(skip)]`) or `Nested<S>` (a sub-table; mark it `#[command(flatten)]` and
/// `#[serde(default)]`). The merged struct has the same fields, each `Option<Sourced<T>>`
/// (nested: `S::Merged`).
#[macro_export]
macro_rules! section {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident => $merged:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $kind:ident < $ty:ty > ),* $(,)?
        }
    ) => {
        #[derive(Debug, Clone, Default, PartialEq, clap::Args, serde::Deserialize)]
        #[serde(default, deny_unknown_fields)]
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field: $kind<$ty>, )*
        }

        #[doc = concat!("[`", stringify!($name), "`] merged: each value with where it came from.")]
        #[derive(Debug, Clone, Default)]
        $vis struct $merged {
            $( #[allow(missing_docs)] $fvis $field: $crate::section!(@merged $kind $ty), )*
        }

        impl $crate::config::layer::Section for $name {
            type Merged = $merged;
            #[allow(unused_assignments, unused_variables, unused_mut)]
            fn merge(flags: Self, profile: Self, at: &$crate::config::layer::At<'_>) -> $merged {
                let args = $crate::config::layer::args_of::<Self>();
                let mut next = 0usize;
                $( let $field = $crate::section!(@pick $kind $ty, $field, flags, profile, at, args, next); )*
                $merged { $( $field, )* }
            }
        }
    };
    (@merged Option $ty:ty) => { Option<$crate::config::layer::Sourced<$ty>> };
    (@merged ProfileOnly $ty:ty) => { Option<$crate::config::layer::Sourced<$ty>> };
    (@merged Nested $ty:ty) => { <$ty as $crate::config::layer::Section>::Merged };
    (@pick Option $ty:ty, $field:ident, $flags:ident, $profile:ident, $at:ident, $args:ident, $next:ident) => {{
        let arg = $args.get($next);
        $next += 1;
        $at.pick(arg, stringify!($field), $flags.$field, $profile.$field)
    }};
    (@pick ProfileOnly $ty:ty, $field:ident, $flags:ident, $profile:ident, $at:ident, $args:ident, $next:ident) => {{
        $at.pick(None, stringify!($field), None, $profile.$field)
    }};
    (@pick Nested $ty:ty, $field:ident, $flags:ident, $profile:ident, $at:ident, $args:ident, $next:ident) => {{
        $next += $crate::config::layer::args_of::<$ty>().len();
        <$ty as $crate::config::layer::Section>::merge($flags.$field, $profile.$field, &$at.child(stringify!($field)))
    }};
}

#[cfg(test)]
#[path = "layer_tests.rs"]
pub(crate) mod tests;
