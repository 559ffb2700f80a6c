//! A real browser for tests: Debian's `chromium`, headless, driven over the Chrome DevTools
//! Protocol (a websocket, `tungstenite`). Killed when dropped. Waits happen in the page: one
//! `Runtime.evaluate` of a promise that polls the DOM and resolves once a condition holds.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use crate::common::{DEADLINE, lines_of, wait_line};

/// The names chromium goes by, tried in order (`$IOTCHAT_CHROMIUM` first when set).
const NAMES: &[&str] = &["chromium", "chromium-browser", "google-chrome"];

/// A headless chromium showing one page.
pub struct Browser {
    child: Child,
    page: WebSocket<TcpStream>,
    next_id: u64,
    /// Events read while waiting for an answer, for `wait_event`.
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromium with a profile of its own, and opens `url` in its page: returns once
    /// the page has loaded.
    pub fn open(url: &str) -> Browser {
        let program = find_chromium();
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut child = Command::new(&program)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
            .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
            .args(["--hide-scrollbars", "--remote-debugging-port=0"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{program} does not start: {e}"));
        let stderr = lines_of(child.stderr.take().expect("stderr piped"));
        // Killed by Drop from here on, whatever fails next.
        let mut browser_guard = Guard(Some(child));
        let line = wait_line(
            &stderr,
            &|l| l.starts_with("DevTools listening on ws://"),
            "chromium",
            &mut Vec::new(),
        );
        let endpoint = line.trim_start_matches("DevTools listening on ws://");
        let host = endpoint.split('/').next().expect("host:port before the path").to_owned();
        let page = connect_page(&host);
        let child = browser_guard.0.take().expect("still held");
        let mut browser = Browser { child, page, next_id: 0, events: Vec::new(), _profile: profile };
        browser.call("Page.enable", json!({}));
        browser.call("Page.navigate", json!({ "url": url }));
        browser.wait_event("Page.loadEventFired");
        browser
    }

    /// Waits for the event `method` (one read since the last wait for it counts).
    pub fn wait_event(&mut self, method: &str) -> Value {
        loop {
            if let Some(at) = self.events.iter().position(|e| e["method"] == method) {
                return self.events.remove(at);
            }
            let event = self.read(method);
            self.events.push(event);
        }
    }

    fn read(&mut self, waiting_for: &str) -> Value {
        loop {
            let message =
                self.page.read().unwrap_or_else(|e| panic!("{waiting_for}: nothing from chromium: {e}"));
            if let Ok(text) = message.to_text() {
                return serde_json::from_str(text).expect("DevTools speaks JSON");
            }
        }
    }

    /// Calls a DevTools method on the page and returns its result.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({ "id": id, "method": method, "params": params });
        self.page.send(Message::text(request.to_string())).expect("the page takes a command");
        loop {
            let answer = self.read(method);
            if answer["id"] != id {
                if answer.get("method").is_some() {
                    self.events.push(answer);
                }
                continue;
            }
            if let Some(error) = answer.get("error") {
                panic!("{method} failed: {error}");
            }
            return answer["result"].clone();
        }
    }

    /// Evaluates `expression` in the page (awaiting it if it is a promise), returns its value.
    pub fn eval(&mut self, expression: &str) -> Value {
        let params = json!({ "expression": expression, "returnByValue": true, "awaitPromise": true });
        let result = self.call("Runtime.evaluate", params);
        if let Some(thrown) = result.get("exceptionDetails") {
            panic!("the page threw evaluating {expression}: {thrown}");
        }
        result["result"]["value"].clone()
    }

    /// Waits, in the page, until `expression` is truthy and returns its value; fails naming
    /// `what`, with the page's text, after the deadline.
    pub fn wait_for(&mut self, what: &str, expression: &str) -> Value {
        let ms = DEADLINE.as_millis() - 500; // answered before the websocket's read timeout
        let poll = format!(
            "new Promise((resolve) => {{ const until = Date.now() + {ms}; \
               const check = () => {{ let v = null; try {{ v = ({expression}); }} catch (e) {{}} \
                 if (v || Date.now() > until) resolve(v || null); else setTimeout(check, 25); }}; check(); }})"
        );
        let value = self.eval(&poll);
        if value.is_null() {
            let text = self.eval("document.body.innerText");
            panic!(
                "the dashboard: {what}, not within {DEADLINE:?}; the page shows:\n{}",
                text.as_str().unwrap_or("")
            );
        }
        value
    }

    /// A PNG of the page as shown now.
    pub fn screenshot(&mut self) -> Vec<u8> {
        // Charts resized or fed just now redraw on the next frames: wait for two.
        self.eval("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))");
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let data = shot["data"].as_str().expect("base64 PNG data");
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data).expect("valid base64")
    }

    /// Sets the viewport (CSS pixels), as a phone or a desktop window would.
    pub fn viewport(&mut self, width: u32, height: u32, mobile: bool) {
        let metrics = json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile });
        self.call("Emulation.setDeviceMetricsOverride", metrics);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kills chromium if the browser is never built.
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The page's own websocket, from the DevTools HTTP endpoint's list of targets.
fn connect_page(host: &str) -> WebSocket<TcpStream> {
    let addr = host.parse().unwrap_or_else(|e| panic!("DevTools at {host:?}: {e}"));
    let targets: Value =
        serde_json::from_slice(&super::get(addr, "/json/list").body).expect("a JSON target list");
    let mut pages = targets.as_array().into_iter().flatten().filter(|t| t["type"] == "page");
    let page = pages.next().unwrap_or_else(|| panic!("no page in chromium's targets: {targets}"));
    let ws_url = page["webSocketDebuggerUrl"].as_str().expect("a page websocket URL");
    let stream = TcpStream::connect(addr).expect("DevTools accepts");
    stream.set_read_timeout(Some(DEADLINE)).expect("read timeout");
    let (socket, _) = tungstenite::client(ws_url, stream).expect("a DevTools websocket");
    socket
}

/// Chromium's path: `$IOTCHAT_CHROMIUM`, or the first of `NAMES` on `PATH`. Missing, the test
/// fails saying how to install it: a dashboard test that skips itself tests nothing.
fn find_chromium() -> String {
    if let Ok(given) = std::env::var("IOTCHAT_CHROMIUM") {
        return given;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in NAMES {
        if std::env::split_paths(&path).any(|dir| dir.join(name).is_file()) {
            return (*name).to_owned();
        }
    }
    let how = if std::path::Path::new("/etc/debian_version").exists() {
        "apt-get install chromium (scripts/test installs it)"
    } else {
        "install Chromium or Chrome with your package manager, or set $IOTCHAT_CHROMIUM to its path \
         (scripts/test installs it on Debian)"
    };
    panic!("the dashboard tests need a real browser and found none of {NAMES:?} on PATH: {how}");
}
