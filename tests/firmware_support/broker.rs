//! A real mosquitto for the ThingsBoard firmware tests: started on a free loopback port with
//! the token-auth plugin (only `username == token` gets in, others get CONNACK 5), and an
//! observer client (rumqttc) that publishes like the ThingsBoard server and records what the
//! device publishes.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

use super::{DEADLINE, build_dir};

/// Builds the auth plugin (once per test binary) with the system C compiler.
pub fn auth_plugin() -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out = build_dir().join("token_auth.so");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mqtt/token_auth.c");
    std::fs::create_dir_all(build_dir()).unwrap();
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-Wall", "-Werror", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("cc runs");
    assert!(status.success(), "building the mosquitto auth plugin failed (is mosquitto-dev installed?)");
    out
}

/// A free loopback port: bind port 0, take the port, let it go.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running mosquitto that accepts only `token`.
pub struct Broker {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Broker {
    pub fn start(port: u16, token: &str) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous false\nplugin {}\nplugin_opt_token {token}\n",
                auth_plugin().display()
            ),
        )
        .unwrap();
        let child = Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts (is it installed at /usr/sbin/mosquitto?)");
        let end = Instant::now() + DEADLINE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < end, "mosquitto did not listen on {port}");
            thread::sleep(Duration::from_millis(20));
        }
        Broker { child, port, _dir: dir }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A message the observer saw.
#[derive(Debug, Clone)]
pub struct Msg {
    pub topic: String,
    pub payload: String,
}

/// The test's own MQTT client, subscribed to everything under `v1/devices/me/`.
pub struct Observer {
    client: Client,
    rx: Receiver<Msg>,
    pub seen: Vec<Msg>,
}

impl Observer {
    /// Connects with `token` and returns once the subscription is acknowledged.
    pub fn connect(port: u16, token: &str) -> Observer {
        let mut opts = MqttOptions::new(format!("observer-{}", std::process::id()), "127.0.0.1", port);
        opts.set_credentials(token, "");
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_max_packet_size(64 * 1024, 64 * 1024);
        let (client, mut connection) = Client::new(opts, 64);
        client.subscribe("v1/devices/me/#", QoS::AtMostOnce).unwrap();
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        thread::spawn(move || {
            for event in connection.iter() {
                match event {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = ready_tx.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let msg = Msg {
                            topic: p.topic.clone(),
                            payload: String::from_utf8_lossy(&p.payload).into(),
                        };
                        if tx.send(msg).is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        ready_rx.recv_timeout(DEADLINE).expect("the observer's subscription is acknowledged");
        Observer { client, rx, seen: Vec::new() }
    }

    /// Publishes as the ThingsBoard server would.
    pub fn publish(&self, topic: &str, payload: &str) {
        self.client.publish(topic, QoS::AtMostOnce, false, payload.as_bytes().to_vec()).unwrap();
    }

    /// Waits for a message on `topic` satisfying `pred`; panics at the deadline.
    pub fn wait_for(&mut self, topic: &str, pred: impl Fn(&str) -> bool) -> Msg {
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let Ok(msg) = self.rx.recv_timeout(left) else {
                let seen: Vec<_> = self.seen.iter().rev().take(20).collect();
                panic!("timed out waiting for a message on {topic}; last seen {seen:#?}");
            };
            self.seen.push(msg.clone());
            if msg.topic == topic && pred(&msg.payload) {
                return msg;
            }
        }
    }
}
