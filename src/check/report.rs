//! The report: each step's result, rendered as a checklist for people (✓ / ✗ / ! and timings)
//! or as JSON for machines. Pure: builds strings, prints nothing.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::eval::{Failure, Verdict};

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Everything as required.
    Passed,
    /// Accepted, with warnings.
    Warning,
    /// A required check failed.
    Failed,
    /// Not run (an earlier step failed, or it needs something not given).
    Skipped,
}

/// One step's result.
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    /// The step's name.
    pub name: String,
    /// What it shows.
    pub about: String,
    /// Whether a failure counts.
    pub required: bool,
    /// How it ended.
    pub status: Status,
    /// How long it took, in milliseconds.
    pub millis: u64,
    /// Warnings and remarks, each once.
    pub notes: Vec<String>,
    /// The first failed check, if any.
    pub failure: Option<Failure>,
}

impl StepResult {
    /// The result of verdicts on a step's checks: the worst wins; warnings are kept once each.
    /// A failure of a step that is not required counts as a warning.
    pub fn from_verdicts(
        name: &str,
        about: &str,
        required: bool,
        elapsed: Duration,
        verdicts: Vec<Verdict>,
    ) -> Self {
        let mut notes: Vec<String> = Vec::new();
        let mut failure = None;
        for v in verdicts {
            match v {
                Verdict::Pass => {}
                Verdict::Warn(w) if !notes.contains(&w) => notes.push(w),
                Verdict::Warn(_) => {}
                Verdict::Fail(f) => {
                    failure.get_or_insert(f);
                }
            }
        }
        let status = match (&failure, required, notes.is_empty()) {
            (Some(_), true, _) => Status::Failed,
            (Some(_), false, _) | (None, _, false) => Status::Warning,
            (None, _, true) => Status::Passed,
        };
        let millis = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        Self { name: name.into(), about: about.into(), required, status, millis, notes, failure }
    }

    /// A step that did not run, and why.
    pub fn skipped(name: &str, about: &str, required: bool, why: &str) -> Self {
        let notes = vec![why.to_owned()];
        Self {
            name: name.into(),
            about: about.into(),
            required,
            status: Status::Skipped,
            millis: 0,
            notes,
            failure: None,
        }
    }
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `m0`, `m1`, `m2`.
    pub milestone: String,
    /// The scenario's title.
    pub title: String,
    /// The server checked.
    pub server: String,
    /// How many clients the scenario used.
    pub clients: u32,
    /// Every step, in order.
    pub steps: Vec<StepResult>,
    /// Whether every required step passed (warnings allowed).
    pub passed: bool,
}

impl Report {
    /// Builds the report; `passed` follows from the steps.
    pub fn new(milestone: &str, title: &str, server: &str, clients: u32, steps: Vec<StepResult>) -> Self {
        let passed = steps.iter().all(|s| s.status != Status::Failed);
        Self {
            milestone: milestone.into(),
            title: title.into(),
            server: server.into(),
            clients,
            steps,
            passed,
        }
    }

    /// How many steps ended with `status`.
    pub fn count(&self, status: Status) -> usize {
        self.steps.iter().filter(|s| s.status == status).count()
    }

    /// The checklist for people.
    pub fn text(&self) -> String {
        let plural = if self.clients == 1 { "" } else { "s" };
        let mut out = format!(
            "{} ({}, {} client{plural}) against {}\n",
            self.title, self.milestone, self.clients, self.server
        );
        for step in &self.steps {
            render_step(&mut out, step);
        }
        let verdict = if self.passed { "PASSED" } else { "FAILED" };
        let _ = writeln!(
            out,
            "{verdict}: {} passed, {} with warnings, {} failed, {} skipped",
            self.count(Status::Passed),
            self.count(Status::Warning),
            self.count(Status::Failed),
            self.count(Status::Skipped)
        );
        out
    }

    /// The report for machines: one JSON object.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

fn render_step(out: &mut String, step: &StepResult) {
    let mark = match step.status {
        Status::Passed => "✓",
        Status::Warning => "!",
        Status::Failed => "✗",
        Status::Skipped => "-",
    };
    let optional = if step.required { "" } else { " (optional)" };
    let time = if step.status == Status::Skipped { String::new() } else { format!("  {} ms", step.millis) };
    let _ = writeln!(out, "{mark} {}{optional}{time}", step.name);
    if matches!(step.status, Status::Warning | Status::Failed) {
        let _ = writeln!(out, "    {}", step.about);
    }
    for note in &step.notes {
        let label = if step.status == Status::Skipped { "skipped" } else { "warning" };
        let _ = writeln!(out, "    {label}: {note}");
    }
    if let Some(f) = &step.failure {
        let who = f.client.map(|c| format!(" (client {c})")).unwrap_or_default();
        let _ = writeln!(out, "    {}{who}: {}", if step.required { "failed" } else { "warning" }, f.why);
        if !f.sent.is_empty() {
            let _ = writeln!(out, "      sent:     {:?}", f.sent);
        }
        let _ = writeln!(out, "      expected: {}", quoted(&f.expected));
        let _ = writeln!(out, "      got:      {}", f.got);
    }
}

fn quoted(text: &str) -> String {
    if text.starts_with('"') { text.to_owned() } else { format!("{text:?}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail() -> Verdict {
        Verdict::Fail(Failure {
            client: Some(2),
            sent: "hi".into(),
            expected: "HI".into(),
            got: "\"hi\"".into(),
            why: "the reply is not in capitals".into(),
        })
    }

    #[test]
    fn the_worst_verdict_wins_and_optional_failures_warn() {
        let ms = Duration::from_millis(3);
        let warn = || Verdict::Warn("w".into());
        let s = StepResult::from_verdicts("a", "", true, ms, vec![Verdict::Pass, warn(), warn()]);
        assert_eq!((s.status, s.notes.len()), (Status::Warning, 1));
        assert_eq!(StepResult::from_verdicts("a", "", true, ms, vec![warn(), fail()]).status, Status::Failed);
        assert_eq!(StepResult::from_verdicts("a", "", false, ms, vec![fail()]).status, Status::Warning);
        assert_eq!(StepResult::from_verdicts("a", "", true, ms, vec![Verdict::Pass]).status, Status::Passed);
    }

    #[test]
    fn the_checklist_shows_marks_timings_and_what_failed() {
        let ms = Duration::from_millis(3);
        let steps = vec![
            StepResult::from_verdicts("connect", "", true, ms, vec![Verdict::Pass]),
            StepResult::from_verdicts("capitals", "replies in capitals", true, ms, vec![fail()]),
            StepResult::skipped("close socket", "", true, "an earlier step failed"),
        ];
        let report = Report::new("m0", "Milestone 0", "127.0.0.1:1", 1, steps);
        assert!(!report.passed);
        let text = report.text();
        for needle in [
            "✓ connect  3 ms",
            "✗ capitals  3 ms",
            "failed (client 2): the reply is not in capitals",
            "sent:     \"hi\"",
            "expected: \"HI\"",
            "got:      \"hi\"",
            "- close socket",
            "FAILED: 1 passed, 0 with warnings, 1 failed, 1 skipped",
        ] {
            assert!(text.contains(needle), "{needle:?} not in\n{text}");
        }
        let json: serde_json::Value = serde_json::from_str(&report.json()).expect("json");
        assert_eq!(json["passed"], false);
        assert_eq!(json["steps"][1]["status"], "failed");
        assert_eq!(json["steps"][1]["failure"]["expected"], "HI");
    }
}
