//! A ThingsBoard device session over MQTT (rumqttc): connect with the device's credentials, publish
//! and wait for ThingsBoard's PUBACKs, receive server-side RPC requests and answer them.
//!
//! The rumqttc event loop runs in its own task and reports through a bounded channel; this
//! type only counts what was published, written and acknowledged.
//!
//! A failed connection is a [`TbError`] with its cause, and for TLS what the failure most likely
//! means ([`TlsProblem`]); its text names no setting. The command adds the advice in its own
//! flags (`config::TbFlagNames::explain`), which starts with this text.

use std::time::Duration;

use std::sync::Arc;

use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, MqttOptions, Outgoing, Packet, QoS,
    TlsConfiguration, Transport,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::rustls;

use super::{CredentialKind, Credentials, MAX_PAYLOAD, RPC_REQUESTS, RpcRequest, TlsProblem, refusal};

/// How to reach ThingsBoard as one device.
#[derive(Clone)]
pub struct TbOptions {
    /// MQTT host.
    pub host: String,
    /// MQTT port (1883 by default, 8883 with TLS).
    pub port: u16,
    /// MQTT over TLS, with these trusted roots (and the client certificate, if any).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// How the device logs in. Secrets are never logged.
    pub credentials: Credentials,
    /// Publish with QoS 0 or 1.
    pub qos: u8,
    /// Largest payload accepted.
    pub max_payload: usize,
}

impl std::fmt::Debug for TbOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TbOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("credentials", &self.credentials)
            .field("qos", &self.qos)
            .finish()
    }
}

/// What went wrong talking to ThingsBoard.
#[derive(Debug, thiserror::Error)]
pub enum TbError {
    /// ThingsBoard's host name did not resolve (so "is it running?" would be the wrong hint).
    #[error("cannot resolve the host name {host:?} of ThingsBoard: {cause}")]
    Unresolved {
        /// The host as given.
        host: String,
        /// The resolver's reason.
        cause: String,
    },
    /// No TCP connection.
    #[error(
        "cannot connect to ThingsBoard at {addr}: {cause}; is ThingsBoard (or an MQTT broker) running there?"
    )]
    Unreachable {
        /// `host:port`.
        addr: String,
        /// Why.
        cause: String,
    },
    /// The TLS handshake failed (untrusted certificate, one missing or refused).
    #[error("TLS with ThingsBoard at {addr} failed: {cause}")]
    Tls {
        /// `host:port`.
        addr: String,
        /// rustls's description.
        cause: String,
        /// What it most likely means.
        problem: TlsProblem,
    },
    /// CONNACK with a refusal code.
    #[error("{}", refusal(*.code, *.kind))]
    Refused {
        /// The CONNACK return code.
        code: u8,
        /// The kind of credentials refused.
        kind: CredentialKind,
    },
    /// A payload over the limit.
    #[error(
        "payload of {size} bytes is over ThingsBoard's {max}-byte limit (transport.mqtt.netty.max_payload_size); split it"
    )]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The broker refused a subscription (SUBACK failure).
    #[error("ThingsBoard refused the subscription to {topic}; this device may not read that topic")]
    SubscribeRefused {
        /// The topic.
        topic: String,
    },
    /// The connection dropped after it was up.
    #[error("lost the connection to ThingsBoard at {addr}: {cause}{}", pending(*.unacked))]
    Lost {
        /// `host:port`.
        addr: String,
        /// Why.
        cause: String,
        /// Publishes not acknowledged.
        unacked: u64,
    },
}

fn pending(unacked: u64) -> String {
    if unacked == 0 { String::new() } else { format!(" ({unacked} publishes not acknowledged)") }
}

enum Report {
    Connected,
    /// A SUBACK: whether every topic of it was granted.
    Subscribed(bool),
    Written,
    Acked,
    Message(String, Vec<u8>),
    Failed(ConnectionError),
}

/// A connected device.
pub struct TbDevice {
    client: AsyncClient,
    reports: mpsc::Receiver<Report>,
    task: JoinHandle<()>,
    addr: String,
    /// The kind of credentials used, for a refusal's message.
    kind: CredentialKind,
    qos: QoS,
    max_payload: usize,
    published: u64,
    written: u64,
    acked: u64,
    /// Messages that arrived while we waited for something else, oldest first.
    inbox: std::collections::VecDeque<(String, Vec<u8>)>,
}

/// Messages kept for the caller at most; older ones are dropped (and logged).
const INBOX: usize = 1024;

impl TbDevice {
    /// Connects and waits for ThingsBoard's CONNACK.
    pub async fn connect(options: &TbOptions) -> Result<TbDevice, TbError> {
        // Looked up here first: rumqttc's own lookup fails as "I/O", indistinguishable from a
        // refused connection, and the hint would ask whether ThingsBoard is running.
        if let Err(cause) = tokio::net::lookup_host((options.host.as_str(), options.port)).await {
            return Err(TbError::Unresolved { host: options.host.clone(), cause: cause.to_string() });
        }
        let addr = format!("{}:{}", options.host, options.port);
        let (client_id, username, password) = options.credentials.connect_fields();
        let client_id = client_id
            .map_or_else(|| format!("iotchat-{}-{}", std::process::id(), fastrand::u32(..)), str::to_owned);
        let mut mqtt = MqttOptions::new(client_id, options.host.clone(), options.port);
        if let Some(username) = username {
            mqtt.set_credentials(username, password.unwrap_or_default());
        }
        if let Some(config) = &options.tls {
            mqtt.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(Arc::clone(config))));
        }
        mqtt.set_keep_alive(Duration::from_secs(30));
        mqtt.set_max_packet_size(MAX_PAYLOAD * 4, options.max_payload + 1024);
        let (client, eventloop) = AsyncClient::new(mqtt, 64);
        let (tx, reports) = mpsc::channel(256);
        let task = tokio::spawn(drive(eventloop, tx));
        let qos = if options.qos == 0 { QoS::AtMostOnce } else { QoS::AtLeastOnce };
        let mut device = TbDevice {
            client,
            reports,
            task,
            addr,
            kind: options.credentials.kind(),
            qos,
            max_payload: options.max_payload,
            published: 0,
            written: 0,
            acked: 0,
            inbox: std::collections::VecDeque::new(),
        };
        match device.reports.recv().await {
            Some(Report::Connected) => Ok(device),
            Some(Report::Failed(e)) => Err(device.connect_error(e)),
            _ => Err(device.unreachable("no CONNACK".into())),
        }
    }

    /// Queues a publish; [`TbDevice::flush`] waits until it is acknowledged.
    pub async fn publish(&mut self, topic: &str, payload: Vec<u8>) -> Result<(), TbError> {
        if payload.len() > self.max_payload {
            return Err(TbError::TooLarge { size: payload.len(), max: self.max_payload });
        }
        while self.in_flight() >= 64 {
            if let Some((topic, payload)) = self.next_report().await? {
                self.keep(topic, payload);
            }
        }
        self.client.publish(topic, self.qos, false, payload).await.map_err(|e| self.lost(e.to_string()))?;
        self.published += 1;
        Ok(())
    }

    /// Waits until everything published was acknowledged (QoS 1) or written (QoS 0).
    pub async fn flush(&mut self) -> Result<(), TbError> {
        while self.in_flight() > 0 {
            if let Some((topic, payload)) = self.next_report().await? {
                self.keep(topic, payload);
            }
        }
        Ok(())
    }

    /// Subscribes to server-side RPC requests; returns once ThingsBoard confirmed (SUBACK), so
    /// no request sent after this returns is missed.
    pub async fn subscribe_rpc(&mut self) -> Result<(), TbError> {
        self.subscribe(RPC_REQUESTS).await
    }

    /// Subscribes to `topic` (QoS 1); returns once ThingsBoard confirmed (SUBACK).
    pub async fn subscribe(&mut self, topic: &str) -> Result<(), TbError> {
        self.client.subscribe(topic, QoS::AtLeastOnce).await.map_err(|e| self.lost(e.to_string()))?;
        loop {
            match self.reports.recv().await {
                Some(Report::Subscribed(true)) => return Ok(()),
                Some(Report::Subscribed(false)) => {
                    return Err(TbError::SubscribeRefused { topic: topic.to_owned() });
                }
                Some(Report::Failed(e)) => return Err(self.lost(e.to_string())),
                None => return Err(self.lost("the MQTT event loop ended".into())),
                Some(Report::Message(topic, payload)) => self.keep(topic, payload),
                Some(other) => self.count(other),
            }
        }
    }

    /// The next message received: one kept while waiting for something else, or a new one.
    pub async fn recv_message(&mut self) -> Result<(String, Vec<u8>), TbError> {
        loop {
            if let Some(message) = self.inbox.pop_front() {
                return Ok(message);
            }
            if let Some(message) = self.next_report().await? {
                return Ok(message);
            }
        }
    }

    /// A message received, if one is waiting; never waits.
    pub fn try_message(&mut self) -> Option<(String, Vec<u8>)> {
        self.inbox.pop_front()
    }

    fn keep(&mut self, topic: String, payload: Vec<u8>) {
        if self.inbox.len() >= INBOX {
            tracing::warn!(topic = %topic, "too many unhandled MQTT messages; dropping the oldest");
            self.inbox.pop_front();
        }
        self.inbox.push_back((topic, payload));
    }

    /// Waits for the next server-side RPC request. Malformed requests are returned as errors
    /// in the inner result, so the caller can report them and go on.
    pub async fn next_request(&mut self) -> Result<Result<RpcRequest, String>, TbError> {
        let (topic, payload) = self.recv_message().await?;
        Ok(RpcRequest::parse(&topic, &payload))
    }

    /// Answers an RPC request.
    pub async fn reply(&mut self, request: &RpcRequest, body: &serde_json::Value) -> Result<(), TbError> {
        self.publish(&request.response_topic(), body.to_string().into_bytes()).await
    }

    /// Publishes acknowledged so far.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Flushes, then disconnects cleanly.
    pub async fn close(mut self) -> Result<(), TbError> {
        self.flush().await?;
        let _ = self.client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.task).await;
        Ok(())
    }

    fn in_flight(&self) -> u64 {
        self.published - if self.qos == QoS::AtMostOnce { self.written } else { self.acked }
    }

    /// Handles one report; returns an incoming message, if it was one.
    async fn next_report(&mut self) -> Result<Option<(String, Vec<u8>)>, TbError> {
        match self.reports.recv().await {
            Some(Report::Message(topic, payload)) => Ok(Some((topic, payload))),
            Some(Report::Failed(e)) => Err(self.lost(e.to_string())),
            None => Err(self.lost("the MQTT event loop ended".into())),
            Some(other) => {
                self.count(other);
                Ok(None)
            }
        }
    }

    fn count(&mut self, report: Report) {
        match report {
            Report::Written => self.written += 1,
            Report::Acked => self.acked += 1,
            _ => {}
        }
    }

    fn lost(&self, cause: String) -> TbError {
        let unacked = self.published.saturating_sub(self.acked);
        TbError::Lost { addr: self.addr.clone(), cause, unacked }
    }

    fn connect_error(&self, e: ConnectionError) -> TbError {
        match e {
            ConnectionError::ConnectionRefused(code) => {
                TbError::Refused { code: code_number(code), kind: self.kind }
            }
            other => {
                let text = other.to_string();
                // With TLS 1.3 the server judges our certificate after our side of the
                // handshake is done: its alert then comes as a failed read of the CONNACK.
                let alert = text.find("received fatal alert").map(|at| text[at..].to_owned());
                match (other, alert) {
                    (ConnectionError::Tls(e), _) => self.tls_error(e.to_string()),
                    (_, Some(alert)) => self.tls_error(alert),
                    _ => self.unreachable(text),
                }
            }
        }
    }

    fn unreachable(&self, cause: String) -> TbError {
        TbError::Unreachable { addr: self.addr.clone(), cause }
    }

    fn tls_error(&self, cause: String) -> TbError {
        let problem = TlsProblem::of(&cause, self.kind);
        TbError::Tls { addr: self.addr.clone(), cause, problem }
    }
}

impl Drop for TbDevice {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn code_number(code: ConnectReturnCode) -> u8 {
    match code {
        ConnectReturnCode::Success => 0,
        ConnectReturnCode::RefusedProtocolVersion => 1,
        ConnectReturnCode::BadClientId => 2,
        ConnectReturnCode::ServiceUnavailable => 3,
        ConnectReturnCode::BadUserNamePassword => 4,
        ConnectReturnCode::NotAuthorized => 5,
    }
}

/// Runs the event loop until it fails or disconnects, reporting what matters. No reconnect:
/// like mosquitto_pub, a broken session is an error for the caller to report.
async fn drive(mut eventloop: rumqttc::EventLoop, tx: mpsc::Sender<Report>) {
    loop {
        let report = match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => Report::Connected,
            Ok(Event::Incoming(Packet::PubAck(_))) => Report::Acked,
            Ok(Event::Incoming(Packet::SubAck(ack))) => Report::Subscribed(
                ack.return_codes.iter().all(|c| !matches!(c, rumqttc::SubscribeReasonCode::Failure)),
            ),
            Ok(Event::Incoming(Packet::Publish(p))) => Report::Message(p.topic, p.payload.to_vec()),
            Ok(Event::Outgoing(Outgoing::Publish(_))) => Report::Written,
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => continue,
            Err(e) => {
                let _ = tx.send(Report::Failed(e)).await;
                return;
            }
        };
        if tx.send(report).await.is_err() {
            return;
        }
    }
}
