//! A real MQTT broker for tests: mosquitto on a free loopback port, logging clients in the way
//! ThingsBoard does (username = access token, password ignored; optionally basic MQTT
//! credentials) through the small plugin in `tests/mqtt/token_auth.c`, optionally with a TLS
//! listener (server-only or mutual), optionally closing sessions that publish over a rate limit
//! as ThingsBoard does, and a subscriber that collects what reaches the broker.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use super::DEADLINE;

/// The one access token the test broker accepts.
pub const TOKEN: &str = "test-device-token";

/// A running mosquitto.
pub struct Broker {
    child: Child,
    port: u16,
    /// A second listener speaking MQTT over TLS, when started with [`Broker::start_tls`].
    tls_port: Option<u16>,
    dir: tempfile::TempDir,
}

/// One message seen by a [`Subscriber`].
#[derive(Debug, Clone)]
pub struct Message {
    /// Its topic.
    pub topic: String,
    /// Its payload as text.
    pub payload: String,
    /// When the subscriber's thread received it (for tests of pacing).
    pub at: std::time::Instant,
}

/// What a broker offers beyond its plain, token-checking port.
#[derive(Default)]
struct Extras {
    /// A TLS listener on this port (certificate and key in the broker's dir), with these
    /// further configuration lines (e.g. to require client certificates).
    tls: Option<(u16, String)>,
    /// Further `plugin_opt_` lines.
    plugin: String,
}

/// The files of a broker that requires client certificates (see [`Broker::start_mutual_tls`]).
pub struct ClientCerts {
    _dir: tempfile::TempDir,
    /// The broker's own certificate, to trust (`--ca`).
    pub ca: PathBuf,
    /// A client certificate the broker trusts, and its key.
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
    /// A client certificate from a CA the broker does not trust, and its key.
    pub foreign_cert: PathBuf,
    /// Its key.
    pub foreign_key: PathBuf,
}

/// A client subscribed to some topics, collecting what it receives.
pub struct Subscriber {
    rx: Receiver<Message>,
    client: Option<rumqttc::Client>,
    /// A `mosquitto_sub` behind a persistent subscriber.
    child: Option<Child>,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Broker {
    /// Starts a broker on a free port that accepts only [`TOKEN`].
    pub fn start() -> Broker {
        let port = free_port();
        let dir = tempfile::tempdir().expect("broker dir");
        Self::start_on(port, dir)
    }

    /// A broker with a TLS listener whose self-signed certificate names `name` (an IP or a DNS
    /// name), and a tempdir holding that certificate, for `--ca`, at the returned path.
    pub fn start_tls_self_signed(name: &str) -> (Broker, tempfile::TempDir, PathBuf) {
        let made = rcgen::generate_simple_self_signed(vec![name.to_owned()]).expect("a certificate");
        let broker = Self::start_tls(&made.cert.pem(), &made.signing_key.serialize_pem());
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, made.cert.pem()).expect("ca.pem");
        (broker, dir, ca)
    }

    /// Same, plus a TLS listener (see [`Broker::tls_port`]) with this certificate and key (PEM).
    fn start_tls(cert: &str, key: &str) -> Broker {
        Self::start_tls_with(cert, key, |_| (String::new(), String::new()))
    }

    /// Same, the TLS listener and the plugin further configured by the lines `setup` returns
    /// (in that order), given the broker's dir to write the files they name.
    fn start_tls_with(cert: &str, key: &str, setup: impl FnOnce(&Path) -> (String, String)) -> Broker {
        let dir = tempfile::tempdir().expect("broker dir");
        std::fs::write(dir.path().join("cert.pem"), cert).expect("cert.pem");
        std::fs::write(dir.path().join("key.pem"), key).expect("key.pem");
        let (lines, plugin) = setup(dir.path());
        let port = free_port();
        let tls_port = std::iter::repeat_with(free_port).find(|p| *p != port).expect("a second free port");
        Self::start_with(port, Extras { tls: Some((tls_port, lines)), plugin }, dir)
    }

    /// A broker whose TLS listener (on [`Broker::tls_port`], certificate for 127.0.0.1) logs
    /// clients in by their certificate, as ThingsBoard's X.509 device credentials do: a client
    /// without a certificate signed by the test's client CA fails the handshake, and one that
    /// sends a username with its certificate is refused (CONNACK 5).
    pub fn start_mutual_tls() -> (Broker, ClientCerts) {
        let server = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("a certificate");
        let (clients_ca, cert, key) = client_certificate("device-1");
        let (_, foreign_cert, foreign_key) = client_certificate("stranger");
        let broker = Self::start_tls_with(&server.cert.pem(), &server.signing_key.serialize_pem(), |dir| {
            let ca = dir.join("clients-ca.pem");
            std::fs::write(&ca, &clients_ca).expect("clients-ca.pem");
            let listener = format!("cafile {}\nrequire_certificate true\n", ca.display());
            (listener, "plugin_opt_certificate_logins true\n".to_owned())
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect(name);
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
            path
        };
        let certs = ClientCerts {
            ca: write("ca.pem", &server.cert.pem()),
            cert: write("cert.pem", &cert),
            key: write("key.pem", &key),
            foreign_cert: write("foreign-cert.pem", &foreign_cert),
            foreign_key: write("foreign-key.pem", &foreign_key),
            _dir: dir,
        };
        (broker, certs)
    }

    /// A ThingsBoard stand-in for rate limits: a broker that closes the session of a client
    /// publishing over `limit` (`capacity:seconds`, one bucket per client id), as ThingsBoard
    /// does on QUOTA_EXCEEDED; [`Broker::kicks`] counts the sessions it closed.
    pub fn start_rate_limited(limit: &str) -> Broker {
        let plugin = format!("plugin_opt_rate_limit {limit}\n");
        let dir = tempfile::tempdir().expect("broker dir");
        Self::start_with(free_port(), Extras { plugin, ..Extras::default() }, dir)
    }

    /// How many sessions the broker closed for publishing over its rate limit, from its log.
    pub fn kicks(&self) -> usize {
        let log = std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default();
        log.lines().filter(|l| l.contains("rate_limit: kicked ")).count()
    }

    /// A broker that also accepts ThingsBoard basic MQTT credentials: this client id, username
    /// and password, all three.
    pub fn start_basic(client_id: &str, username: &str, password: &str) -> Broker {
        let plugin = format!(
            "plugin_opt_basic_client_id {client_id}\nplugin_opt_basic_username {username}\nplugin_opt_basic_password {password}\n"
        );
        let dir = tempfile::tempdir().expect("broker dir");
        Self::start_with(free_port(), Extras { plugin, ..Extras::default() }, dir)
    }

    fn start_on(port: u16, dir: tempfile::TempDir) -> Broker {
        Self::start_with(port, Extras::default(), dir)
    }

    fn start_with(port: u16, extras: Extras, dir: tempfile::TempDir) -> Broker {
        let conf = dir.path().join("mosquitto.conf");
        // Started as root, mosquitto drops to its own user; it must still write its database.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod broker dir");
        // Persistence keeps sessions and queued messages across a graceful restart (SIGTERM),
        // so a test's persistent subscriber sees everything published around an outage.
        let text = format!(
            "listener {port} 127.0.0.1\nallow_anonymous false\nplugin {}\nplugin_opt_token {TOKEN}\n\
             persistence true\npersistence_location {}/\nlog_dest stderr\nlog_type error\nlog_type warning\n",
            plugin().display(),
            dir.path().display()
        );
        let tls = extras.tls.as_ref().map_or_else(String::new, |(tls, lines)| {
            let d = dir.path().display();
            format!("listener {tls} 127.0.0.1\ncertfile {d}/cert.pem\nkeyfile {d}/key.pem\n{lines}")
        });
        let text = text + &extras.plugin;
        std::fs::write(&conf, text + &tls).expect("write mosquitto.conf");
        // Its log (stderr, unbuffered), appended to across restarts, for what tests count in it.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("mosquitto.log"))
            .expect("mosquitto.log");
        let child = Command::new(mosquitto())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("mosquitto starts (scripts/test installs it)");
        let broker = Broker { child, port, tls_port: extras.tls.map(|(p, _)| p), dir };
        broker.wait_ready();
        broker
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its TLS port on 127.0.0.1 (started with [`Broker::start_tls`]).
    pub fn tls_port(&self) -> u16 {
        self.tls_port.expect("a broker started with start_tls")
    }

    /// Stops the broker (SIGTERM: it saves its sessions, as a restarted ThingsBoard would keep them).
    pub fn stop(mut self) -> (u16, tempfile::TempDir) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        (self.port, dir)
    }

    /// Starts a broker again on the port a stopped one used.
    pub fn restart((port, dir): (u16, tempfile::TempDir)) -> Broker {
        Self::start_on(port, dir)
    }

    /// Subscribes to `topics` (QoS 1) with the test token; returns once the broker confirmed.
    pub fn subscribe(&self, topics: &[&str]) -> Subscriber {
        self.subscribe_as(&format!("test-sub-{}", fastrand::u64(..)), topics)
    }

    /// Same, with a persistent session that outlives broker restarts: the subscriber
    /// reconnects by itself and the broker keeps what it missed meanwhile.
    pub fn subscribe_persistent(&self, topic: &str, probe_topic: &str) -> Subscriber {
        let id = format!("test-sub-{}", fastrand::u64(..));
        let mut child = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-u", TOKEN, "-i", &id])
            .args(["-c", "-q", "1", "-v", "-t", topic])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub (scripts/test installs mosquitto-clients)");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let (topic, payload) = line.split_once(' ').unwrap_or((&line, ""));
                let message = Message {
                    topic: topic.to_owned(),
                    payload: payload.to_owned(),
                    at: std::time::Instant::now(),
                };
                if tx.send(message).is_err() {
                    return;
                }
            }
        });
        let sub = Subscriber { rx, client: None, child: Some(child) };
        let prober = self.subscribe(&[]);
        let start = Instant::now();
        loop {
            prober.publish(probe_topic, "{}");
            if let Ok(m) = sub.rx.recv_timeout(Duration::from_millis(200)) {
                assert_eq!(m.topic, probe_topic, "the first message is the probe");
                return sub;
            }
            assert!(start.elapsed() < DEADLINE, "mosquitto_sub did not subscribe within {DEADLINE:?}");
        }
    }

    fn subscribe_as(&self, id: &str, topics: &[&str]) -> Subscriber {
        let mut options = rumqttc::MqttOptions::new(id, "127.0.0.1", self.port);
        options.set_credentials(TOKEN, "");
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut connection) = rumqttc::Client::new(options, 64);
        for topic in topics {
            client.subscribe(*topic, rumqttc::QoS::AtLeastOnce).expect("subscribe queued");
        }
        let (tx, rx) = mpsc::channel();
        let (acked_tx, acked_rx) = mpsc::channel();
        let wanted = topics.len();
        thread::spawn(move || {
            let mut acked = 0;
            for event in connection.iter() {
                match event {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        let payload = String::from_utf8_lossy(&p.payload).into_owned();
                        if tx
                            .send(Message { topic: p.topic, payload, at: std::time::Instant::now() })
                            .is_err()
                        {
                            return;
                        }
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                        acked += 1;
                        if acked == wanted {
                            let _ = acked_tx.send(());
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        });
        if wanted > 0 {
            acked_rx.recv_timeout(DEADLINE).expect("the broker confirms the subscription");
        }
        Subscriber { rx, client: Some(client), child: None }
    }

    fn wait_ready(&self) {
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < DEADLINE,
                "mosquitto did not listen on {} within {DEADLINE:?}",
                self.port
            );
            thread::sleep(Duration::from_millis(10)); // polling a port, not synchronising a test step
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Subscriber {
    /// The next message, or a failed test after the deadline.
    pub fn next(&self) -> Message {
        self.rx.recv_timeout(DEADLINE).expect("a message before the deadline")
    }

    /// The next message on `topic`, skipping others.
    pub fn next_on(&self, topic: &str) -> Message {
        loop {
            let m = self.next();
            if m.topic == topic {
                return m;
            }
        }
    }

    /// Publishes `payload` on `topic` (QoS 1) as the test device.
    pub fn publish(&self, topic: &str, payload: &str) {
        let client = self.client.as_ref().expect("a persistent subscriber only listens");
        client.publish(topic, rumqttc::QoS::AtLeastOnce, false, payload.as_bytes()).expect("publish queued");
    }
}

/// A CA and a client certificate it signed for `name`: (CA PEM, certificate PEM, key PEM).
fn client_certificate(name: &str) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().expect("a key");
    let mut ca = rcgen::CertificateParams::new(Vec::new()).expect("CA params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, format!("{name} CA"));
    let ca_cert = ca.self_signed(&ca_key).expect("a CA certificate");
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().expect("a key");
    let mut params = rcgen::CertificateParams::new(Vec::new()).expect("params");
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params.extended_key_usages.push(rcgen::ExtendedKeyUsagePurpose::ClientAuth);
    let cert = params.signed_by(&key, &issuer).expect("a client certificate");
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

fn mosquitto() -> PathBuf {
    ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("mosquitto"))
}

/// The token plugin, compiled once per test binary.
fn plugin() -> &'static Path {
    static PLUGIN: OnceLock<PathBuf> = OnceLock::new();
    PLUGIN.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mqtt/token_auth.c");
        let out =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("token_auth-{}.so", std::process::id()));
        let status = Command::new("cc")
            .args(["-shared", "-fPIC", "-O1", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("a C compiler (scripts/test installs g++)");
        assert!(status.success(), "building {} failed (needs mosquitto-dev)", src.display());
        out
    })
}
