//! ThingsBoard's MQTT device API, as data: topics, payloads built from readings, server-side
//! RPC requests and replies, what a refused CONNACK means and what a failed TLS handshake most
//! likely means ([`TlsProblem`]). No I/O; `session.rs` is the thin rumqttc layer that speaks it.
//!
//! No setting is named here: the commands call them differently (`--tb-host` for `serve`,
//! `--host` for `tb-publish`, `--broker` for `check`). Errors carry structured causes
//! ([`session::TbError`], [`TlsProblem`]) and the settings layer words the advice in the
//! command's own flags (`config::TbFlagNames::explain`).

pub mod batch;
pub mod limits;
pub mod session;
pub mod source;

use serde_json::{Map, Value as Json, json};

use crate::protocol::reading::{Reading, Value};
use crate::secret::Secret;

/// How a command words ThingsBoard problems in its own flags (`--host` for `tb-publish`,
/// `--broker` for `check`): this module reports causes and names no setting; the settings
/// layer's `TbFlagNames` implements this for each command.
pub trait Advice: Send + Sync + std::fmt::Debug {
    /// The error's text, then what to check.
    fn explain(&self, error: &session::TbError) -> String;
    /// What to do about a failed TLS handshake.
    fn tls_advice(&self, problem: TlsProblem) -> String;
}

/// Telemetry from the device.
pub const TELEMETRY: &str = "v1/devices/me/telemetry";
/// Client-side attributes from the device (and shared-attribute updates to it).
pub const ATTRIBUTES: &str = "v1/devices/me/attributes";
/// Server-side RPC requests arrive on `RPC_REQUEST_PREFIX<id>`.
pub const RPC_REQUEST_PREFIX: &str = "v1/devices/me/rpc/request/";
/// The subscription that receives every server-side RPC request.
pub const RPC_REQUESTS: &str = "v1/devices/me/rpc/request/+";
/// ThingsBoard's default largest payload (`NETTY_MAX_PAYLOAD_SIZE`); bigger closes the session.
pub const MAX_PAYLOAD: usize = 65_536;

/// A reading as one ThingsBoard telemetry entry: `{"ts":..,"values":{..}}` when the device
/// stamped it, otherwise the flat `{..}` (ThingsBoard then stamps it on arrival).
pub fn telemetry_entry(reading: &Reading) -> Json {
    let values = values_object(reading);
    match reading.ts {
        Some(ts) => json!({ "ts": ts, "values": values }),
        None => Json::Object(values),
    }
}

/// A reading's values as a flat JSON object, e.g. for client attributes.
pub fn values_object(reading: &Reading) -> Map<String, Json> {
    reading.values.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()
}

fn to_json(value: &Value) -> Json {
    match value {
        Value::Int(i) => json!(i),
        Value::Float(f) => json!(f),
        Value::Bool(b) => json!(b),
        Value::Text(t) => json!(t),
    }
}

/// A server-side RPC request, from its topic and payload.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcRequest {
    /// The request id, from the topic; the reply goes to `v1/devices/me/rpc/response/<id>`.
    pub id: String,
    /// The method, e.g. `getTime`.
    pub method: String,
    /// Its parameters (`null` when absent).
    pub params: Json,
}

impl RpcRequest {
    /// Parses a publish on `v1/devices/me/rpc/request/<id>` with `{"method":..,"params":..}`.
    pub fn parse(topic: &str, payload: &[u8]) -> Result<Self, String> {
        let id = topic
            .strip_prefix(RPC_REQUEST_PREFIX)
            .filter(|id| !id.is_empty() && !id.contains('/'))
            .ok_or_else(|| format!("`{topic}` is not an RPC request topic"))?;
        let body: Json =
            serde_json::from_slice(payload).map_err(|e| format!("RPC request {id} is not JSON: {e}"))?;
        let method = body
            .get("method")
            .and_then(Json::as_str)
            .ok_or_else(|| format!("RPC request {id} has no \"method\""))?
            .to_owned();
        let params = body.get("params").cloned().unwrap_or(Json::Null);
        Ok(Self { id: id.to_owned(), method, params })
    }

    /// Where the reply goes.
    pub fn response_topic(&self) -> String {
        format!("v1/devices/me/rpc/response/{}", self.id)
    }
}

/// How a device proves who it is: one of ThingsBoard's three kinds of device credentials.
/// Secrets are [`Secret`]s, so `Debug` never shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// An access token, sent as the MQTT username with no password.
    AccessToken(Secret),
    /// Basic MQTT credentials: a client id, a username and password, or all three.
    Basic {
        /// The MQTT client id (a random one when `None`). Secret: it may be the only credential.
        client_id: Option<Secret>,
        /// The MQTT username.
        username: Option<String>,
        /// The MQTT password (sent only with a username).
        password: Option<Secret>,
    },
    /// An X.509 client certificate, presented in the TLS handshake (it lives in the TLS
    /// settings); the CONNECT carries no username.
    Certificate,
}

/// Which kind of [`Credentials`], for messages: never the secret itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// [`Credentials::AccessToken`].
    AccessToken,
    /// [`Credentials::Basic`].
    Basic,
    /// [`Credentials::Certificate`].
    Certificate,
}

impl Credentials {
    /// Which kind these are.
    pub fn kind(&self) -> CredentialKind {
        match self {
            Credentials::AccessToken(_) => CredentialKind::AccessToken,
            Credentials::Basic { .. } => CredentialKind::Basic,
            Credentials::Certificate => CredentialKind::Certificate,
        }
    }

    /// What goes in the CONNECT packet: (client id, username, password), each if any. MQTT
    /// sends a password only after a username.
    pub fn connect_fields(&self) -> (Option<&str>, Option<&str>, Option<&str>) {
        match self {
            Credentials::AccessToken(token) => (None, Some(token.expose()), None),
            Credentials::Basic { client_id, username, password } => (
                client_id.as_ref().map(Secret::expose),
                username.as_deref(),
                username.as_ref().and(password.as_ref()).map(Secret::expose),
            ),
            Credentials::Certificate => (None, None, None),
        }
    }
}

/// What a refused CONNACK means for a ThingsBoard device logging in with `kind`, and what to do.
pub fn refusal(code: u8, kind: CredentialKind) -> String {
    use CredentialKind::{AccessToken, Basic, Certificate};
    match (code, kind) {
        (4, AccessToken) => "ThingsBoard refused the login (CONNACK 4: bad username or password): the access token is empty or malformed; copy it from the device's page (Copy access token)".into(),
        (5, AccessToken) => "ThingsBoard refused the access token (CONNACK 5: not authorized): no device has this token; copy it from the device's page (Copy access token)".into(),
        (4 | 5, Basic) => format!("ThingsBoard refused the basic MQTT credentials (CONNACK {code}: {}): no device has this client id, username and password; compare them with the device's credentials page (MQTT Basic)", connack_name(code)),
        (4 | 5, Certificate) => format!("ThingsBoard refused the client certificate (CONNACK {code}: {}): no device has it; paste the certificate (PEM) into the device's X.509 credentials, or check that the device profile trusts its CA (if this port does not ask for client certificates, none was sent: use ThingsBoard's MQTT over SSL port, 8883 by default)", connack_name(code)),
        (1, _) => "the broker refused MQTT 3.1.1 (CONNACK 1); is this ThingsBoard's MQTT port?".into(),
        (2, _) => "the broker refused the client id (CONNACK 2)".into(),
        (3, _) => "ThingsBoard's MQTT transport is unavailable (CONNACK 3); try again later".into(),
        (other, _) => format!("the broker refused the connection (CONNACK {other})"),
    }
}

/// What a failed TLS handshake with ThingsBoard most likely means. The advice for each names
/// the command's settings, so the command words it (`config::TbFlagNames::tls_advice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsProblem {
    /// The broker wants a client certificate (X.509 credentials) and got none.
    CertificateRequired,
    /// The broker refused our client certificate: not signed by a CA it trusts, or its chain
    /// is incomplete.
    CertificateRefused,
    /// A bare handshake failure, without a certificate of ours: a TLS 1.2 broker that wants one
    /// says only this, and so may a port that does not speak TLS.
    HandshakeFailure,
    /// Anything else: most often the broker's certificate is not trusted (no CA file, or its
    /// name does not match the host), or the port does not speak TLS.
    Other,
}

impl TlsProblem {
    /// Tells the problem from rustls's description of the failure (`cause`) and the kind of
    /// credentials sent.
    pub fn of(cause: &str, kind: CredentialKind) -> Self {
        if cause.contains("CertificateRequired") {
            return TlsProblem::CertificateRequired;
        }
        let refused_ours =
            ["BadCertificate", "UnknownCA", "CertificateUnknown", "AccessDenied", "DecryptError"];
        if kind == CredentialKind::Certificate && refused_ours.iter().any(|alert| cause.contains(alert)) {
            return TlsProblem::CertificateRefused;
        }
        if kind != CredentialKind::Certificate && cause.contains("HandshakeFailure") {
            return TlsProblem::HandshakeFailure;
        }
        TlsProblem::Other
    }
}

fn connack_name(code: u8) -> &'static str {
    if code == 4 { "bad username or password" } else { "not authorized" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::reading::{Meaning, classify};

    fn reading(text: &str) -> Reading {
        match classify(text) {
            Ok(Meaning::Reading(r)) => r,
            other => panic!("{text:?} is not a reading: {other:?}"),
        }
    }

    #[test]
    fn readings_become_telemetry_entries_with_their_types() {
        assert_eq!(
            telemetry_entry(&reading("temp=21.5 hum=40 ok=true door=open")),
            json!({"temp":21.5,"hum":40,"ok":true,"door":"open"})
        );
        assert_eq!(
            telemetry_entry(&reading("temp=21.5 ts=1700000000000")),
            json!({"ts":1_700_000_000_000_i64,"values":{"temp":21.5}})
        );
    }

    #[test]
    fn rpc_requests_parse_from_topic_and_payload() {
        let r = RpcRequest::parse(
            "v1/devices/me/rpc/request/0",
            br#"{"method":"setGpio","params":{"pin":"23"}}"#,
        )
        .expect("valid");
        assert_eq!((r.id.as_str(), r.method.as_str(), &r.params), ("0", "setGpio", &json!({"pin":"23"})));
        assert_eq!(r.response_topic(), "v1/devices/me/rpc/response/0");
        let no_params =
            RpcRequest::parse("v1/devices/me/rpc/request/7", br#"{"method":"getTime"}"#).expect("valid");
        assert_eq!(no_params.params, Json::Null);
        for (topic, payload, want) in [
            ("v1/devices/me/telemetry", &b"{}"[..], "not an RPC request topic"),
            ("v1/devices/me/rpc/request/", b"{}", "not an RPC request topic"),
            ("v1/devices/me/rpc/request/1", b"nope", "not JSON"),
            ("v1/devices/me/rpc/request/1", br#"{"params":1}"#, "no \"method\""),
        ] {
            let err = RpcRequest::parse(topic, payload).expect_err(topic);
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn refusals_say_what_to_do_for_each_kind_of_credentials() {
        use CredentialKind::{AccessToken, Basic, Certificate};
        let cases = [
            (5, AccessToken, "no device has this token"),
            (4, AccessToken, "empty or malformed"),
            (5, Basic, "basic MQTT credentials (CONNACK 5: not authorized)"),
            (4, Basic, "basic MQTT credentials (CONNACK 4: bad username or password)"),
            (5, Certificate, "client certificate (CONNACK 5"),
            (4, Certificate, "X.509 credentials"),
            (3, Basic, "unavailable (CONNACK 3)"),
            (9, Certificate, "refused the connection (CONNACK 9)"),
        ];
        for (code, kind, want) in cases {
            let text = refusal(code, kind);
            assert!(text.contains(want), "{code} {kind:?}: {text}");
        }
    }

    #[test]
    fn tls_failures_are_told_apart_by_alert_and_credentials() {
        use CredentialKind::{AccessToken, Basic, Certificate};
        use TlsProblem::{CertificateRefused, CertificateRequired, HandshakeFailure, Other};
        let cases = [
            ("received fatal alert: CertificateRequired", AccessToken, CertificateRequired),
            ("received fatal alert: CertificateRequired", Certificate, CertificateRequired),
            ("received fatal alert: UnknownCA", Certificate, CertificateRefused),
            ("received fatal alert: DecryptError", Certificate, CertificateRefused),
            ("received fatal alert: HandshakeFailure", AccessToken, HandshakeFailure),
            ("received fatal alert: HandshakeFailure", Basic, HandshakeFailure),
            ("received fatal alert: HandshakeFailure", Certificate, Other),
            ("invalid peer certificate: UnknownIssuer", AccessToken, Other),
            ("received fatal alert: UnknownCA", AccessToken, Other),
        ];
        for (cause, kind, want) in cases {
            assert_eq!(TlsProblem::of(cause, kind), want, "{cause} {kind:?}");
        }
    }

    #[test]
    fn credentials_fill_the_connect_packet_and_never_show_secrets() {
        let token = Credentials::AccessToken(Secret::new("s3cret"));
        assert_eq!(token.connect_fields(), (None, Some("s3cret"), None));
        let basic = Credentials::Basic {
            client_id: Some(Secret::new("c1d")),
            username: Some("u1".into()),
            password: Some(Secret::new("p4ss")),
        };
        assert_eq!(basic.connect_fields(), (Some("c1d"), Some("u1"), Some("p4ss")));
        let no_user =
            Credentials::Basic { client_id: None, username: None, password: Some(Secret::new("p4ss")) };
        assert_eq!(no_user.connect_fields(), (None, None, None), "no password without a username");
        assert_eq!(Credentials::Certificate.connect_fields(), (None, None, None));
        let shown = format!("{token:?} {basic:?}");
        for secret in ["s3cret", "p4ss", "c1d"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("u1"), "{shown}");
    }
}
