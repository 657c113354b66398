//! `flux.config.ts`: evaluated by the runtime to a JSON value, then checked here key by key.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::store::Retention;

/// A config value that is wrong: which file, which key, what was expected.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{file}: {key}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackoffKind {
    Exponential,
    Linear,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub kind: BackoffKind,
    pub initial: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            kind: BackoffKind::Exponential,
            initial: Duration::from_secs(1),
        }
    }
}

/// Retry settings of one worker (the seed's defaults unless configured).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerConfig {
    pub max_attempts: u32,
    pub timeout: Duration,
    pub backoff: Backoff,
    pub concurrency: Option<u32>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            max_attempts: 3,
            timeout: Duration::from_secs(30),
            backoff: Backoff::default(),
            concurrency: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    pub timeout: Duration,
    pub max_body_bytes: u64,
    /// JS engines serving HTTP requests at once.
    pub concurrency: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            timeout: Duration::from_secs(30),
            max_body_bytes: 1024 * 1024,
            concurrency: 4,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    /// Job attempts running at once, over all workers.
    pub concurrency: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        QueueConfig {
            concurrency: (cores * 2).max(2),
        }
    }
}

/// The front door: who may talk to `/_flux/`, and what one client may hold.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Host names accepted on `/_flux/` besides loopback names and the address connected to.
    pub allowed_hosts: Vec<String>,
    /// Open connections at once; more wait to be accepted (read at start).
    pub max_connections: usize,
    /// A request's head must arrive within this, and an idle keep-alive connection is closed
    /// after it (read at start).
    pub header_timeout: Duration,
    /// `/_flux/api/tail` websockets at once; more are refused (read at start).
    pub max_tail_clients: usize,
    /// A tail client that reads nothing for this long is dropped (read at start).
    pub tail_stall_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            allowed_hosts: Vec::new(),
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            max_tail_clients: 32,
            tail_stall_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    pub workers: BTreeMap<String, WorkerConfig>,
    pub http: HttpConfig,
    pub server: ServerConfig,
    pub queue: QueueConfig,
    pub retention: Retention,
    /// How long in-flight executions may run on after Ctrl-C.
    pub shutdown_grace: Option<Duration>,
    /// Host environment variables the functions may read through `ctx.env`.
    pub env: Vec<String>,
}

impl Config {
    pub fn worker(&self, name: &str) -> WorkerConfig {
        self.workers.get(name).cloned().unwrap_or_default()
    }

    pub fn shutdown_grace(&self) -> Duration {
        self.shutdown_grace.unwrap_or(Duration::from_secs(10))
    }

    /// Checks the evaluated default export of `file`.
    pub fn from_json(file: &str, value: Value) -> Result<Config, ConfigError> {
        let error = |key: &str, message: String| ConfigError {
            file: file.to_string(),
            key: key.to_string(),
            message,
        };
        if value.is_null() {
            return Ok(Config::default());
        }
        let raw: RawConfig = serde_path_to_error::deserialize(value).map_err(|e| {
            let key = e.path().to_string();
            error(
                if key == "." { "(top level)" } else { &key },
                e.into_inner().to_string(),
            )
        })?;
        let mut config = Config::default();
        for (name, worker) in raw.workers {
            let key = |field: &str| format!("workers.{name}.{field}");
            let mut resolved = WorkerConfig::default();
            if let Some(n) = worker.max_attempts {
                if n == 0 {
                    return Err(error(
                        &key("maxAttempts"),
                        "expected a whole number of 1 or more".into(),
                    ));
                }
                resolved.max_attempts = n;
            }
            if let Some(seconds) = worker.timeout_seconds {
                resolved.timeout = positive_seconds(seconds).ok_or_else(|| {
                    error(
                        &key("timeoutSeconds"),
                        "expected a number of seconds above 0".into(),
                    )
                })?;
            }
            if let Some(backoff) = worker.backoff {
                resolved.backoff = backoff.resolve().map_err(|m| error(&key("backoff"), m))?;
            }
            if let Some(n) = worker.concurrency {
                if n == 0 {
                    return Err(error(
                        &key("concurrency"),
                        "expected a whole number of 1 or more".into(),
                    ));
                }
                resolved.concurrency = Some(n);
            }
            config.workers.insert(name, resolved);
        }
        if let Some(seconds) = raw.http.timeout_seconds {
            config.http.timeout = positive_seconds(seconds).ok_or_else(|| {
                error(
                    "http.timeoutSeconds",
                    "expected a number of seconds above 0".into(),
                )
            })?;
        }
        if let Some(size) = raw.http.max_body_size {
            config.http.max_body_bytes = size.bytes().map_err(|m| error("http.maxBodySize", m))?;
        }
        if let Some(n) = raw.http.concurrency {
            if n == 0 {
                return Err(error(
                    "http.concurrency",
                    "expected a whole number of 1 or more".into(),
                ));
            }
            config.http.concurrency = n as usize;
        }
        if let Some(n) = raw.queue.concurrency {
            if n == 0 {
                return Err(error(
                    "queue.concurrency",
                    "expected a whole number of 1 or more".into(),
                ));
            }
            config.queue.concurrency = n as usize;
        }
        if let Some(age) = raw.retention.max_age {
            config.retention.max_age = age.duration().map_err(|m| error("retention.maxAge", m))?;
        }
        if let Some(size) = raw.retention.max_size {
            config.retention.max_bytes = size.bytes().map_err(|m| error("retention.maxSize", m))?;
        }
        if let Some(seconds) = raw.shutdown.grace_seconds {
            if !(seconds >= 0.0 && seconds.is_finite()) {
                return Err(error(
                    "shutdown.graceSeconds",
                    "expected a number of seconds, 0 or more".into(),
                ));
            }
            config.shutdown_grace = Some(Duration::from_secs_f64(seconds));
        }
        config.server = raw.server.resolve().map_err(|(key, m)| error(key, m))?;
        config.env = raw.env;
        Ok(config)
    }
}

fn positive_seconds(seconds: f64) -> Option<Duration> {
    (seconds > 0.0 && seconds.is_finite()).then(|| Duration::from_secs_f64(seconds))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConfig {
    #[serde(default)]
    workers: BTreeMap<String, RawWorker>,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    queue: RawQueue,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    retention: RawRetention,
    #[serde(default)]
    shutdown: RawShutdown,
    #[serde(default)]
    env: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawWorker {
    max_attempts: Option<u32>,
    timeout_seconds: Option<f64>,
    backoff: Option<RawBackoff>,
    concurrency: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawHttp {
    timeout_seconds: Option<f64>,
    max_body_size: Option<SizeValue>,
    concurrency: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawServer {
    #[serde(default)]
    allowed_hosts: Vec<String>,
    max_connections: Option<u32>,
    header_timeout: Option<DurationValue>,
    max_tail_clients: Option<u32>,
    tail_stall_timeout: Option<DurationValue>,
}

impl RawServer {
    /// The checked settings, or the key that is wrong and why.
    fn resolve(self) -> Result<ServerConfig, (&'static str, String)> {
        let mut server = ServerConfig::default();
        for host in &self.allowed_hosts {
            let valid = !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
            if !valid {
                return Err((
                    "server.allowedHosts",
                    format!("expected host names without scheme or port (such as 'myapp.test'), found '{host}'"),
                ));
            }
        }
        server.allowed_hosts = self
            .allowed_hosts
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        let at_least_one = |key: &'static str, n: Option<u32>, default: usize| match n {
            Some(0) => Err((key, "expected a whole number of 1 or more".to_string())),
            Some(n) => Ok(n as usize),
            None => Ok(default),
        };
        server.max_connections = at_least_one(
            "server.maxConnections",
            self.max_connections,
            server.max_connections,
        )?;
        server.max_tail_clients = at_least_one(
            "server.maxTailClients",
            self.max_tail_clients,
            server.max_tail_clients,
        )?;
        if let Some(timeout) = self.header_timeout {
            server.header_timeout = timeout
                .duration()
                .map_err(|m| ("server.headerTimeout", m))?;
        }
        if let Some(timeout) = self.tail_stall_timeout {
            server.tail_stall_timeout = timeout
                .duration()
                .map_err(|m| ("server.tailStallTimeout", m))?;
        }
        Ok(server)
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawQueue {
    concurrency: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRetention {
    max_age: Option<DurationValue>,
    max_size: Option<SizeValue>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawShutdown {
    grace_seconds: Option<f64>,
}

#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "'exponential', 'linear', or { type, initialDelay }"
)]
enum RawBackoff {
    Named(String),
    Detailed {
        #[serde(rename = "type")]
        kind: String,
        #[serde(rename = "initialDelay")]
        initial_delay: Option<DurationValue>,
    },
}

fn backoff_kind(name: &str) -> Result<BackoffKind, String> {
    match name {
        "exponential" => Ok(BackoffKind::Exponential),
        "linear" => Ok(BackoffKind::Linear),
        other => Err(format!(
            "expected 'exponential' or 'linear', found '{other}'"
        )),
    }
}

impl RawBackoff {
    fn resolve(self) -> Result<Backoff, String> {
        match self {
            RawBackoff::Named(name) => Ok(Backoff {
                kind: backoff_kind(&name)?,
                ..Backoff::default()
            }),
            RawBackoff::Detailed {
                kind,
                initial_delay,
            } => Ok(Backoff {
                kind: backoff_kind(&kind)?,
                initial: match initial_delay {
                    Some(delay) => delay.duration()?,
                    None => Backoff::default().initial,
                },
            }),
        }
    }
}

/// Milliseconds, or a duration string such as `'100ms'`, `'5s'`, `'7d'`.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "milliseconds or a duration such as '100ms', '5s', '7d'"
)]
enum DurationValue {
    Millis(f64),
    Text(String),
}

impl DurationValue {
    fn duration(&self) -> Result<Duration, String> {
        let duration = match self {
            DurationValue::Millis(ms) if *ms > 0.0 && ms.is_finite() => {
                Duration::from_secs_f64(ms / 1000.0)
            }
            DurationValue::Millis(ms) => {
                return Err(format!("expected a duration above 0, found {ms}"))
            }
            DurationValue::Text(text) => humantime::parse_duration(text.trim()).map_err(|e| {
                format!("expected a duration such as '100ms', '5s' or '7d', found '{text}' ({e})")
            })?,
        };
        if duration.is_zero() {
            return Err("expected a duration above 0".into());
        }
        Ok(duration)
    }
}

/// Bytes, or a size string such as `'1mb'`, `'512 KiB'`, `'1GiB'`.
#[derive(Deserialize)]
#[serde(untagged, expecting = "bytes or a size such as '1mb' or '512KiB'")]
enum SizeValue {
    Bytes(u64),
    Text(String),
}

impl SizeValue {
    fn bytes(&self) -> Result<u64, String> {
        let bytes = match self {
            SizeValue::Bytes(n) => *n,
            SizeValue::Text(text) => text
                .trim()
                .parse::<bytesize::ByteSize>()
                .map_err(|_| format!("expected a size such as '1mb' or '512KiB', found '{text}'"))?
                .as_u64(),
        };
        if bytes == 0 {
            return Err("expected a size above 0".into());
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_seed_config_is_accepted() {
        let config = Config::from_json(
            "flux.config.ts",
            json!({ "workers": { "send_welcome_email": { "maxAttempts": 5, "timeoutSeconds": 60, "backoff": "linear" } } }),
        )
        .expect("valid");
        let worker = config.worker("send_welcome_email");
        assert_eq!(worker.max_attempts, 5);
        assert_eq!(worker.timeout, Duration::from_secs(60));
        assert_eq!(worker.backoff.kind, BackoffKind::Linear);
        assert_eq!(config.worker("other"), WorkerConfig::default());
    }

    #[test]
    fn short_test_values_are_accepted() {
        let config = Config::from_json(
            "flux.config.ts",
            json!({ "workers": { "w": { "timeoutSeconds": 0.2, "backoff": { "type": "exponential", "initialDelay": "100ms" } } },
                    "http": { "maxBodySize": "2kb", "timeoutSeconds": 0.5 },
                    "retention": { "maxAge": "1h", "maxSize": "10MiB" } }),
        )
        .expect("valid");
        assert_eq!(
            config.worker("w").backoff.initial,
            Duration::from_millis(100)
        );
        assert_eq!(config.http.max_body_bytes, 2000);
        assert_eq!(config.retention.max_age, Duration::from_secs(3600));
    }

    #[test]
    fn mistakes_name_the_key_and_what_was_expected() {
        let unknown = Config::from_json(
            "flux.config.ts",
            json!({ "workers": { "w": { "retries": 2 } } }),
        )
        .expect_err("unknown key");
        assert_eq!(unknown.key, "workers.w.retries");
        assert!(unknown.message.contains("retries"), "{unknown}");
        let negative = Config::from_json(
            "flux.config.ts",
            json!({ "workers": { "w": { "timeoutSeconds": -1 } } }),
        )
        .expect_err("negative");
        assert_eq!(negative.key, "workers.w.timeoutSeconds");
        let wrong_type = Config::from_json(
            "flux.config.ts",
            json!({ "workers": { "w": { "maxAttempts": "five" } } }),
        )
        .expect_err("type");
        assert_eq!(wrong_type.key, "workers.w.maxAttempts");
        let zero = Config::from_json(
            "flux.config.ts",
            json!({ "workers": { "w": { "maxAttempts": 0 } } }),
        )
        .expect_err("zero");
        assert!(zero.message.contains("1 or more"));
    }

    #[test]
    fn server_settings_are_checked() {
        let config = Config::from_json(
            "flux.config.ts",
            json!({ "server": { "allowedHosts": ["MyApp.test"], "maxConnections": 4, "headerTimeout": "500ms", "maxTailClients": 2, "tailStallTimeout": 300 } }),
        )
        .expect("valid");
        assert_eq!(config.server.allowed_hosts, vec!["myapp.test".to_string()]);
        assert_eq!(config.server.max_connections, 4);
        assert_eq!(config.server.header_timeout, Duration::from_millis(500));
        assert_eq!(config.server.tail_stall_timeout, Duration::from_millis(300));
        let with_scheme = Config::from_json(
            "flux.config.ts",
            json!({ "server": { "allowedHosts": ["http://myapp.test:4000"] } }),
        )
        .expect_err("a URL is not a host name");
        assert_eq!(with_scheme.key, "server.allowedHosts");
        let zero = Config::from_json(
            "flux.config.ts",
            json!({ "server": { "maxTailClients": 0 } }),
        )
        .expect_err("zero");
        assert_eq!(zero.key, "server.maxTailClients");
    }
}
