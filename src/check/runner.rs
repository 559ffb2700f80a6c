//! The thin async runner: executes a [`Scenario`]'s steps over real connections, with the
//! step timeout on every wait, and hands what it heard to [`eval`] for the verdicts.
//! The first failed required step stops the run; the steps after it are reported as skipped.

use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use super::conn::Conn;
use super::eval::{self, Heard, Verdict};
use super::report::{Status, StepResult};
use super::scenario::{Action, Scenario, Step, for_client};
use super::store_check::{self, SentReading};

/// Runs scenarios against one server.
pub struct Runner {
    server: String,
    timeout: Duration,
    store: Option<PathBuf>,
    /// What names the store, in the command's words (`--store`), for the report.
    store_setting: String,
    clients: Vec<Option<Conn>>,
    sent: Vec<SentReading>,
}

impl Runner {
    /// A runner for `server`; `store` is the data directory to verify readings in, if known
    /// (`store_setting` names what sets it, for the report).
    pub fn new(server: String, timeout: Duration, store: Option<PathBuf>, store_setting: String) -> Self {
        Self { server, timeout, store, store_setting, clients: Vec::new(), sent: Vec::new() }
    }

    /// Runs every step in order and returns their results.
    pub async fn run(&mut self, scenario: &Scenario) -> Vec<StepResult> {
        self.clients = (0..scenario.clients).map(|_| None).collect();
        let mut results = Vec::with_capacity(scenario.steps.len());
        let mut stopped = false;
        for step in &scenario.steps {
            if stopped {
                results.push(StepResult::skipped(
                    &step.name,
                    &step.about,
                    step.required,
                    "an earlier required step failed",
                ));
                continue;
            }
            let result = self.step(step, scenario.clients).await;
            stopped = result.status == Status::Failed;
            results.push(result);
        }
        self.clients.clear(); // closes what is still open
        results
    }

    async fn step(&mut self, step: &Step, total: u32) -> StepResult {
        let started = Instant::now();
        let who = step.clients.pick(total);
        let verdicts = match &step.action {
            Action::Connect => self.connect(&who).await,
            Action::Chat(lines) => self.chat(&who, lines).await,
            Action::Close(line) => self.close(&who, line).await,
            Action::Readings { template, count, interval, device } => {
                self.readings(&who, template, *count, *interval, device).await
            }
            Action::Store => match self.store.clone() {
                Some(dir) => vec![store_check::verify(dir, self.sent.clone(), &self.store_setting).await],
                None => {
                    let why = format!(
                        "name the server's data directory ({}) to check that every reading is stored",
                        self.store_setting
                    );
                    return StepResult::skipped(&step.name, &step.about, step.required, &why);
                }
            },
        };
        StepResult::from_verdicts(&step.name, &step.about, step.required, started.elapsed(), verdicts)
    }

    async fn connect(&mut self, who: &[u32]) -> Vec<Verdict> {
        let mut verdicts = Vec::with_capacity(who.len());
        for &n in who {
            let result = Conn::connect(&self.server, self.timeout).await;
            verdicts.push(eval::connect(n, result.as_ref().map(|_| ()).map_err(Clone::clone)));
            self.clients[slot(n)] = result.ok();
        }
        verdicts
    }

    /// Sends one line per client (all clients first, so their messages interleave), then
    /// collects each client's reply and judges it.
    async fn round(&mut self, lines: &[(u32, String)]) -> Vec<(u32, String, Heard)> {
        let mut sent = Vec::with_capacity(lines.len());
        for (n, line) in lines {
            let outcome = match self.clients[slot(*n)].as_mut() {
                Some(conn) => conn.send(line).await.err().map(Heard::Broken),
                None => Some(Heard::Broken("not connected (its connect step failed)".into())),
            };
            sent.push((*n, line.clone(), outcome));
        }
        let deadline = Instant::now() + self.timeout;
        let mut heard = Vec::with_capacity(sent.len());
        for (n, line, failed_send) in sent {
            let h = match (failed_send, self.clients[slot(n)].as_mut()) {
                (Some(h), _) => h,
                (None, Some(conn)) => conn.next(deadline).await,
                (None, None) => Heard::Closed,
            };
            heard.push((n, line, h));
        }
        heard
    }

    async fn chat(&mut self, who: &[u32], lines: &[String]) -> Vec<Verdict> {
        let mut verdicts = Vec::new();
        for line in lines {
            let round: Vec<(u32, String)> = who.iter().map(|&n| (n, for_client(line, n))).collect();
            verdicts.extend(self.judge(&round).await.into_iter().map(|(_, v)| v));
            if verdicts.iter().any(|v| matches!(v, Verdict::Fail(_))) {
                break; // one failure is the finding; later rounds would only wait out timeouts
            }
        }
        verdicts
    }

    async fn judge(&mut self, round: &[(u32, String)]) -> Vec<(usize, Verdict)> {
        let owed: Vec<(u32, String)> = round.iter().map(|(n, l)| (*n, eval::expected_reply(l))).collect();
        let heard = self.round(round).await;
        heard.iter().enumerate().map(|(i, (n, sent, h))| (i, eval::reply(*n, sent, h, &owed))).collect()
    }

    async fn close(&mut self, who: &[u32], line: &str) -> Vec<Verdict> {
        let round: Vec<(u32, String)> = who.iter().map(|&n| (n, for_client(line, n))).collect();
        let replies = self.round(&round).await;
        let mut verdicts = Vec::with_capacity(replies.len());
        for (n, sent, reply) in replies {
            let after = match (&reply, self.clients[slot(n)].as_mut()) {
                // Nothing more to wait for: the reply already failed, or the connection is gone.
                (Heard::Closed | Heard::Broken(_) | Heard::Silent(_), _) | (_, None) => Heard::Closed,
                (_, Some(conn)) => conn.next(Instant::now() + self.timeout).await,
            };
            verdicts.push(eval::close(n, &sent, &reply, &after));
            self.clients[slot(n)] = None;
        }
        verdicts
    }

    async fn readings(
        &mut self,
        who: &[u32],
        template: &str,
        count: u32,
        interval: Duration,
        device: &str,
    ) -> Vec<Verdict> {
        let base_ts = crate::clock::unix_ms();
        let mut verdicts = Vec::new();
        for k in 1..=count {
            let ts = (base_ts + i64::from(k)).to_string();
            let round: Vec<(u32, String)> = who
                .iter()
                .map(|&n| (n, for_client(template, n).replace("{k}", &k.to_string()).replace("{ts}", &ts)))
                .collect();
            for (i, verdict) in self.judge(&round).await {
                if !matches!(verdict, Verdict::Fail(_)) {
                    let (n, line) = &round[i];
                    self.sent.push(SentReading { device: for_client(device, *n), line: line.clone() });
                }
                verdicts.push(verdict);
            }
            if verdicts.iter().any(|v| matches!(v, Verdict::Fail(_))) {
                break;
            }
            if k < count {
                // The devices' period, as a real device waits between readings.
                tokio::time::sleep(interval).await;
            }
        }
        verdicts
    }
}

fn slot(n: u32) -> usize {
    n.saturating_sub(1) as usize
}
