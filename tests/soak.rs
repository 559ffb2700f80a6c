//! The soak run in miniature (issue 7; the full one is `bench/soak`): a fleet of fake devices
//! sends readings while the operator kicks some of them and the server is killed with
//! SIGKILL and restarted on the same port and data directory. At the end no acknowledged
//! reading is lost, none is stored twice, and once the devices are gone the server holds as
//! many descriptors as a fresh one. No timing is asserted.

mod common;

use std::process::Stdio;

use common::Server;
use common::faults::{counts, fd_count, stored, wait_for_fd_count, wait_until_stored};

const DEVICES: usize = 50;
const MESSAGES: u64 = 150;
const INTERVAL: &str = "100ms";
/// Clients the operator kicks while the fleet runs (ids are given in connect order).
const KICKS: u64 = 5;

#[test]
fn a_fleet_survives_kicks_and_a_server_kill_with_no_acked_reading_lost() {
    let mut server = Server::start(&[]);
    let addr = server.addr;
    let fresh_fds = fd_count(server.pid());
    let fleet = common::iotchat()
        .args(["fake-device", "--count", &DEVICES.to_string(), "--interval", INTERVAL, "-q"])
        .args(["--messages", &MESSAGES.to_string(), "--server", &addr.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fake-device starts");

    server.wait_for_clients(DEVICES);
    for id in 1..=KICKS {
        server.console(&format!("kick {id}"));
        server.stdout_line_matching(|l| l == format!("kicked client {id}"));
    }
    wait_until_stored(server.data_dir(), DEVICES * 10 * 4);
    let data = server.kill_hard();
    let at_kill = stored(data.path()).len();
    assert!(at_kill < DEVICES * MESSAGES as usize * 4, "killed while the devices were still sending");

    let mut command = common::iotchat();
    command.args(["serve", "--bind", &addr.to_string()]);
    let mut restarted = Server::spawn_in(command, Stdio::piped(), data);

    let out = fleet.wait_with_output().expect("fake-device ends");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "every reading acked: {summary}\n{}", String::from_utf8_lossy(&out.stderr));
    let total = DEVICES as u64 * MESSAGES;
    assert!(summary.contains(&format!("acked {total}  ")), "{summary}");
    assert!(summary.contains("dropped 0  unacked 0"), "{summary}");

    let got = counts(&stored(restarted.data_dir()));
    let want: Vec<u64> = (1..=MESSAGES).collect();
    assert_eq!(got.len(), DEVICES, "every device stored: {:?}", got.keys());
    for (device, c) in &got {
        assert_eq!(c, &want, "{device}: every acked reading, each exactly once");
    }

    restarted.wait_for_clients(0);
    wait_for_fd_count(restarted.pid(), fresh_fds);
}
