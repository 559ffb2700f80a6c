//! The milestone-3 scenario model: `scenarios/m3.toml` (built in), steps over ThingsBoard's
//! MQTT device API, parsed and validated into [`TbScenario`]; and the payload templates.
//! Pure: no I/O. The TCP model of m0–m2 ([`super::scenario`]) does not fit MQTT sessions,
//! topics and PUBACKs, so m3 has its own small model and runner.

use serde::Deserialize;

use super::scenario::ScenarioError;

/// The built-in m3 scenario: file name and text.
pub const BUILTIN: (&str, &str) = ("scenarios/m3.toml", include_str!("../../scenarios/m3.toml"));

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRaw {
    title: String,
    #[serde(rename = "step")]
    steps: Vec<StepRaw>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepRaw {
    name: String,
    action: String,
    #[serde(default)]
    about: String,
    required: Option<bool>,
    topic: Option<String>,
    payload: Option<String>,
    #[serde(default)]
    watch: bool,
    request: Option<String>,
}

/// A validated m3 scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct TbScenario {
    /// What it checks, in one line.
    pub title: String,
    /// The steps, in order.
    pub steps: Vec<TbStep>,
}

/// One step.
#[derive(Debug, Clone, PartialEq)]
pub struct TbStep {
    /// Its name in the report.
    pub name: String,
    /// What it shows.
    pub about: String,
    /// A failure counts (`true`), or is only a warning.
    pub required: bool,
    /// What it does.
    pub action: TbAction,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum TbAction {
    /// The device's session connects with the token.
    Connect,
    /// Publish `payload` (a template) on `topic` at QoS 1; with `watch`, a second session
    /// subscribes to `topic` first.
    Publish {
        /// The topic.
        topic: String,
        /// The payload template.
        payload: String,
        /// Watch it arrive (for the next `arrives` step).
        watch: bool,
    },
    /// The last watched publish arrived on the second session.
    Arrives,
    /// A request (a template) goes to the device, its answer comes back.
    Rpc {
        /// `{"method":..,"params":..}`.
        request: String,
    },
}

/// Parses and validates m3 scenario `text` from `file`.
pub fn parse(file: &str, text: &str) -> Result<TbScenario, ScenarioError> {
    let err = |key: String, message: String| ScenarioError { file: file.to_owned(), key, message };
    let raw: FileRaw =
        toml::from_str(text).map_err(|e| err("(toml)".into(), e.to_string().trim_end().to_owned()))?;
    if raw.steps.is_empty() {
        return Err(err("step".into(), "a scenario needs at least one [[step]]".into()));
    }
    let mut watched = false;
    let mut steps = Vec::with_capacity(raw.steps.len());
    for (i, s) in raw.steps.into_iter().enumerate() {
        let step = step(s, watched).map_err(|(key, message)| err(format!("step[{i}].{key}"), message))?;
        watched |= matches!(step.action, TbAction::Publish { watch: true, .. });
        steps.push(step);
    }
    Ok(TbScenario { title: raw.title, steps })
}

fn step(s: StepRaw, watched: bool) -> Result<TbStep, (&'static str, String)> {
    let action = match s.action.as_str() {
        "connect" => TbAction::Connect,
        "publish" => {
            let topic = s.topic.filter(|t| !t.is_empty()).ok_or(("topic", "name the topic".into()))?;
            let payload = s.payload.ok_or(("payload", "write the payload template".into()))?;
            TbAction::Publish { topic, payload, watch: s.watch }
        }
        "arrives" if !watched => {
            return Err(("action", "an arrives step needs an earlier publish with watch = true".into()));
        }
        "arrives" => TbAction::Arrives,
        "rpc" => match s.request {
            Some(request)
                if serde_json::from_str::<serde_json::Value>(&fill(&request, 1, 1, "0")).is_ok() =>
            {
                TbAction::Rpc { request }
            }
            _ => return Err(("request", "write the request as JSON, e.g. {\"method\":\"ping\"}".into())),
        },
        other => return Err(("action", format!("{other:?} is not connect, publish, arrives or rpc"))),
    };
    Ok(TbStep { name: s.name, about: s.about, required: s.required.unwrap_or(true), action })
}

/// `template` with `{n}` (the run's number), `{ts}` (Unix ms) and `{version}` filled in.
pub fn fill(template: &str, n: u32, ts: i64, version: &str) -> String {
    template.replace("{n}", &n.to_string()).replace("{ts}", &ts.to_string()).replace("{version}", version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_scenario_parses_into_the_five_steps() {
        let s = parse(BUILTIN.0, BUILTIN.1).unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = s.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "connect",
                "telemetry acknowledged",
                "telemetry arrives",
                "attributes acknowledged",
                "rpc answered"
            ]
        );
        assert!(
            matches!(&s.steps[1].action, TbAction::Publish { watch: true, topic, .. } if topic == "v1/devices/me/telemetry")
        );
        assert_eq!(s.steps.iter().filter(|s| !s.required).count(), 2);
    }

    #[test]
    fn payload_templates_fill_in() {
        let t = r#"{"ts":{ts},"values":{"check":{n}}}"#;
        assert_eq!(fill(t, 7, 1_700_000_000_000, "x"), r#"{"ts":1700000000000,"values":{"check":7}}"#);
        assert_eq!(fill(r#"{"check_version":"{version}"}"#, 1, 1, "0.3.0"), r#"{"check_version":"0.3.0"}"#);
    }

    #[test]
    fn bad_scenarios_name_the_file_and_key() {
        let head = "title = \"t\"\n";
        let cases = [
            ("[[step]]\nname = \"a\"\naction = \"publish\"\npayload = \"x\"\n", "step[0].topic"),
            ("[[step]]\nname = \"a\"\naction = \"arrives\"\n", "step[0].action"),
            ("[[step]]\nname = \"a\"\naction = \"rpc\"\nrequest = \"{\"\n", "step[0].request"),
            ("[[step]]\nname = \"a\"\naction = \"dance\"\n", "step[0].action"),
            ("[[step]]\nname = \"a\"\naction = \"connect\"\ntopik = \"t\"\n", "topik"),
            ("step = []\n", "step"),
        ];
        for (body, needle) in cases {
            let e = parse("m3.toml", &format!("{head}{body}")).expect_err(needle).to_string();
            assert!(e.contains("m3.toml") && e.contains(needle), "{e}");
        }
    }
}
