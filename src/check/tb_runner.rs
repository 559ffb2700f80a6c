//! The thin async runner of the m3 scenario: two ThingsBoard device sessions (the device, and
//! a watcher with the same credentials), the step timeout on every wait; [`tb_eval`] judges.
//! The first failed required step stops the run; the steps after it are skipped.

use std::time::Duration;

use tokio::time::{Instant, timeout};

use super::eval::Verdict;
use super::report::{Status, StepResult};
use super::tb_eval::{self, Answer, Arrival, RpcOutcome};
use super::tb_scenario::{TbAction, TbScenario, TbStep, fill};
use std::sync::Arc;

use crate::thingsboard::Advice;
use crate::thingsboard::session::{TbDevice, TbError, TbOptions};
use crate::thingsboard::{Credentials, RPC_REQUEST_PREFIX, RPC_REQUESTS, RpcRequest};

const RPC_RESPONSES: &str = "v1/devices/me/rpc/response/+";

/// Runs the m3 scenario against one broker.
pub struct TbRunner {
    options: TbOptions,
    /// What `check` calls the settings, for the advice of a failed connection.
    names: Arc<dyn Advice>,
    /// What gave the broker's host, for a broker that cannot be reached.
    host_setting: String,
    timeout: Duration,
    n: u32,
    device: Option<TbDevice>,
    watcher: Option<TbDevice>,
    /// The last watched publish: topic, payload, and why the watcher is not subscribed.
    watched: Option<(String, String, Option<String>)>,
}

impl TbRunner {
    /// A runner with these connection options (and `names`, the command's for them, to advise
    /// in); `n` makes the run's payloads unique.
    pub fn new(
        options: TbOptions,
        names: Arc<dyn Advice>,
        host_setting: String,
        timeout: Duration,
        n: u32,
    ) -> Self {
        Self { options, names, host_setting, timeout, n, device: None, watcher: None, watched: None }
    }

    /// `host:port` of the broker.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.options.host, self.options.port)
    }

    /// Runs every step in order and returns their results.
    pub async fn run(&mut self, scenario: &TbScenario) -> Vec<StepResult> {
        let mut results = Vec::with_capacity(scenario.steps.len());
        let mut stopped = false;
        for step in &scenario.steps {
            if stopped {
                let why = "an earlier required step failed";
                results.push(StepResult::skipped(&step.name, &step.about, step.required, why));
                continue;
            }
            let started = Instant::now();
            let verdict = self.step(step).await;
            let result = StepResult::from_verdicts(
                &step.name,
                &step.about,
                step.required,
                started.elapsed(),
                vec![verdict],
            );
            stopped = result.status == Status::Failed;
            results.push(result);
        }
        self.device = None; // drops both sessions
        self.watcher = None;
        results
    }

    async fn step(&mut self, step: &TbStep) -> Verdict {
        match &step.action {
            TbAction::Connect => {
                let (device, answer) = self.connect().await;
                self.device = device;
                tb_eval::connect(&self.addr(), &self.host_setting, &answer)
            }
            TbAction::Publish { topic, payload, watch } => {
                let payload = fill(payload, self.n, crate::clock::unix_ms(), env!("CARGO_PKG_VERSION"));
                if *watch {
                    let not_subscribed = self.watch(topic).await.err();
                    self.watched = Some((topic.clone(), payload.clone(), not_subscribed));
                }
                let answer = publish(self.device.as_mut(), &*self.names, topic, &payload, self.timeout).await;
                tb_eval::acked(topic, &payload, &answer)
            }
            TbAction::Arrives => {
                let (topic, payload, not_subscribed) = self.watched.clone().unwrap_or_default();
                let arrival = match not_subscribed {
                    Some(why) => Arrival::NotSubscribed(why),
                    None => receive(self.watcher.as_mut(), &topic, self.timeout).await,
                };
                tb_eval::arrived(&topic, &payload, &arrival)
            }
            TbAction::Rpc { request } => {
                let request = fill(request, self.n, crate::clock::unix_ms(), env!("CARGO_PKG_VERSION"));
                let expected = serde_json::from_str::<serde_json::Value>(&request)
                    .ok()
                    .and_then(|r| r.get("params").cloned())
                    .unwrap_or_default()
                    .to_string();
                let outcome = self.rpc(&request).await;
                tb_eval::rpc(&request, &expected, &outcome)
            }
        }
    }

    async fn connect(&self) -> (Option<TbDevice>, Answer) {
        match timeout(self.timeout, TbDevice::connect(&self.options)).await {
            Ok(Ok(device)) => (Some(device), Answer::Done),
            Ok(Err(e)) => (None, answer(e, &*self.names)),
            Err(_) => (None, Answer::Silent(self.timeout)),
        }
    }

    /// Connects the watcher if needed and subscribes it to `topic`.
    async fn watch(&mut self, topic: &str) -> Result<(), String> {
        if let Credentials::Basic { client_id: Some(_), .. } = &self.options.credentials {
            // A second session with the same client id would push the device's off the broker.
            return Err("no second session: these basic MQTT credentials carry a client id, which one \
                        session at a time may use"
                .into());
        }
        if self.watcher.is_none() {
            match self.connect().await {
                (Some(w), _) => self.watcher = Some(w),
                (None, a) => return Err(format!("the second session did not connect ({a:?})")),
            }
        }
        let watcher = self.watcher.as_mut().ok_or("no second session")?;
        match timeout(self.timeout, watcher.subscribe(topic)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no SUBACK within {}", humantime::format_duration(self.timeout))),
        }
    }

    /// The device takes requests; the watcher sends one and waits for the answer.
    async fn rpc(&mut self, request: &str) -> RpcOutcome {
        let id = self.n.to_string();
        let subscribed = match self.device.as_mut() {
            Some(d) => timeout(self.timeout, d.subscribe(RPC_REQUESTS)).await,
            None => return RpcOutcome::NotSent(Answer::Error("the device is not connected".into())),
        };
        if let Some(why) = subscription_error(subscribed, self.timeout) {
            return RpcOutcome::NoRequest(Arrival::NotSubscribed(why));
        }
        if let Err(why) = self.watch(RPC_RESPONSES).await {
            return RpcOutcome::Answered(Arrival::NotSubscribed(why));
        }
        let topic = format!("{RPC_REQUEST_PREFIX}{id}");
        let sent = publish(self.watcher.as_mut(), &*self.names, &topic, request, self.timeout).await;
        if sent != Answer::Done {
            return RpcOutcome::NotSent(sent);
        }
        let got = match receive(self.device.as_mut(), &topic, self.timeout).await {
            Arrival::Message(m) => m,
            other => return RpcOutcome::NoRequest(other),
        };
        let parsed = match RpcRequest::parse(&topic, got.as_bytes()) {
            Ok(r) => r,
            Err(e) => return RpcOutcome::BadRequest(e),
        };
        let response = parsed.response_topic();
        let params = parsed.params.to_string();
        let answer = publish(self.device.as_mut(), &*self.names, &response, &params, self.timeout).await;
        if answer != Answer::Done {
            return RpcOutcome::NotSent(answer);
        }
        RpcOutcome::Answered(receive(self.watcher.as_mut(), &response, self.timeout).await)
    }
}

fn subscription_error(
    result: Result<Result<(), TbError>, tokio::time::error::Elapsed>,
    limit: Duration,
) -> Option<String> {
    match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no SUBACK within {}", humantime::format_duration(limit))),
    }
}

/// Publishes at QoS 1 and waits for the PUBACK.
async fn publish(
    session: Option<&mut TbDevice>,
    names: &dyn Advice,
    topic: &str,
    payload: &str,
    limit: Duration,
) -> Answer {
    let Some(session) = session else {
        return Answer::Error("the session is not connected".into());
    };
    let sent = async {
        session.publish(topic, payload.as_bytes().to_vec()).await?;
        session.flush().await
    };
    match timeout(limit, sent).await {
        Ok(Ok(())) => Answer::Done,
        Ok(Err(e)) => answer(e, names),
        Err(_) => Answer::Silent(limit),
    }
}

/// The next message on `topic` (others are skipped), within `limit`.
async fn receive(session: Option<&mut TbDevice>, topic: &str, limit: Duration) -> Arrival {
    let Some(session) = session else {
        return Arrival::NotSubscribed("the session is not connected".into());
    };
    let wait = async {
        loop {
            let (t, payload) = session.recv_message().await?;
            if t == topic {
                return Ok::<_, TbError>(String::from_utf8_lossy(&payload).into_owned());
            }
        }
    };
    match timeout(limit, wait).await {
        Ok(Ok(m)) => Arrival::Message(m),
        Ok(Err(e)) => Arrival::Error(e.to_string()),
        Err(_) => Arrival::Silent(limit),
    }
}

/// What a session's error says, the advice in `check`'s own flags (`names`).
fn answer(e: TbError, names: &dyn Advice) -> Answer {
    match e {
        TbError::Refused { code, kind } => Answer::Refused(code, kind),
        TbError::Tls { cause, problem, .. } => {
            Answer::Tls(format!("{cause} ({})", names.tls_advice(problem)))
        }
        TbError::Unreachable { cause, .. } | TbError::Lost { cause, .. } => Answer::Error(cause),
        other => Answer::Error(names.explain(&other)),
    }
}
