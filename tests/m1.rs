//! Milestone 1: N clients at once, each served concurrently and isolated, and a registry the
//! operator can use from the server's terminal.

mod common;

use std::thread;

use common::{Client, Server};

const CLIENTS: usize = 50;
const ROUNDS: usize = 20;

#[test]
fn fifty_clients_interleaved_each_get_exactly_their_own_replies_in_order() {
    let mut server = Server::start(&[]);
    let mut clients: Vec<Client> = (0..CLIENTS).map(|_| server.connect()).collect();
    server.wait_for_clients(CLIENTS);
    for round in 0..ROUNDS {
        // Everyone sends before anyone reads, so the server sees the messages interleaved.
        for (i, c) in clients.iter_mut().enumerate() {
            c.send(&format!("client {i} says {round}"));
        }
        for (i, c) in clients.iter_mut().enumerate() {
            assert_eq!(c.line(), format!("CLIENT {i} SAYS {round}"));
        }
    }
}

#[test]
fn fifty_concurrent_pipelined_clients_each_get_their_replies_in_order() {
    let server = Server::start(&[]);
    let workers: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let mut c = server.connect();
            thread::spawn(move || {
                for r in 0..ROUNDS {
                    c.send(&format!("c{i} m{r}"));
                }
                for r in 0..ROUNDS {
                    assert_eq!(c.line(), format!("C{i} M{r}"));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("every client got its own replies");
    }
}

#[test]
fn one_client_closing_leaves_the_others_working() {
    let mut server = Server::start(&[]);
    let mut clients: Vec<Client> = (0..5).map(|_| server.connect()).collect();
    server.wait_for_clients(5);
    let mut leaving = clients.remove(2);
    assert_eq!(leaving.ask("close socket"), "CLOSE SOCKET");
    leaving.expect_closed();
    server.wait_for_clients(4);
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(c.ask(&format!("still here {i}")), format!("STILL HERE {i}"));
    }
}

#[test]
fn the_registry_counts_connects_and_disconnects() {
    let mut server = Server::start(&[]);
    assert_eq!(server.client_count(), 0);
    let clients: Vec<Client> = (0..CLIENTS).map(|_| server.connect()).collect();
    server.wait_for_clients(CLIENTS);
    drop(clients);
    server.wait_for_clients(0);
}

#[test]
fn the_clients_table_shows_peer_and_counters() {
    let mut server = Server::start(&[]);
    let mut c = server.connect();
    c.ask("hi one");
    c.ask("hi two");
    server.console("clients");
    let row = server.stdout_line_matching(|l| {
        l.contains("127.0.0.1:") && !l.starts_with("listening") && !l.starts_with("dashboard")
    });
    // ID PEER NAME STATE CONNECTED IDLE MESSAGES BYTES-IN READINGS LAST-READING
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[0], "1", "id: {row}");
    assert_eq!(cols[3], "-", "a chat client has no device state: {row}");
    assert_eq!(cols[6], "2", "messages: {row}");
    assert_eq!(cols[7], "14", "bytes in (7 + 7): {row}");
}

#[test]
fn the_operator_sends_to_one_client_only() {
    let mut server = Server::start(&[]);
    let mut a = server.connect();
    let mut b = server.connect();
    a.ask("i am a");
    server.wait_for_clients(2);
    server.console("send 1 hello a");
    server.stdout_line_matching(|l| l == "sent to client 1");
    assert_eq!(a.line(), "operator: hello a");
    // b got nothing: its next line is the answer to its own message.
    assert_eq!(b.ask("i am b"), "I AM B");
}

#[test]
fn the_operator_broadcasts_to_everyone() {
    let mut server = Server::start(&[]);
    let mut clients: Vec<Client> = (0..3).map(|_| server.connect()).collect();
    server.wait_for_clients(3);
    server.console("broadcast maintenance at noon");
    server.stdout_line_matching(|l| l == "broadcast to 3 clients");
    for c in &mut clients {
        assert_eq!(c.line(), "operator: maintenance at noon");
    }
}

#[test]
fn the_operator_kicks_one_client() {
    let mut server = Server::start(&[]);
    let mut a = server.connect();
    let mut b = server.connect();
    server.wait_for_clients(2);
    server.console("kick 1");
    server.stdout_line_matching(|l| l == "kicked client 1");
    assert_eq!(a.line(), "notice: disconnected by the server operator");
    a.expect_closed();
    assert_eq!(b.ask("unaffected"), "UNAFFECTED");
    server.wait_for_clients(1);
}

#[test]
fn console_mistakes_get_a_helpful_answer() {
    let mut server = Server::start(&[]);
    server.console("kick 99");
    server.stdout_line_matching(|l| l.contains("no client with id 99") && l.contains("clients"));
    server.console("shout hi");
    server.stdout_line_matching(|l| l.contains("unknown command `shout`") && l.contains("help"));
    server.console("help");
    server.stdout_line_matching(|l| l.contains("broadcast TEXT"));
}

#[test]
fn the_m1_profile_serves_many_clients() {
    let profile = concat!(env!("CARGO_MANIFEST_DIR"), "/config/m1.toml");
    let mut server = Server::start(&["--profile", profile]);
    let mut clients: Vec<Client> = (0..10).map(|_| server.connect()).collect();
    server.wait_for_clients(10);
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(c.ask(&format!("m1 client {i}")), format!("M1 CLIENT {i}"));
    }
}

#[test]
fn the_milestone_0_and_1_profiles_keep_no_store_and_write_no_file() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for profile in ["config/m0.toml", "config/m1.toml"] {
        let cwd = tempfile::tempdir().expect("tempdir");
        let profile = root.join(profile).display().to_string();
        let mut server = Server::spawn_without_data_dir(
            &["serve", "--profile", &profile, "--bind", "127.0.0.1:0"],
            cwd.path(),
        );
        server.stdout_line_matching(|l| l.starts_with("readings not kept: chat only"));
        let mut chat = server.connect();
        assert_eq!(chat.ask("23.5"), "23.5", "a number is chat here");
        assert_eq!(chat.ask("temp=21.5"), "TEMP=21.5");
        let mut device = server.connect();
        assert_eq!(device.ask("HELLO esp-1"), "HELLO ESP-1");
        let refused = device.ask("temp=21.5");
        assert!(
            refused.starts_with("error: readings not stored: this server keeps no readings store"),
            "{refused}"
        );
        assert_eq!(device.ask("still chatting here"), "STILL CHATTING HERE", "the connection goes on");
        let written: Vec<_> = walk(cwd.path());
        assert!(written.is_empty(), "{profile} wrote {written:?}");
    }
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() { found.extend(walk(&path)) } else { found.push(path) }
    }
    found
}

#[test]
fn a_store_kept_by_default_by_an_earlier_iotchat_is_pointed_out() {
    // Earlier versions kept readings in ~/.local/share/iotchat when given no data directory.
    let home = tempfile::tempdir().expect("tempdir");
    let earlier = home.path().join(".local/share/iotchat");
    std::fs::create_dir_all(&earlier).expect("mkdir");
    iotchat::store::Store::open(&earlier).expect("a store").close().expect("close");
    let mut server = Server::spawn_without_data_dir(&["serve", "--bind", "127.0.0.1:0"], home.path());
    let hint = server.log_line_containing("holds readings an earlier iotchat kept there");
    assert!(hint.contains(&format!("--data-dir {}", earlier.display())), "{hint}");
    common::cmd()
        .arg("readings")
        .env_remove("IOTCHAT_DATA_DIR")
        .env_remove("XDG_DATA_HOME")
        .env("HOME", home.path())
        .assert()
        .code(2)
        .stderr(predicates::str::contains(format!("--data-dir {}", earlier.display())));
}
