//! The dashboard in a real browser (headless Debian `chromium`, driven over the DevTools
//! Protocol) against the real binary: devices listed, a uPlot chart per numeric key, string
//! values in the latest-value table, a new reading shown live without a reload, and a phone's
//! width without sideways scrolling. Writes a screenshot: `docs/dashboard.png` when
//! `IOTCHAT_UPDATE_SCREENSHOT=1`, else into the test's temporary directory.

mod common;
mod web_support;

use std::time::{SystemTime, UNIX_EPOCH};

use common::http::http_addr;
use common::{Client, Server};
use web_support::browser::Browser;

/// Readings per device sent once the page is open, 20 s apart (device timestamps) over the
/// last 15 minutes, so the charts have lines to draw.
const POINTS: i64 = 42;

/// A server keeping readings (in a temporary data directory), its HTTP side on a free port.
fn serve() -> Server {
    Server::start(&["--http", "127.0.0.1:0"])
}

fn now_ms() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970");
    i64::try_from(since_epoch.as_millis()).expect("fits")
}

fn device(server: &Server, name: &str) -> Client {
    let mut client = server.connect();
    assert_eq!(client.ask(&format!("HELLO {name}")), format!("HELLO {}", name.to_uppercase()));
    client
}

/// Sends `line` as a reading; the ack is its echo.
fn send(client: &mut Client, line: &str) {
    assert_eq!(client.ask(line), line.to_uppercase());
}

/// Readings `from..to` of a plausible day: a kitchen's temperature and humidity, a garage's
/// temperature and CO2, each with a state as text.
fn readings(kitchen: &mut Client, garage: &mut Client, from: i64, to: i64) {
    let start = now_ms() - POINTS * 20_000;
    for i in from..to {
        let ts = start + i * 20_000;
        let x = i as f64 / 6.0;
        let door = if (i / 9) % 2 == 0 { "closed" } else { "open" };
        let (temp, hum) = (21.0 + 1.2 * x.sin(), 45 + (6.0 * (x / 2.0).cos()) as i64);
        send(kitchen, &format!("temp={temp:.2} humidity={hum} door={door} ts={ts}"));
        let (temp, co2) = (14.5 + 0.8 * (x / 1.5).cos(), 620 + (140.0 * (x / 3.0).sin()) as i64);
        send(garage, &format!("temp={temp:.2} co2={co2} status=ok ts={ts}"));
    }
}

/// The points drawn in `device`'s chart of `key` when it has a uPlot canvas, else null.
fn chart_points(device: &str, key: &str) -> String {
    format!(
        "(() => {{ const c = document.querySelector('section.device[data-device=\"{device}\"] .chart[data-key=\"{key}\"]'); \
           return c && c.querySelector('canvas.u-over, canvas') ? Number(c.dataset.points) : null; }})()"
    )
}

/// The text of `device`'s latest-value cell for `key`.
fn latest(device: &str, key: &str) -> String {
    format!(
        "document.querySelector('section.device[data-device=\"{device}\"] tr[data-key=\"{key}\"] td.value')?.textContent"
    )
}

#[test]
fn the_dashboard_shows_devices_with_charts_and_new_readings_live() {
    let mut server = serve();
    let http = http_addr(&mut server);
    let (mut kitchen, mut garage) = (device(&server, "esp-kitchen"), device(&server, "esp-garage"));
    // Stored before the page opens: the page reads these from /api/devices and /api/readings.
    readings(&mut kitchen, &mut garage, 0, 2);
    send(&mut garage, "HEALTH rssi=-61 heap=31744 frag=12 uptime=7200 fw=1.2.0");

    let mut browser = Browser::open(&format!("http://{http}/"));
    browser.viewport(1200, 800, false);
    browser.wait_for("the live stream open", "document.body.dataset.stream === 'live'");
    browser.eval("window.sameDocument = true"); // gone if the page reloads
    readings(&mut kitchen, &mut garage, 2, POINTS);

    let listed = "[...document.querySelectorAll('section.device')].map((s) => s.dataset.device).join() \
                  === 'esp-garage,esp-kitchen'";
    browser.wait_for("both devices listed, in order", listed);
    for (name, keys) in [("esp-kitchen", ["temp", "humidity"]), ("esp-garage", ["temp", "co2"])] {
        let online = format!(
            "document.querySelector('section.device[data-device=\"{name}\"]').dataset.online === 'true'"
        );
        browser.wait_for(&format!("{name} online"), &online);
        for key in keys {
            // The first two from /api/readings (stored before the page opened), the rest live.
            let drawn = format!("{} === {}", chart_points(name, key), POINTS);
            browser
                .wait_for(&format!("{name}'s {key} charted with its history and every live reading"), &drawn);
        }
    }
    browser.wait_for(
        "a text value in the latest-value table",
        &format!("{} === 'ok'", latest("esp-garage", "status")),
    );
    let health = "document.querySelector('section.device[data-device=\"esp-garage\"] .health')?.textContent \
                  === 'RSSI -61 dBm · heap 31 KiB (12% frag.) · up 2h · fw 1.2.0'";
    browser.wait_for("the garage's health under its name", health);
    let charts = browser.eval("document.querySelectorAll('.chart').length");
    assert_eq!(charts, 4, "one chart per numeric key, none for text");

    let before = browser.eval(&chart_points("esp-kitchen", "temp"));
    send(&mut kitchen, &format!("temp=23.25 door=ajar ts={}", now_ms()));
    browser.wait_for(
        "the new temperature shown live",
        &format!("{} === '23.25'", latest("esp-kitchen", "temp")),
    );
    browser
        .wait_for("the new door state shown live", &format!("{} === 'ajar'", latest("esp-kitchen", "door")));
    let added = format!("{} > {before}", chart_points("esp-kitchen", "temp"));
    browser.wait_for("the new point charted", &added);
    assert_eq!(browser.eval("window.sameDocument"), true, "shown without a reload");

    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "a screenshot of a drawn page");
    save_screenshot(&png);

    browser.eval("document.querySelector('[data-window=\"1h\"]').click(); true");
    let hour = format!(
        "document.querySelector('[data-window=\"1h\"]').getAttribute('aria-pressed') === 'true' && {} > {before}",
        chart_points("esp-kitchen", "temp")
    );
    browser.wait_for("the last hour chosen, the points kept", &hour);

    drop(garage);
    let offline =
        "document.querySelector('section.device[data-device=\"esp-garage\"]').dataset.online === 'false'";
    browser.wait_for("a device that left shown offline", offline);
}

#[test]
fn the_dashboard_shows_a_firmware_rollout_as_ota_status_does() {
    let mut server = serve();
    let http = http_addr(&mut server);
    let (mut a, mut b) = (device(&server, "esp-a"), device(&server, "esp-b"));
    send(&mut a, "HEALTH fw=1.0.0");
    send(&mut b, "HEALTH fw=1.0.0");
    let mut browser = Browser::open(&format!("http://{http}/"));
    browser.wait_for("the live stream open", "document.body.dataset.stream === 'live'");
    assert_eq!(browser.eval("document.getElementById('ota').hidden"), true, "no rollout: no panel");

    let dir = tempfile::tempdir().expect("tempdir");
    let image = dir.path().join("fw.bin");
    std::fs::write(&image, [0xE9; 4096]).expect("image");
    let image = image.to_str().expect("path");
    common::cmd()
        .args([
            "ota",
            "push",
            "--image",
            image,
            "--version",
            "2.0.0",
            "--device",
            "esp-a",
            "--http",
            &http.to_string(),
        ])
        .assert()
        .success();
    assert!(a.line().starts_with("ota: 2.0.0 http://"), "esp-a is told");
    let row = |name: &str| format!("document.querySelector('#ota tr[data-device=\"{name}\"]')");
    browser.wait_for("esp-a pending", &format!("{}?.dataset.state === 'pending'", row("esp-a")));
    assert_eq!(a.ask("OTA FAILED Not Enough Space"), "OTA FAILED NOT ENOUGH SPACE");
    browser.wait_for("esp-a failed", &format!("{}?.dataset.state === 'failed'", row("esp-a")));
    let detail = browser.eval(&format!("{}.querySelector('.detail').textContent", row("esp-a")));
    assert_eq!(detail, "the device says: Not Enough Space");
    assert_eq!(browser.eval(&format!("{}.dataset.state", row("esp-b"))), "idle", "not in the rollout");
    let title = browser.eval("document.querySelector('#ota h2').textContent");
    assert_eq!(title, "Firmware 2.0.0: stopped, wave 1; 0 of 1 updated, 1 failed");
}

#[test]
fn on_a_phone_the_dashboard_fits_the_screen() {
    let mut server = serve();
    let http = http_addr(&mut server);
    let mut kitchen = device(&server, "esp-kitchen-with-a-long-name");
    let mut browser = Browser::open(&format!("http://{http}/"));
    browser.viewport(390, 844, true);
    browser.wait_for("the live stream open", "document.body.dataset.stream === 'live'");
    send(&mut kitchen, &format!("temp=20.5 note={} ts={}", "x".repeat(300), now_ms()));
    browser.wait_for("the chart", &format!("{} >= 1", chart_points("esp-kitchen-with-a-long-name", "temp")));
    let fits = "document.documentElement.scrollWidth <= window.innerWidth";
    assert_eq!(browser.eval(fits), true, "no sideways scrolling at 390 px");
    let chart_width =
        "document.querySelector('.chart canvas').getBoundingClientRect().right <= window.innerWidth";
    assert_eq!(browser.eval(chart_width), true, "the chart fits the screen");
}

#[test]
fn with_a_token_the_page_asks_for_it_once_and_again_when_refused() {
    let data = tempfile::tempdir().expect("a data directory");
    let mut command = common::iotchat();
    command
        .args(["serve", "--bind", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .env("IOTCHAT_HTTP_TOKEN", "s3cret-token");
    let mut server = Server::spawn_in(command, std::process::Stdio::piped(), data);
    let http = http_addr(&mut server);
    let mut browser = Browser::open(&format!("http://{http}/"));
    let form_shown = "!document.getElementById('token-form').hidden";
    browser.wait_for("the token asked for", form_shown);
    let submit = |token: &str| {
        format!(
            "document.getElementById('token').value = '{token}'; \
             document.getElementById('token-form').requestSubmit(); true"
        )
    };
    browser.eval(&submit("wrong"));
    let refused = format!("{form_shown} && !document.getElementById('token-error').hidden");
    browser.wait_for("a wrong token refused, and asked again", &refused);
    browser.eval(&submit("s3cret-token"));
    browser.wait_for("the stream open with the token", "document.body.dataset.stream === 'live'");
    let mut kitchen = device(&server, "esp-kitchen");
    send(&mut kitchen, "temp=19.75");
    browser
        .wait_for("a reading through the token", &format!("{} === '19.75'", latest("esp-kitchen", "temp")));

    browser.call("Page.reload", serde_json::json!({}));
    browser.wait_event("Page.loadEventFired");
    browser.wait_for("live again after a reload", "document.body.dataset.stream === 'live'");
    assert_eq!(browser.eval(form_shown), false, "the token is kept for the session: not asked again");
}

/// `docs/dashboard.png` only when asked, so the suite never changes the tree.
fn save_screenshot(png: &[u8]) {
    let asked = std::env::var("IOTCHAT_UPDATE_SCREENSHOT").is_ok_and(|v| v == "1");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = if asked {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/dashboard.png")
    } else {
        dir.path().join("dashboard.png")
    };
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
