//! Headless Chromium for the dashboard's tests, driven through the DevTools protocol over the
//! websocket client flux already depends on. Debian's `chromium` is installed once (under a
//! file lock) when it is missing, as `.ci/run` does; `FLUX_CHROMIUM` names another binary.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{self, stream::MaybeTlsStream, Message, WebSocket};

use crate::support::{wait_for, DEADLINE};

/// The Chromium binary, installed with apt-get the first time when there is none.
pub fn chromium() -> &'static Path {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    FOUND.get_or_init(find_or_install)
}

fn find_or_install() -> PathBuf {
    if let Some(path) = std::env::var_os("FLUX_CHROMIUM") {
        return PathBuf::from(path);
    }
    let installed = PathBuf::from("/usr/bin/chromium");
    if installed.exists() {
        return installed;
    }
    crate::support::apt_install("chromium", "the dashboard's tests need Chromium", || {
        installed.exists()
    });
    installed
}

/// One headless Chromium with one page, closed when dropped.
pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
}

impl Browser {
    pub fn start() -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--window-size=1280,900",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        // Chromium writes the port it chose, and the browser's websocket path, to this file.
        let active = profile.path().join("DevToolsActivePort");
        let endpoint = wait_for("chromium's DevTools port", DEADLINE, || {
            let text = std::fs::read_to_string(&active).ok()?;
            let mut lines = text.lines();
            let (port, path) = (lines.next()?, lines.next()?);
            Some(format!("ws://127.0.0.1:{port}{path}"))
        });
        let (socket, _) = tungstenite::connect(endpoint).expect("connect to chromium");
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream
                .set_read_timeout(Some(Duration::from_millis(500)))
                .expect("read timeout");
        }
        let mut browser = Browser {
            child,
            _profile: profile,
            socket,
            session: String::new(),
            next_id: 0,
        };
        let target = browser.call("Target.createTarget", json!({ "url": "about:blank" }));
        let attached = browser.call(
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        );
        browser.session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        browser.call("Page.enable", json!({}));
        browser
    }

    /// One DevTools command (on the page once attached); its result, or a panic with its error.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .expect("send to chromium");
        let until = Instant::now() + DEADLINE;
        loop {
            assert!(
                Instant::now() < until,
                "chromium did not answer {method} in {DEADLINE:?}"
            );
            let text = match self.socket.read() {
                Ok(Message::Text(text)) => text,
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) => panic!("chromium's DevTools connection failed: {e}"),
            };
            let reply: Value = serde_json::from_str(&text).expect("DevTools JSON");
            // Events (no id) and other replies are not what this call waits for.
            if reply["id"].as_u64() != Some(id) {
                continue;
            }
            if let Some(error) = reply.get("error") {
                panic!("{method} failed: {error}");
            }
            return reply["result"].clone();
        }
    }

    /// Opens `url` and waits for its document to load.
    pub fn goto(&mut self, url: &str) {
        let result = self.call("Page.navigate", json!({ "url": url }));
        if let Some(error) = result.get("errorText") {
            panic!("cannot open {url}: {error}");
        }
        self.wait_until(
            &format!("{url} to load"),
            "document.readyState === 'complete'",
        );
    }

    /// The value of a JavaScript expression in the page (promises awaited), or the exception
    /// it threw as `Err`.
    pub fn try_eval(&mut self, expression: &str) -> Result<Value, String> {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(details) = result.get("exceptionDetails") {
            return Err(details["exception"]["description"]
                .as_str()
                .or(details["text"].as_str())
                .unwrap_or("an exception")
                .to_string());
        }
        Ok(result["result"]["value"].clone())
    }

    pub fn eval(&mut self, expression: &str) -> Value {
        self.try_eval(expression)
            .unwrap_or_else(|e| panic!("{expression} threw: {e}"))
    }

    /// Waits (at most [`DEADLINE`]) until `expression` is truthy in the page; returns its value.
    pub fn wait_until(&mut self, what: &str, expression: &str) -> Value {
        let mut last;
        let until = Instant::now() + DEADLINE;
        loop {
            match self.try_eval(expression) {
                Ok(value) if truthy(&value) => return value,
                Ok(value) => last = value.to_string(),
                Err(e) => last = e,
            }
            if Instant::now() > until {
                let text = self
                    .try_eval("location.href + '\\n' + (document.body ? document.body.innerText.slice(0, 2000) : '')")
                    .unwrap_or_default();
                panic!("timed out after {DEADLINE:?} waiting for {what} (last: {last}); the page shows:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Clicks the first element `selector` matches, once there is one.
    pub fn click(&mut self, selector: &str) {
        let js = format!(
            "(() => {{ const el = document.querySelector({}); if (!el) return false; el.click(); return true; }})()",
            json!(selector)
        );
        self.wait_until(&format!("{selector} to click"), &js);
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
