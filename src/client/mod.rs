//! Talking to a flux server: which one (the project's, or the one named), and its answers.

use std::cell::Cell;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::api::{ErrorBody, Health};
use crate::project::{find_root, identity, Layout};

mod tls;
pub use tls::Untrusted;

pub const DEFAULT_URL: &str = "http://127.0.0.1:4000";

/// Why a call to the server failed, or why no server could be called.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot make an HTTP client: {0}")]
    Build(#[source] reqwest::Error),
    #[error("request to {url} failed: {source}")]
    Request { url: String, source: reqwest::Error },
    /// The server refused the token, or wants one.
    #[error("{message}")]
    Unauthorized { message: String },
    /// No server of this project answered; `start_hint` says how to start one.
    #[error("{message}")]
    NoServer { message: String, start_hint: String },
    #[error("cannot write the body of {path} as JSON: {source}")]
    Encode {
        path: String,
        source: serde_json::Error,
    },
    #[error("unexpected answer from the server at {url}: {source}")]
    Answer { url: String, source: reqwest::Error },
    /// The server (or its TLS proxy) answered with a certificate this machine does not trust.
    #[error("the certificate of {url} is not trusted: {why}")]
    Untrusted { url: String, why: Untrusted },
}

/// What the command line and the user's settings say about the server to talk to; the rest
/// comes from the project the command stands in.
#[derive(Debug, Default, Clone)]
pub struct ServerChoice {
    /// `--url` / `FLUX_URL`.
    pub url: Option<String>,
    /// `--token` / `FLUX_TOKEN`.
    pub token: Option<String>,
    /// The user's default server, when no flag or project names one.
    pub default_url: Option<String>,
    /// The user's default token.
    pub default_token: Option<String>,
}

/// What `flux dev` writes to `.flux/server.json` while it runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerInfo {
    pub url: String,
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl ServerInfo {
    pub fn read(layout: &Layout) -> Option<ServerInfo> {
        let text = std::fs::read_to_string(layout.server_file()).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// Where a command's data comes from.
pub struct Target {
    pub url: String,
    /// Set when the URL came from `--url`/`FLUX_URL`, not from a project.
    pub explicit: bool,
    pub token: Option<String>,
    /// The project the command stands in, if any.
    pub project: Option<Layout>,
    /// Set when the server at `url` serves another project than the one the command stands
    /// in: it is not asked anything, and the project's store is read instead.
    foreign: Option<ForeignServer>,
    /// Whether the command said it reads the store instead of a foreign server.
    store_notice_given: Cell<bool>,
}

/// What a server of another project said about itself.
struct ForeignServer {
    /// Its project's folder, as it reported it.
    root: Option<String>,
}

impl Target {
    /// The server from `--url`/`FLUX_URL`, else the project's `.flux/server.json`, else the
    /// user's default, else [`DEFAULT_URL`]; the token from `--token`/`FLUX_TOKEN`, else the
    /// project, else the user's default.
    pub fn resolve(choice: &ServerChoice) -> Target {
        let project = std::env::current_dir()
            .ok()
            .and_then(|cwd| find_root(&cwd))
            .map(|root| Layout::new(&root));
        let info = project.as_ref().and_then(ServerInfo::read);
        let explicit = choice.url.is_some();
        let url = choice
            .url
            .clone()
            .or_else(|| info.as_ref().map(|i| i.url.clone()))
            .or_else(|| choice.default_url.clone())
            .unwrap_or_else(|| DEFAULT_URL.to_string());
        let token = choice
            .token
            .clone()
            .or_else(|| info.and_then(|i| i.token).filter(|_| !explicit))
            .or_else(|| choice.default_token.clone());
        let mut target = Target {
            url: url.trim_end_matches('/').to_string(),
            explicit,
            token,
            project,
            foreign: None,
            store_notice_given: Cell::new(false),
        };
        target.foreign = target.check_identity();
        target
    }

    /// Asks the server which project it serves, once per command, before anything else
    /// (a write must not land in another project). Outside a project there is nothing to
    /// compare with; a server that does not answer, wants a token we lack, or reports no
    /// identity (an older flux) is taken as it is.
    fn check_identity(&self) -> Option<ForeignServer> {
        let layout = self.project.as_ref()?;
        let Ok(Answer::Ok(health)) =
            self.request::<Health>(reqwest::Method::GET, "/_flux/api/health", Payload::None)
        else {
            return None;
        };
        foreign_server(layout, &health)
    }

    /// Whether the server now at the address serves another project: `Some(true)` or
    /// `Some(false)` when it said who it is, `None` when it did not answer. For a command that
    /// reconnects (`flux tail`): another project's server may have taken the address since.
    pub async fn now_serves_another_project(&self) -> Option<bool> {
        let Some(layout) = &self.project else {
            return Some(false);
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .ok()?;
        let mut request = client.get(format!("{}/_flux/api/health", self.url));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        let health = response.json::<Health>().await.ok()?;
        Some(foreign_server(layout, &health).is_some())
    }

    /// The target asked whatever project it serves: a deploy names its server and sends the
    /// project, so a server of another (or no) project is the point, not a mistake.
    pub fn any_project(mut self) -> Target {
        self.foreign = None;
        self
    }

    /// Whether the server found belongs to another project (and so is not used).
    pub fn is_foreign(&self) -> bool {
        self.foreign.is_some()
    }

    /// The project's store, for reading when no server answers, or when the one that answers
    /// serves another project. `None` when there is no store, or when a server named
    /// explicitly did not answer (its store is not ours to guess).
    pub fn local_store_path(&self) -> Option<PathBuf> {
        let ours = !self.explicit || self.is_foreign();
        self.store_path().filter(|_| ours)
    }

    /// What to tell the user, once per command, when it reads the project's store because the
    /// server at the address serves another project.
    pub fn store_notice(&self, store: &std::path::Path) -> Option<String> {
        if !self.is_foreign() || self.store_notice_given.replace(true) {
            return None;
        }
        Some(format!(
            "{}; reading this project's store {} instead",
            self.foreign_message(),
            store.display()
        ))
    }

    /// The project's store file.
    fn store_path(&self) -> Option<PathBuf> {
        self.project
            .as_ref()
            .map(Layout::store_path)
            .filter(|p| p.exists())
    }

    fn foreign_message(&self) -> String {
        let root = self
            .foreign
            .as_ref()
            .and_then(|f| f.root.as_deref())
            .map(|root| format!(" ({root})"))
            .unwrap_or_default();
        format!(
            "the flux server at {} belongs to another project{root}",
            self.url
        )
    }

    /// Why no server can answer this command: nothing answered at the address (and where
    /// this project's server last ran, when that was elsewhere), or another project's did.
    pub fn no_server_message(&self) -> String {
        if self.is_foreign() {
            return self.foreign_message();
        }
        let last = self
            .project
            .as_ref()
            .and_then(last_server_url)
            .filter(|last| last.trim_end_matches('/') != self.url);
        match last {
            Some(last) => format!(
                "no flux server at {} (this project's server last ran at {last})",
                self.url
            ),
            None => format!("no flux server at {}", self.url),
        }
    }

    /// What to do when no server can answer: start this project's.
    pub fn start_hint(&self) -> String {
        match &self.project {
            Some(layout) if self.is_foreign() => format!(
                "start this project's server with 'flux dev' in {}; to read the other project, run the command in its folder",
                layout.root.display()
            ),
            _ => "start one with 'flux dev' in your project, or set FLUX_URL / --url".into(),
        }
    }

    /// The error for a command that needs a server and found none of this project's.
    pub fn unreachable(&self) -> ClientError {
        ClientError::NoServer {
            message: self.no_server_message(),
            start_hint: self.start_hint(),
        }
    }

    fn request<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Payload<'_>,
    ) -> Result<Answer<T>, ClientError> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(ClientError::Build)?;
        let mut request = client.request(method, format!("{}{path}", self.url));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request = match body {
            Payload::None => request,
            Payload::Json(body) => request.json(&body),
            Payload::Bytes(bytes) => request.body(bytes.to_vec()),
        };
        let response = match request.send() {
            Ok(response) => response,
            Err(source) => {
                // A refused certificate is a connect error too, but the server is there.
                if let Some(why) = Untrusted::find(&source) {
                    return Err(ClientError::Untrusted {
                        url: self.url.clone(),
                        why,
                    });
                }
                if source.is_connect() || source.is_timeout() {
                    return Ok(Answer::Unreachable);
                }
                return Err(ClientError::Request {
                    url: self.url.clone(),
                    source,
                });
            }
        };
        let status = response.status();
        if status.is_success() {
            return response
                .json()
                .map(Answer::Ok)
                .map_err(|source| ClientError::Answer {
                    url: self.url.clone(),
                    source,
                });
        }
        // Not every refusal is flux's (a proxy's page, an older flux): then only the status.
        let body: ErrorBody = response.json().unwrap_or_default();
        let message = if body.error.is_empty() {
            format!("the server answered {status}")
        } else {
            body.error.clone()
        };
        if status.as_u16() == 401 {
            return Err(ClientError::Unauthorized { message });
        }
        Ok(Answer::Status(status.as_u16(), message, body))
    }
}

/// A server's `/_flux/api/health` answer judged against the project: `None` when it serves
/// this project, or reports no identity (an older flux) and so cannot be told apart.
fn foreign_server(layout: &Layout, health: &Health) -> Option<ForeignServer> {
    let theirs = health.project_id.as_deref()?;
    // A project with no id yet has never been served by a flux that makes one: a server that
    // has one serves another project.
    if identity::read(layout).is_some_and(|ours| ours == theirs) {
        return None;
    }
    Some(ForeignServer {
        root: health.project.clone(),
    })
}

/// What the client reads of `flux dev`'s lock file.
#[derive(Deserialize)]
struct LockHolder {
    #[serde(default)]
    url: String,
}

/// The address `flux dev` last served this project at: its lock file keeps it after it stops.
fn last_server_url(layout: &Layout) -> Option<String> {
    let text = std::fs::read_to_string(layout.lock_file()).ok()?;
    let holder: LockHolder = serde_json::from_str(&text).ok()?;
    Some(holder.url).filter(|url| !url.is_empty())
}

/// A query-string value.
pub fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A server's answer: its body as `T` (an `api` type) when it succeeded.
pub enum Answer<T> {
    Ok(T),
    /// An HTTP error with the server's message (its `error`, else the status) and body.
    Status(u16, String, ErrorBody),
    Unreachable,
}

/// What a request carries.
enum Payload<'a> {
    None,
    Json(serde_json::Value),
    Bytes(&'a [u8]),
}

pub fn get<T: DeserializeOwned>(target: &Target, path: &str) -> Result<Answer<T>, ClientError> {
    send(target, reqwest::Method::GET, path, Payload::None)
}

/// A POST without a body.
pub fn post<T: DeserializeOwned>(target: &Target, path: &str) -> Result<Answer<T>, ClientError> {
    send(target, reqwest::Method::POST, path, Payload::None)
}

/// A PUT of `bytes` as they are.
pub fn put_bytes<T: DeserializeOwned>(
    target: &Target,
    path: &str,
    bytes: &[u8],
) -> Result<Answer<T>, ClientError> {
    send(target, reqwest::Method::PUT, path, Payload::Bytes(bytes))
}

/// A POST of `body` as JSON.
pub fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
    target: &Target,
    path: &str,
    body: &B,
) -> Result<Answer<T>, ClientError> {
    let body = serde_json::to_value(body).map_err(|source| ClientError::Encode {
        path: path.to_string(),
        source,
    })?;
    send(target, reqwest::Method::POST, path, Payload::Json(body))
}

/// A call to the server, unless it serves another project: then it is treated as absent.
fn send<T: DeserializeOwned>(
    target: &Target,
    method: reqwest::Method,
    path: &str,
    body: Payload<'_>,
) -> Result<Answer<T>, ClientError> {
    if target.is_foreign() {
        return Ok(Answer::Unreachable);
    }
    target.request(method, path, body)
}
