//! TLS on the device port, with a self-signed certificate made by rcgen: chat and fake-device
//! over TLS, TLS 1.2 (what an ESP8266's BearSSL speaks), clients that do not speak TLS (or
//! stall) costing nothing to a TLS client, clients that end cleanly (with or without
//! close_notify) logged as leaving rather than failing, bad certificate or key files exiting 2,
//! and SIGHUP putting a renewed certificate in place (or keeping the old one if the new one is
//! bad).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{Client, DEADLINE, Server, cmd};
use predicates::prelude::*;
use predicates::str::contains;
use tokio_rustls::rustls;

/// A tempdir with `cert.pem` (self-signed, for 127.0.0.1 and localhost) and `key.pem`.
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn new() -> Certs {
        let dir = tempfile::tempdir().expect("tempdir");
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("a self-signed certificate");
        std::fs::write(dir.path().join("cert.pem"), made.cert.pem()).expect("cert.pem");
        std::fs::write(dir.path().join("key.pem"), made.signing_key.serialize_pem()).expect("key.pem");
        Certs { dir }
    }
    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }
    fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }
    fn server(&self) -> Server {
        let (cert, key) = (self.cert(), self.key());
        Server::start(&["--tls-cert", path(&cert), "--tls-key", path(&key)])
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `iotchat chat --tls --ca cert.pem` with `input` on stdin.
fn chat_tls(server: &Server, certs: &Certs, input: &str) -> assert_cmd::assert::Assert {
    cmd()
        .args(["chat", "--server", &server.addr.to_string(), "--tls", "--ca", path(&certs.cert())])
        .write_stdin(input)
        .timeout(DEADLINE)
        .assert()
}

#[test]
fn chat_over_tls_gets_the_reply_and_close_socket_works() {
    let certs = Certs::new();
    let server = certs.server();
    chat_tls(&server, &certs, "hello tls\nbye, close socket\nnever sent\n")
        .success()
        .stdout("HELLO TLS\nBYE, CLOSE SOCKET\n");
}

#[test]
fn fake_device_over_tls_gets_its_readings_stored() {
    let certs = Certs::new();
    let server = certs.server();
    cmd()
        .args(["fake-device", "--server", &server.addr.to_string(), "--tls", "--ca", path(&certs.cert())])
        .args(["--count", "2", "--messages", "3", "--interval", "20ms"])
        .timeout(DEADLINE * 6)
        .assert()
        .success()
        .stdout(contains("sent 6  acked 6"));
    let out =
        cmd().arg("readings").arg("--data-dir").arg(server.data_dir()).args(["--format", "csv"]).output();
    let rows = String::from_utf8(out.expect("readings runs").stdout).expect("utf-8");
    assert!(rows.lines().any(|l| l.starts_with("esp-2,")), "{rows}");
}

/// A TLS connection from a rustls client.
type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A rustls client speaking only `version`, trusting the server's certificate, connected.
fn tls_client(server: &Server, certs: &Certs, version: &'static rustls::SupportedProtocolVersion) -> Tls {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read_to_string(certs.cert()).expect("cert");
    for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(pem.as_bytes()) {
        roots.add(cert.expect("a certificate")).expect("a root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .expect("the version is available")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("a name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("a client");
    let tcp = TcpStream::connect(server.addr).expect("connects");
    tcp.set_read_timeout(Some(DEADLINE)).expect("timeout");
    rustls::StreamOwned::new(conn, tcp)
}

/// Sends `line` and reads the reply line (LF included).
fn ask_tls(tls: &mut Tls, line: &str) -> String {
    tls.write_all(format!("{line}\n").as_bytes()).expect("send");
    let mut reply = String::new();
    BufReader::new(tls).read_line(&mut reply).expect("a reply");
    reply
}

#[test]
fn tls_1_2_works_for_esp8266_bearssl() {
    let certs = Certs::new();
    let server = certs.server();
    let mut tls = tls_client(&server, &certs, &rustls::version::TLS12);
    assert_eq!(ask_tls(&mut tls, "esp8266"), "ESP8266\n");
    assert_eq!(tls.conn.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_2));
}

/// What a client does to end its session.
type Ending = fn(&mut Tls);

/// How a TLS client ends its session: by the book (close_notify, then FIN), or as embedded
/// stacks often do (BearSSL on an ESP8266 that resets or just closes the socket: FIN alone).
const CLEAN_ENDINGS: &[(&str, Ending, &str)] = &[
    (
        "close_notify, then FIN",
        |tls| {
            tls.conn.send_close_notify();
            tls.flush().expect("close_notify sent");
            tls.sock.shutdown(Shutdown::Write).expect("FIN");
        },
        "client disconnected: client closed the connection",
    ),
    (
        "close_notify and FIN right after the last line",
        |tls| {
            tls.write_all(b"last\n").expect("send");
            tls.conn.send_close_notify();
            tls.flush().expect("close_notify sent");
            tls.sock.shutdown(Shutdown::Write).expect("FIN");
        },
        "client disconnected: client closed the connection",
    ),
    (
        "FIN without close_notify",
        |tls| tls.sock.shutdown(Shutdown::Write).expect("FIN"),
        "client disconnected: client closed the connection",
    ),
    (
        "a line and FIN without close_notify, replies unread",
        |tls| {
            tls.write_all(b"last\n").expect("send");
            tls.sock.shutdown(Shutdown::Write).expect("FIN");
        },
        "client disconnected: client closed the connection",
    ),
    (
        "CLOSE SOCKET",
        |tls| assert_eq!(ask_tls(tls, "close socket"), "CLOSE SOCKET\n"),
        "client disconnected: client sent CLOSE SOCKET",
    ),
    (
        "CLOSE SOCKET and FIN without close_notify, reply unread",
        |tls| {
            tls.write_all(b"close socket\n").expect("send");
            tls.sock.shutdown(Shutdown::Write).expect("FIN");
        },
        "client disconnected: client sent CLOSE SOCKET",
    ),
];

#[test]
fn a_tls_client_that_closes_cleanly_is_not_logged_as_a_failure() {
    let certs = Certs::new();
    let mut server = certs.server();
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        for (how, end, want) in CLEAN_ENDINGS {
            let label = format!("{how} ({:?})", version.version);
            let mut tls = tls_client(&server, &certs, version);
            assert_eq!(ask_tls(&mut tls, "hi"), "HI\n", "{label}");
            end(&mut tls);
            let port = tls.sock.local_addr().expect("local address").port();
            let peer = format!("peer=127.0.0.1:{port}");
            let line = server.log_line_matching(|l| {
                l.contains("client disconnected") && l.split_whitespace().any(|w| w == peer)
            });
            assert!(line.contains(want) && !line.contains("failed"), "{label}: {line}");
        }
    }
}

/// Sends `bytes` and asserts the server closes the connection (after at most a TLS alert).
fn closed_after(server: &Server, bytes: &[u8]) {
    let mut tcp = TcpStream::connect(server.addr).expect("connects");
    tcp.set_read_timeout(Some(DEADLINE)).expect("timeout");
    tcp.write_all(bytes).expect("send");
    let mut rest = Vec::new();
    match tcp.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.len() < 64 && !rest.contains(&b'\n'), "only an alert, no reply: {rest:?}"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "expected a close, got {e}"),
    }
}

#[test]
fn plain_garbage_and_silent_clients_do_not_disturb_a_tls_client() {
    let certs = Certs::new();
    let mut server = certs.server();
    let _silent = server.connect(); // never says anything: its handshake waits, in its own task
    closed_after(&server, b"hello in plain text\n");
    closed_after(&server, &[0x16, 0x03, 0x01, 0x00, 0x05, 0xde, 0xad, 0xbe, 0xef, 0x00]);
    chat_tls(&server, &certs, "still here\n").success().stdout("STILL HERE\n");
    server.log_line_containing("TLS handshake failed");
}

#[test]
fn bad_certificate_or_key_files_exit_2_naming_the_file() {
    let certs = Certs::new();
    let other = Certs::new();
    let junk = certs.dir.path().join("junk.pem");
    std::fs::write(&junk, "not a PEM file\n").expect("junk");
    let missing = certs.dir.path().join("missing.pem");
    let (cert, key) = (certs.cert(), certs.key());
    let other_key = other.key();
    let cases: &[(&str, &[&str], &str, &str)] = &[
        (
            "missing cert",
            &["--tls-cert", path(&missing), "--tls-key", path(&key)],
            "--tls-cert",
            "missing.pem",
        ),
        ("junk cert", &["--tls-cert", path(&junk), "--tls-key", path(&key)], "--tls-cert", "no certificate"),
        (
            "missing key",
            &["--tls-cert", path(&cert), "--tls-key", path(&missing)],
            "--tls-key",
            "private key",
        ),
        ("junk key", &["--tls-cert", path(&cert), "--tls-key", path(&junk)], "--tls-key", "junk.pem"),
        (
            "key of another cert",
            &["--tls-cert", path(&cert), "--tls-key", path(&other_key)],
            "--tls-key",
            "does not go with",
        ),
        ("cert without key", &["--tls-cert", path(&cert)], "--tls-cert", "--tls-key"),
    ];
    for (label, args, flag, needle) in cases {
        let out = cmd().args(["serve", "--bind", "127.0.0.1:0"]).args(*args).timeout(DEADLINE).output();
        let out = out.expect("serve runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{label}: {stderr}");
        assert!(stderr.contains(flag) && stderr.contains(needle), "{label}: {stderr}");
    }
}

#[test]
fn a_plain_client_is_told_nothing_and_a_tls_server_stays_up() {
    let certs = Certs::new();
    let mut server = certs.server();
    let mut plain = Client::connect(server.addr);
    plain.finish_sending();
    plain.expect_closed();
    assert!(server.is_running());
}

#[test]
fn chat_says_when_the_servers_certificate_is_not_trusted() {
    let certs = Certs::new();
    let server = certs.server();
    cmd()
        .args(["chat", "--server", &server.addr.to_string(), "--tls"])
        .write_stdin("hi\n")
        .timeout(DEADLINE)
        .assert()
        .code(1)
        .stderr(contains("TLS handshake with").and(contains("--ca")));
}

#[test]
fn chat_without_tls_to_a_tls_server_says_to_add_tls() {
    let certs = Certs::new();
    let server = certs.server();
    let addr = server.addr.to_string();
    cmd()
        .args(["chat", "--server", &addr])
        .write_stdin("hi\n")
        .timeout(DEADLINE)
        .assert()
        .code(1)
        .stdout("")
        .stderr(contains(format!("the server at {addr} speaks TLS; add --tls")).and(contains("--ca FILE")));
}

#[test]
fn a_message_longer_than_a_tls_record_comes_back_whole() {
    let certs = Certs::new();
    let server = certs.server();
    let long = "ab ".repeat(20_000); // chat (several words), 60 kB: several TLS records
    chat_tls(&server, &certs, &format!("{long}\nshort\n"))
        .success()
        .stdout(format!("{}\nSHORT\n", long.to_uppercase()));
}

#[test]
fn sighup_puts_a_renewed_certificate_in_place_for_new_connections() {
    let certs = Certs::new();
    let mut server = certs.server();
    let old = Certs::new();
    std::fs::copy(certs.cert(), old.cert()).expect("keep the old certificate");
    let renewed = Certs::new();
    std::fs::copy(renewed.cert(), certs.cert()).expect("renew the certificate");
    std::fs::copy(renewed.key(), certs.key()).expect("renew the key");
    server.signal("HUP");
    server.log_line_containing("TLS certificate reloaded");
    chat_tls(&server, &certs, "after renewal\n").success().stdout(contains("AFTER RENEWAL"));
    chat_tls(&server, &old, "trusting the old one\n").code(1).stderr(contains("TLS handshake with"));
}

#[test]
fn a_certificate_that_does_not_load_on_sighup_keeps_the_previous_one() {
    let certs = Certs::new();
    let mut server = certs.server();
    std::fs::write(certs.key(), "not a key\n").expect("break the key");
    server.signal("HUP");
    let log = server.log_line_containing("SIGHUP: cannot reload");
    assert!(log.contains("key.pem") && log.contains("keeping the previous"), "{log}");
    chat_tls(&server, &certs, "still served\n").success().stdout(contains("STILL SERVED"));
}

#[test]
fn a_reload_that_fails_on_the_certificate_keeps_the_previous_tokens_too() {
    let certs = Certs::new();
    let tokens = certs.dir.path().join("tokens");
    std::fs::write(&tokens, "esp-1 s3cret-one\n").expect("tokens");
    let (cert, key) = (certs.cert(), certs.key());
    let mut server =
        Server::start(&["--tls-cert", path(&cert), "--tls-key", path(&key), "--auth-tokens", path(&tokens)]);
    std::fs::write(&tokens, "esp-2 s3cret-two\n").expect("new tokens");
    std::fs::write(&key, "not a key\n").expect("break the key");
    server.signal("HUP");
    server.log_line_containing("SIGHUP: cannot reload");
    cmd()
        .args([
            "chat",
            "--server",
            &server.addr.to_string(),
            "--tls",
            "--ca",
            path(&cert),
            "--hello",
            "esp-1",
        ])
        .env("IOTCHAT_DEVICE_TOKEN", "s3cret-one")
        .write_stdin("close socket\n")
        .timeout(DEADLINE)
        .assert()
        .success()
        .stdout("HELLO ESP-1\nCLOSE SOCKET\n");
}
