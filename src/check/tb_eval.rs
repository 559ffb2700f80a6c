//! Verdicts of the m3 steps: given what a session sent and what came back (CONNACK, PUBACK,
//! a message, or nothing), pass, fail or warn. Pure: the runner records, this judges.
//!
//! Real ThingsBoard does not echo a device's own telemetry back to it, nor let a device send
//! itself RPC requests; those checks therefore warn, pointing to where ThingsBoard shows the
//! same thing, while a plain broker (mosquitto) passes them.

use std::time::Duration;

use super::eval::{Failure, Verdict};
use crate::thingsboard::{CredentialKind, refusal};

/// The outcome of a request that expects one answer (CONNECT → CONNACK, PUBLISH → PUBACK).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The answer came (CONNACK 0, PUBACK).
    Done,
    /// CONNACK with this refusal code, to a login with this kind of credentials.
    Refused(u8, CredentialKind),
    /// The connection failed or dropped.
    Error(String),
    /// The TLS handshake failed: why, and what to do.
    Tls(String),
    /// Nothing within the step's timeout.
    Silent(Duration),
}

impl Answer {
    fn describe(&self) -> String {
        match self {
            Answer::Done => "the answer".into(),
            Answer::Refused(code, _) => format!("CONNACK {code}"),
            Answer::Error(e) => format!("a connection error: {e}"),
            Answer::Tls(e) => format!("a TLS error: {e}"),
            Answer::Silent(t) => format!("nothing within {}", humantime::format_duration(*t)),
        }
    }
}

/// What a subscribed session got while waiting for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// A message on the awaited topic.
    Message(String),
    /// Subscribing (or connecting the second session) failed.
    NotSubscribed(String),
    /// The session failed while waiting.
    Error(String),
    /// Nothing within the step's timeout.
    Silent(Duration),
}

impl Arrival {
    fn describe(&self) -> String {
        match self {
            Arrival::Message(m) => format!("{m:?}"),
            Arrival::NotSubscribed(e) => format!("no subscription: {e}"),
            Arrival::Error(e) => format!("a connection error: {e}"),
            Arrival::Silent(t) => format!("nothing within {}", humantime::format_duration(*t)),
        }
    }
}

/// Said when telemetry could not be seen coming back.
pub const TELEMETRY_ON_TB: &str = "real ThingsBoard does not let a device subscribe to its own telemetry: \
     check that it arrived in the device's Latest telemetry tab (a plain broker passes this step)";
/// Said when the RPC round trip could not be made.
pub const RPC_ON_TB: &str = "on real ThingsBoard RPC requests come from the server, not from a device, and \
     the answer goes back to the caller: send one from a dashboard's RPC widget or the REST API and watch \
     `iotchat tb-publish --rpc` answer (a plain broker passes this step)";

fn failure(sent: &str, expected: &str, got: String, why: String) -> Verdict {
    Verdict::Fail(Failure { client: None, sent: sent.into(), expected: expected.into(), got, why })
}

/// Judges the device's CONNECT to `addr`.
/// `setting` names what sets the broker (the command's words, e.g. `--broker`).
pub fn connect(addr: &str, setting: &str, answer: &Answer) -> Verdict {
    let why = match answer {
        Answer::Done => return Verdict::Pass,
        Answer::Refused(code, kind) => refusal(*code, *kind),
        Answer::Tls(why) => format!("the TLS handshake with {addr} failed: {why}"),
        Answer::Error(_) => format!(
            "cannot connect to {addr}: is ThingsBoard (or an MQTT broker) running there? check {setting}"
        ),
        Answer::Silent(_) => format!("no CONNACK from {addr}: is it reachable (firewall?) and an MQTT port?"),
    };
    failure("CONNECT (with the device's credentials, <hidden>)", "CONNACK 0", answer.describe(), why)
}

/// Judges a QoS 1 publish of `payload` on `topic`.
pub fn acked(topic: &str, payload: &str, answer: &Answer) -> Verdict {
    let why = match answer {
        Answer::Done => return Verdict::Pass,
        Answer::Refused(code, kind) => refusal(*code, *kind),
        Answer::Tls(why) => format!("TLS failed: {why}"),
        Answer::Error(_) => {
            format!("the broker dropped the session instead of acknowledging: is {topic} a topic it takes?")
        }
        Answer::Silent(_) => "no PUBACK: a QoS 1 publish must be acknowledged".into(),
    };
    failure(&format!("{topic} {payload}"), "PUBACK", answer.describe(), why)
}

/// Judges the arrival of `payload` (published on `topic`) on a second session.
pub fn arrived(topic: &str, payload: &str, arrival: &Arrival) -> Verdict {
    let why = match arrival {
        Arrival::Message(m) if m == payload => return Verdict::Pass,
        Arrival::Message(_) => "a different payload arrived on the topic".into(),
        _ => TELEMETRY_ON_TB.into(),
    };
    failure(&format!("{topic} {payload}"), payload, arrival.describe(), why)
}

/// Where an RPC round trip stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcOutcome {
    /// The answer arrived on the response topic.
    Answered(Arrival),
    /// The request did not reach the device.
    NoRequest(Arrival),
    /// The request reached the device but is not valid (`why`).
    BadRequest(String),
    /// Sending the request or the answer failed.
    NotSent(Answer),
}

/// Judges the RPC round trip of `request`, whose answer must be `expected`.
pub fn rpc(request: &str, expected: &str, outcome: &RpcOutcome) -> Verdict {
    let (got, why) = match outcome {
        RpcOutcome::Answered(Arrival::Message(m)) if m == expected => return Verdict::Pass,
        RpcOutcome::Answered(Arrival::Message(m)) => (format!("{m:?}"), "a different answer arrived".into()),
        RpcOutcome::Answered(a) => (a.describe(), format!("the answer did not come back; {RPC_ON_TB}")),
        RpcOutcome::NoRequest(a) => {
            (a.describe(), format!("the request did not reach the device; {RPC_ON_TB}"))
        }
        RpcOutcome::BadRequest(e) => (e.clone(), "the device got the request but cannot read it".into()),
        RpcOutcome::NotSent(a) => {
            (a.describe(), format!("the broker did not take the request or answer; {RPC_ON_TB}"))
        }
    };
    failure(request, expected, got, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(v: Verdict) -> String {
        match v {
            Verdict::Fail(f) => f.why,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn connects_in_a_table() {
        assert_eq!(
            connect("h:1", "--broker (or [thingsboard] host in the profile)", &Answer::Done),
            Verdict::Pass
        );
        let cases = [
            (Answer::Refused(5, CredentialKind::AccessToken), "CONNACK 5"),
            (Answer::Refused(4, CredentialKind::AccessToken), "empty"),
            (Answer::Refused(5, CredentialKind::Certificate), "client certificate"),
            (Answer::Tls("received fatal alert: CertificateRequired (give --cert)".into()), "TLS handshake"),
            (Answer::Error("refused".into()), "--broker"),
            (Answer::Silent(Duration::from_secs(2)), "no CONNACK"),
        ];
        for (answer, needle) in cases {
            let w = why(connect("h:1", "--broker (or [thingsboard] host in the profile)", &answer));
            assert!(w.contains(needle), "{answer:?}: {w}");
        }
        let Verdict::Fail(f) = connect(
            "h:1",
            "--broker (or [thingsboard] host in the profile)",
            &Answer::Refused(5, CredentialKind::Basic),
        ) else {
            panic!()
        };
        assert_eq!((f.expected.as_str(), f.got.as_str()), ("CONNACK 0", "CONNACK 5"));
    }

    #[test]
    fn publishes_arrivals_and_rpcs_in_a_table() {
        assert_eq!(acked("t", "{}", &Answer::Done), Verdict::Pass);
        assert!(why(acked("t", "{}", &Answer::Silent(Duration::from_secs(1)))).contains("no PUBACK"));
        assert_eq!(arrived("t", "{}", &Arrival::Message("{}".into())), Verdict::Pass);
        assert!(why(arrived("t", "{}", &Arrival::Message("{ }".into()))).contains("different"));
        assert!(
            why(arrived("t", "{}", &Arrival::Silent(Duration::from_secs(1)))).contains("Latest telemetry")
        );
        assert!(why(arrived("t", "{}", &Arrival::NotSubscribed("x".into()))).contains("Latest telemetry"));
        let ok = RpcOutcome::Answered(Arrival::Message("{\"n\":1}".into()));
        assert_eq!(rpc("r", "{\"n\":1}", &ok), Verdict::Pass);
        let lost = RpcOutcome::NoRequest(Arrival::Silent(Duration::from_secs(1)));
        assert!(why(rpc("r", "{\"n\":1}", &lost)).contains("RPC widget"));
        assert!(why(rpc("r", "1", &RpcOutcome::BadRequest("no method".into()))).contains("cannot read"));
    }
}
