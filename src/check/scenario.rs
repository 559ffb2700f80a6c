//! The scenario model: a milestone's end-to-end scenario as data (`scenarios/m*.toml`, built
//! into the binary), parsed and validated into [`Scenario`]. Pure: no I/O.
//!
//! A scenario is a list of steps run in order against a set of clients. Each step has an
//! `action`: `connect` (open a connection per client), `chat` (each client sends each line,
//! interleaved across clients, and must get exactly its own upper-cased lines back, in order),
//! `close` (send a line with CLOSE SOCKET: reply, then the server closes), `readings` (send
//! `count` stamped readings per client, every `interval`, each acknowledged), `store` (every
//! reading the scenario sent is stored exactly once).

use std::time::Duration;

use serde::Deserialize;

use super::Milestone;

/// A scenario's file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    title: String,
    /// A number, or `"profile"` for `[check] clients`.
    clients: ClientCount,
    #[serde(rename = "step")]
    steps: Vec<StepFile>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ClientCount {
    Fixed(u32),
    Named(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    name: String,
    action: String,
    #[serde(default)]
    about: String,
    #[serde(default)]
    clients: Option<String>,
    #[serde(default)]
    send: Vec<String>,
    #[serde(default)]
    required: Option<bool>,
    count: Option<u32>,
    interval: Option<String>,
    device: Option<String>,
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// What it checks, in one line.
    pub title: String,
    /// How many clients it uses.
    pub clients: u32,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// One step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Its name in the report, e.g. `close socket`.
    pub name: String,
    /// What the step shows, in one line.
    pub about: String,
    /// Which clients take part.
    pub clients: Clients,
    /// A failure counts (`true`), or is only a warning.
    pub required: bool,
    /// What it does.
    pub action: Action,
}

/// Which clients a step uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clients {
    /// Every client.
    All,
    /// Client 1.
    First,
    /// Every client but the first.
    Others,
}

impl Clients {
    /// The 1-based client numbers out of `total`.
    pub fn pick(self, total: u32) -> Vec<u32> {
        match self {
            Clients::All => (1..=total).collect(),
            Clients::First => vec![1],
            Clients::Others => (2..=total).collect(),
        }
    }
}

/// What a step does. Lines may hold `{n}`, the client's number.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Open a (new) connection per client.
    Connect,
    /// Send each line; expect its capitals back.
    Chat(Vec<String>),
    /// Send the line (it holds CLOSE SOCKET); expect its reply, then the end of the connection.
    Close(String),
    /// Send `count` readings per client from `template` (`{n}`, `{k}` the reading's number,
    /// `{ts}` a unique timestamp), `interval` apart; each must be acknowledged. `device` is the
    /// name they are stored under.
    Readings { template: String, count: u32, interval: Duration, device: String },
    /// Every reading sent so far is in the store exactly once.
    Store,
}

/// A scenario that does not parse or validate: the file, the key, and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("scenario {file} {key}: {message}")]
pub struct ScenarioError {
    /// The scenario file.
    pub file: String,
    /// The key at fault (`step[2].send`), or where TOML failed.
    pub key: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

/// The built-in scenario of a milestone, if it has one.
pub fn builtin(milestone: Milestone) -> Option<(&'static str, &'static str)> {
    match milestone {
        Milestone::M0 => Some(("scenarios/m0.toml", include_str!("../../scenarios/m0.toml"))),
        Milestone::M1 => Some(("scenarios/m1.toml", include_str!("../../scenarios/m1.toml"))),
        Milestone::M2 => Some(("scenarios/m2.toml", include_str!("../../scenarios/m2.toml"))),
        Milestone::M3 => None,
    }
}

/// Parses and validates scenario `text` from `file`; `profile_clients` stands for `"profile"`.
pub fn parse(file: &str, text: &str, profile_clients: u32) -> Result<Scenario, ScenarioError> {
    let err = |key: String, message: String| ScenarioError { file: file.to_owned(), key, message };
    let raw: ScenarioFile =
        toml::from_str(text).map_err(|e| err("(toml)".into(), e.to_string().trim_end().to_owned()))?;
    let clients = match raw.clients {
        ClientCount::Fixed(n) if n >= 1 => n,
        ClientCount::Named(s) if s == "profile" => profile_clients,
        _ => {
            return Err(err(
                "clients".into(),
                "write a number from 1, or \"profile\" for [check] clients".into(),
            ));
        }
    };
    if raw.steps.is_empty() {
        return Err(err("step".into(), "a scenario needs at least one [[step]]".into()));
    }
    let steps = raw
        .steps
        .into_iter()
        .enumerate()
        .map(|(i, s)| step(s).map_err(|(key, message)| err(format!("step[{i}].{key}"), message)))
        .collect::<Result<_, _>>()?;
    Ok(Scenario { title: raw.title, clients, steps })
}

fn step(s: StepFile) -> Result<Step, (&'static str, String)> {
    let clients = match s.clients.as_deref() {
        None | Some("all") => Clients::All,
        Some("first") => Clients::First,
        Some("others") => Clients::Others,
        Some(other) => return Err(("clients", format!("{other:?} is not all, first or others"))),
    };
    let action = match s.action.as_str() {
        "connect" => Action::Connect,
        "chat" if s.send.is_empty() => return Err(("send", "a chat step needs lines to send".into())),
        "chat" => Action::Chat(s.send),
        "close" => match <[String; 1]>::try_from(s.send) {
            Ok([line]) => Action::Close(line),
            Err(_) => return Err(("send", "a close step sends exactly one line".into())),
        },
        "readings" => readings(s.send, s.count, s.interval, s.device)?,
        "store" => Action::Store,
        other => {
            return Err(("action", format!("{other:?} is not connect, chat, close, readings or store")));
        }
    };
    let required = s.required.unwrap_or(true);
    Ok(Step { name: s.name, about: s.about, clients, required, action })
}

fn readings(
    send: Vec<String>,
    count: Option<u32>,
    interval: Option<String>,
    device: Option<String>,
) -> Result<Action, (&'static str, String)> {
    let Ok([template]) = <[String; 1]>::try_from(send) else {
        return Err((
            "send",
            "a readings step has one template line, such as \"temp=2{n}.{k} ts={ts}\"".into(),
        ));
    };
    let count = count
        .filter(|c| (1..=10_000).contains(c))
        .ok_or(("count", "write a count from 1 to 10000".into()))?;
    let interval = humantime::parse_duration(interval.as_deref().unwrap_or("0s").trim())
        .map_err(|e| ("interval", format!("{e}; write a duration such as 500ms, 2s or 1m")))?;
    let device = device.ok_or(("device", "name the device the readings are stored under".into()))?;
    Ok(Action::Readings { template, count, interval, device })
}

/// `line` with `{n}` replaced by the client's number.
pub fn for_client(line: &str, n: u32) -> String {
    line.replace("{n}", &n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_scenario_parses() {
        for m in [Milestone::M0, Milestone::M1, Milestone::M2] {
            let (file, text) = builtin(m).expect("built in");
            let s = parse(file, text, 7).unwrap_or_else(|e| panic!("{e}"));
            assert!(!s.steps.is_empty(), "{file}");
        }
        assert_eq!(parse("m1", builtin(Milestone::M1).expect("m1").1, 7).expect("ok").clients, 7);
        assert!(builtin(Milestone::M3).is_none());
    }

    #[test]
    fn bad_scenarios_name_the_file_and_key() {
        let head = "title = \"t\"\nclients = 1\n";
        let cases = [
            ("[[step]]\nname = \"a\"\naction = \"chat\"\n", "step[0].send"),
            ("[[step]]\nname = \"a\"\naction = \"dance\"\n", "step[0].action"),
            ("[[step]]\nname = \"a\"\naction = \"connect\"\nclients = \"some\"\n", "step[0].clients"),
            ("[[step]]\nname = \"a\"\naction = \"connect\"\nsned = []\n", "sned"),
            ("[[step]]\nname = \"a\"\naction = \"readings\"\nsend = [\"x\"]\n", "step[0].count"),
            ("", "step"),
        ];
        for (body, needle) in cases {
            let e = parse("s.toml", &format!("{head}{body}"), 1).expect_err(needle).to_string();
            assert!(e.contains("s.toml") && e.contains(needle), "{e}");
        }
    }

    #[test]
    fn clients_pick_their_numbers() {
        assert_eq!(Clients::All.pick(3), [1, 2, 3]);
        assert_eq!(Clients::First.pick(3), [1]);
        assert_eq!(Clients::Others.pick(3), [2, 3]);
        assert_eq!(for_client("client {n} says hi", 4), "client 4 says hi");
    }
}
