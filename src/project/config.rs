//! `flux.config.ts`: evaluated by the runtime to a JSON value, then checked here key by key.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// The longest `timeoutSeconds` (HTTP and workers): a day.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// The most `server.maxConnections`: past the file descriptors a process usually gets.
pub const MAX_CONNECTIONS: u32 = 65_536;
/// The most `server.maxTailClients`.
pub const MAX_TAIL_CLIENTS: u32 = 4_096;
/// The longest `shutdown.graceSeconds`: an hour.
pub const MAX_SHUTDOWN_GRACE: Duration = Duration::from_secs(3600);

/// `queue.lease`'s bounds: renewed every third of it, a lease below a second would renew in
/// a tight loop; above an hour, a dead process's jobs would wait that long.
const MIN_LEASE: Duration = Duration::from_secs(1);
const MAX_LEASE: Duration = Duration::from_secs(3600);

/// `queue.pollInterval`'s bounds.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(60);
/// The longest backoff `initialDelay`: a day.
pub const MAX_BACKOFF_INITIAL: Duration = Duration::from_secs(24 * 3600);
/// The longest `retention.maxAge`: ten years.
pub const MAX_RETENTION_AGE: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// The smallest `retention.maxSize`, below which nothing could be kept: 1 MB.
pub const MIN_RETENTION_SIZE: u64 = 1_000_000;
/// The largest `http.maxBodySize`: bodies are held in memory. 1 GiB.
pub const MAX_BODY_SIZE: u64 = 1 << 30;
/// The most executions in flight at once (`concurrency` keys). Not threads: an engine
/// interleaves many executions at their awaits, so the bound is memory (each holds its state).
pub const MAX_CONCURRENCY: u32 = 10_000;
/// The most JS engine threads in a pool (`engines` keys): past any machine's cores.
pub const MAX_ENGINES: u32 = 64;
/// The most attempts a worker may give a job.
pub const MAX_ATTEMPTS: u32 = 1_000;

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
    /// The most attempts of this worker in flight at once (`None`: only `queue.concurrency`).
    pub concurrency: Option<u32>,
    /// An attempt's writes commit only if it succeeds; other writers wait while it runs.
    pub atomic: bool,
    /// Also served over HTTP at `/<name>` (a worker is not, by default).
    pub http: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            max_attempts: 3,
            timeout: Duration::from_secs(30),
            backoff: Backoff::default(),
            concurrency: None,
            atomic: false,
            http: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    pub timeout: Duration,
    pub max_body_bytes: u64,
    /// HTTP requests in flight at once in the process; more wait their turn.
    pub concurrency: usize,
    /// JS engine threads serving them (the CPU parallelism).
    pub engines: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            timeout: Duration::from_secs(30),
            max_body_bytes: 1024 * 1024,
            // As many as `server.maxConnections` lets in by default: an HTTP/1 connection has
            // at most one request in flight, so more would never be used.
            concurrency: ServerConfig::default().max_connections,
            engines: default_engines(MIN_HTTP_ENGINES),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    /// Job attempts in flight at once, over all workers.
    pub concurrency: usize,
    /// JS engine threads running them (the CPU parallelism).
    pub engines: usize,
    /// On PostgreSQL: how long a process's claim on a job holds without being renewed; a
    /// process that dies has its attempts picked up by others after at most this long.
    pub lease: Duration,
    /// On PostgreSQL: how often the dispatcher looks for due jobs when nothing woke it.
    pub poll_interval: Duration,
    /// On PostgreSQL: a transaction that makes a job due sends one `NOTIFY flux_jobs`, and
    /// every process `LISTEN`s for it (off behind PgBouncer in transaction mode).
    pub notify: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            // What BullMQ users give a worker for I/O-bound jobs: an attempt awaiting an
            // upstream holds no engine, only its own state.
            concurrency: 100,
            engines: default_engines(2),
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(200),
            notify: true,
        }
    }
}

/// HTTP engines at least: a function seen spinning for the first time may hold an engine per
/// request that arrived at once until their timeout (later it runs alone), so that up to three
/// such requests leave an engine to serve the others.
const MIN_HTTP_ENGINES: usize = 4;

/// One engine thread per core, and at least `least` (so that one spinning execution leaves
/// another engine to the rest).
fn default_engines(least: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(least, |n| n.get());
    cores.clamp(least, MAX_ENGINES as usize)
}

/// Limits on what the functions' SQL may cost.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseConfig {
    /// The most one query's result may weigh (as the JSON handed to the function).
    pub max_result_bytes: u64,
}

/// `db.maxResultSize` may not go past this: a few executions in flight each holding a few copies
/// of such a result would exhaust a laptop's memory.
pub const MAX_RESULT_SIZE_CEILING: u64 = 1 << 30;

impl Default for DatabaseConfig {
    /// A result this heavy peaks at about 120 MB of memory while it is handed over (measured:
    /// 400 000 rows weighing 50 MiB took flux dev's peak RSS from 43 MB to 380 MB). The cap is per
    /// query, not per process: a few such results at once stay under a laptop's memory, but
    /// with many executions in flight each holding one they add up (page them with LIMIT).
    fn default() -> Self {
        DatabaseConfig {
            max_result_bytes: 16 << 20,
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

/// How much history the store keeps (`retention` in the config).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retention {
    pub max_age: Duration,
    pub max_bytes: u64,
    /// Records younger than this are kept whatever the size: the ones `flux why` is asked about.
    pub min_age: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_age: Duration::from_secs(7 * 24 * 3600),
            max_bytes: 1 << 30,
            min_age: Duration::from_secs(10 * 60),
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
    pub db: DatabaseConfig,
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

    /// The keys changed from `self` to `new` that are read only when `flux dev` starts.
    pub fn changed_at_start_only(&self, new: &Config) -> Vec<&'static str> {
        let (old_server, new_server) = (&self.server, &new.server);
        let (old_retention, new_retention) = (&self.retention, &new.retention);
        [
            (
                "queue.concurrency",
                self.queue.concurrency != new.queue.concurrency,
            ),
            ("queue.engines", self.queue.engines != new.queue.engines),
            ("queue.notify", self.queue.notify != new.queue.notify),
            (
                "http.concurrency",
                self.http.concurrency != new.http.concurrency,
            ),
            ("http.engines", self.http.engines != new.http.engines),
            (
                "server.maxConnections",
                old_server.max_connections != new_server.max_connections,
            ),
            (
                "server.headerTimeout",
                old_server.header_timeout != new_server.header_timeout,
            ),
            (
                "server.maxTailClients",
                old_server.max_tail_clients != new_server.max_tail_clients,
            ),
            (
                "server.tailStallTimeout",
                old_server.tail_stall_timeout != new_server.tail_stall_timeout,
            ),
            (
                "retention.maxAge",
                old_retention.max_age != new_retention.max_age,
            ),
            (
                "retention.maxSize",
                old_retention.max_bytes != new_retention.max_bytes,
            ),
            (
                "retention.minAge",
                old_retention.min_age != new_retention.min_age,
            ),
        ]
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
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
        if let Some(seconds) = raw.http.timeout_seconds {
            config.http.timeout = seconds_up_to(&seconds, MAX_TIMEOUT, false)
                .map_err(|m| error("http.timeoutSeconds", m))?;
        }
        if let Some(size) = raw.http.max_body_size {
            config.http.max_body_bytes = size
                .bytes_within(1, MAX_BODY_SIZE)
                .map_err(|m| error("http.maxBodySize", m))?;
        }
        if let Some(n) = raw.http.concurrency {
            config.http.concurrency = whole_number(n, MAX_CONCURRENCY)
                .map_err(|m| error("http.concurrency", m))?
                as usize;
        }
        if let Some(n) = raw.http.engines {
            config.http.engines =
                whole_number(n, MAX_ENGINES).map_err(|m| error("http.engines", m))? as usize;
        }
        if let Some(n) = raw.queue.concurrency {
            config.queue.concurrency = whole_number(n, MAX_CONCURRENCY)
                .map_err(|m| error("queue.concurrency", m))?
                as usize;
        }
        if let Some(n) = raw.queue.engines {
            config.queue.engines =
                whole_number(n, MAX_ENGINES).map_err(|m| error("queue.engines", m))? as usize;
        }
        if let Some(lease) = raw.queue.lease {
            config.queue.lease = lease
                .duration_within(MIN_LEASE, MAX_LEASE)
                .map_err(|m| error("queue.lease", m))?;
        }
        if let Some(interval) = raw.queue.poll_interval {
            config.queue.poll_interval = interval
                .duration_within(MIN_POLL_INTERVAL, MAX_POLL_INTERVAL)
                .map_err(|m| error("queue.pollInterval", m))?;
        }
        if let Some(notify) = raw.queue.notify {
            config.queue.notify = notify;
        }
        for (name, worker) in raw.workers {
            let key = |field: &str| format!("workers.{name}.{field}");
            let mut resolved = WorkerConfig::default();
            if let Some(n) = worker.max_attempts {
                resolved.max_attempts =
                    whole_number(n, MAX_ATTEMPTS).map_err(|m| error(&key("maxAttempts"), m))?;
            }
            if let Some(seconds) = worker.timeout_seconds {
                resolved.timeout = seconds_up_to(&seconds, MAX_TIMEOUT, false)
                    .map_err(|m| error(&key("timeoutSeconds"), m))?;
            }
            if let Some(backoff) = worker.backoff {
                resolved.backoff = backoff.resolve().map_err(|m| error(&key("backoff"), m))?;
            }
            if let Some(n) = worker.concurrency {
                resolved.concurrency = Some(
                    whole_number(n, MAX_CONCURRENCY).map_err(|m| error(&key("concurrency"), m))?,
                );
            }
            resolved.atomic = worker.atomic.unwrap_or(false);
            resolved.http = worker.http.unwrap_or(false);
            if resolved.atomic && resolved.concurrency.is_none() {
                // An atomic attempt holds the writer's lock for its whole run: more at once
                // than there are engines would only queue on the lock.
                resolved.concurrency = Some(config.queue.engines as u32);
            }
            config.workers.insert(name, resolved);
        }
        if let Some(age) = raw.retention.max_age {
            config.retention.max_age = age
                .duration_up_to(MAX_RETENTION_AGE)
                .map_err(|m| error("retention.maxAge", m))?;
        }
        if let Some(size) = raw.retention.max_size {
            config.retention.max_bytes = size
                .bytes_within(MIN_RETENTION_SIZE, u64::MAX)
                .map_err(|m| error("retention.maxSize", m))?;
        }
        if let Some(age) = raw.retention.min_age {
            config.retention.min_age = age
                .duration_or_zero_up_to(config.retention.max_age)
                .map_err(|m| error("retention.minAge", m))?;
        }
        if let Some(size) = raw.db.max_result_size {
            config.db.max_result_bytes =
                size.bytes_within(1, MAX_RESULT_SIZE_CEILING).map_err(|m| {
                    error(
                        "db.maxResultSize",
                        format!("{m} (at most 1GiB: page large results with LIMIT instead)"),
                    )
                })?;
        }
        if let Some(seconds) = raw.shutdown.grace_seconds {
            config.shutdown_grace = Some(
                seconds_up_to(&seconds, MAX_SHUTDOWN_GRACE, true)
                    .map_err(|m| error("shutdown.graceSeconds", m))?,
            );
        }
        config.server = raw.server.resolve().map_err(|(key, m)| error(key, m))?;
        config.env = raw.env;
        Ok(config)
    }
}

/// `seconds` as a duration, above 0 (or 0 itself when `zero_allowed`) and at most `max`.
fn seconds_up_to(seconds: &Seconds, max: Duration, zero_allowed: bool) -> Result<Duration, String> {
    let seconds = seconds.value()?;
    let low_ok = if zero_allowed {
        seconds >= 0.0
    } else {
        seconds > 0.0
    };
    // NaN fails both comparisons.
    if low_ok && seconds <= max.as_secs_f64() {
        return Ok(Duration::from_secs_f64(seconds));
    }
    let low = if zero_allowed { "from 0" } else { "above 0" };
    Err(format!(
        "expected a number of seconds {low} up to {} ({}), found {}",
        max.as_secs(),
        humantime::format_duration(max),
        number(seconds)
    ))
}

/// A number as a user would write it: `1e300`, not three hundred digits.
fn number(n: f64) -> String {
    if n != 0.0 && !(1e-6..1e15).contains(&n.abs()) {
        format!("{n:e}")
    } else {
        n.to_string()
    }
}

/// A whole number from 1 to `max`.
fn whole_number(n: u32, max: u32) -> Result<u32, String> {
    if (1..=max).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "expected a whole number from 1 to {max}, found {n}"
        ))
    }
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
    db: RawDatabase,
    #[serde(default)]
    shutdown: RawShutdown,
    #[serde(default)]
    env: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawWorker {
    max_attempts: Option<u32>,
    timeout_seconds: Option<Seconds>,
    backoff: Option<RawBackoff>,
    concurrency: Option<u32>,
    atomic: Option<bool>,
    http: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawHttp {
    timeout_seconds: Option<Seconds>,
    max_body_size: Option<SizeValue>,
    concurrency: Option<u32>,
    engines: Option<u32>,
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
        let within = |key: &'static str, n: Option<u32>, max: u32, default: usize| match n {
            Some(n) => whole_number(n, max)
                .map(|n| n as usize)
                .map_err(|m| (key, m)),
            None => Ok(default),
        };
        server.max_connections = within(
            "server.maxConnections",
            self.max_connections,
            MAX_CONNECTIONS,
            server.max_connections,
        )?;
        server.max_tail_clients = within(
            "server.maxTailClients",
            self.max_tail_clients,
            MAX_TAIL_CLIENTS,
            server.max_tail_clients,
        )?;
        if let Some(timeout) = self.header_timeout {
            server.header_timeout = timeout
                .duration_up_to(MAX_TIMEOUT)
                .map_err(|m| ("server.headerTimeout", m))?;
        }
        if let Some(timeout) = self.tail_stall_timeout {
            server.tail_stall_timeout = timeout
                .duration_up_to(MAX_TIMEOUT)
                .map_err(|m| ("server.tailStallTimeout", m))?;
        }
        Ok(server)
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawQueue {
    concurrency: Option<u32>,
    engines: Option<u32>,
    lease: Option<DurationValue>,
    poll_interval: Option<DurationValue>,
    notify: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRetention {
    max_age: Option<DurationValue>,
    max_size: Option<SizeValue>,
    min_age: Option<DurationValue>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawDatabase {
    max_result_size: Option<SizeValue>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawShutdown {
    grace_seconds: Option<Seconds>,
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
                    Some(delay) => delay.duration_up_to(MAX_BACKOFF_INITIAL)?,
                    None => Backoff::default().initial,
                },
            }),
        }
    }
}

/// A number of seconds. NaN and Infinity arrive as text (JSON has no such numbers; see
/// `config_eval`), to be refused by the range check rather than read as "not given".
#[derive(Deserialize)]
#[serde(untagged, expecting = "a number of seconds")]
enum Seconds {
    Number(f64),
    Text(String),
}

impl Seconds {
    fn value(&self) -> Result<f64, String> {
        match self {
            Seconds::Number(n) => Ok(*n),
            Seconds::Text(text) => text
                .parse::<f64>()
                .ok()
                .filter(|n| !n.is_finite())
                .ok_or_else(|| format!("expected a number of seconds, found '{text}'")),
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
    /// 0 or more, and at most `max`.
    fn duration_or_zero_up_to(&self, max: Duration) -> Result<Duration, String> {
        match self {
            DurationValue::Millis(ms) if *ms == 0.0 => Ok(Duration::ZERO),
            DurationValue::Text(text) if text.trim() == "0" => Ok(Duration::ZERO),
            other => other.duration_up_to(max),
        }
    }

    /// From `min` to `max`.
    fn duration_within(&self, min: Duration, max: Duration) -> Result<Duration, String> {
        let duration = self.duration_up_to(max)?;
        if duration < min {
            return Err(format!(
                "expected a duration of at least {}, found {}",
                humantime::format_duration(min),
                humantime::format_duration(duration)
            ));
        }
        Ok(duration)
    }

    /// Above 0 and at most `max`.
    fn duration_up_to(&self, max: Duration) -> Result<Duration, String> {
        let too_long = || {
            format!(
                "expected a duration of at most {}",
                humantime::format_duration(max)
            )
        };
        let duration = match self {
            // NaN fails both comparisons.
            DurationValue::Millis(ms) if *ms > 0.0 && *ms <= max.as_millis() as f64 => {
                Duration::from_secs_f64(ms / 1000.0)
            }
            DurationValue::Millis(ms) if *ms > 0.0 => {
                return Err(format!(
                    "{} (in milliseconds), found {}",
                    too_long(),
                    number(*ms)
                ))
            }
            DurationValue::Millis(ms) => {
                return Err(format!(
                    "expected a duration above 0, found {}",
                    number(*ms)
                ))
            }
            DurationValue::Text(text) => humantime::parse_duration(text.trim()).map_err(|e| {
                format!("expected a duration such as '100ms', '5s' or '7d', found '{text}' ({e})")
            })?,
        };
        if duration.is_zero() {
            return Err("expected a duration above 0".into());
        }
        if duration > max {
            return Err(too_long());
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
    /// From `min` to `max` bytes.
    fn bytes_within(&self, min: u64, max: u64) -> Result<u64, String> {
        let bytes = match self {
            SizeValue::Bytes(n) => *n,
            SizeValue::Text(text) => text
                .trim()
                .parse::<bytesize::ByteSize>()
                .map_err(|_| format!("expected a size such as '1mb' or '512KiB', found '{text}'"))?
                .as_u64(),
        };
        if bytes < min.max(1) {
            return Err(format!(
                "expected a size of at least {}, found {bytes} bytes",
                bytesize::ByteSize::b(min.max(1))
            ));
        }
        if bytes > max {
            return Err(format!(
                "expected a size of at most {}, found {bytes} bytes",
                bytesize::ByteSize::b(max)
            ));
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
        assert!(zero.message.contains("from 1 to"), "{zero}");
    }

    #[test]
    fn numbers_out_of_range_are_refused_under_their_key() {
        let refused = |config: serde_json::Value, key: &str| {
            let e = Config::from_json("flux.config.ts", config).expect_err(key);
            assert_eq!(e.key, key, "{e}");
            e.message
        };
        for seconds in [1e300, 1e19, -1.0, 0.0] {
            refused(
                json!({ "http": { "timeoutSeconds": seconds } }),
                "http.timeoutSeconds",
            );
            refused(
                json!({ "workers": { "w": { "timeoutSeconds": seconds } } }),
                "workers.w.timeoutSeconds",
            );
        }
        for seconds in [1e300, 1e19, -1.0] {
            refused(
                json!({ "shutdown": { "graceSeconds": seconds } }),
                "shutdown.graceSeconds",
            );
        }
        // NaN and Infinity reach the check as text (see config_eval).
        refused(
            json!({ "http": { "timeoutSeconds": "NaN" } }),
            "http.timeoutSeconds",
        );
        let message = refused(
            json!({ "retention": { "maxAge": 1e300 } }),
            "retention.maxAge",
        );
        assert!(message.contains("at most"), "{message}");
        refused(
            json!({ "retention": { "maxAge": "1000000y" } }),
            "retention.maxAge",
        );
        refused(
            json!({ "retention": { "maxSize": 10 } }),
            "retention.maxSize",
        );
        refused(
            json!({ "retention": { "maxAge": "1h", "minAge": "2h" } }),
            "retention.minAge",
        );
        refused(
            json!({ "workers": { "w": { "backoff": { "type": "linear", "initialDelay": 1e300 } } } }),
            "workers.w.backoff",
        );
        refused(
            json!({ "http": { "concurrency": 100000 } }),
            "http.concurrency",
        );
        refused(
            json!({ "queue": { "concurrency": 0 } }),
            "queue.concurrency",
        );
        refused(
            json!({ "http": { "maxBodySize": "100GiB" } }),
            "http.maxBodySize",
        );
        let zero = Config::from_json("flux.config.ts", json!({ "retention": { "minAge": 0 } }))
            .expect("minAge 0");
        assert_eq!(zero.retention.min_age, Duration::ZERO);
    }

    #[test]
    fn in_flight_and_engines_are_separate_knobs() {
        let default = Config::from_json("flux.config.ts", json!({})).expect("valid");
        assert_eq!(default.http.concurrency, 512);
        assert_eq!(default.http.concurrency, default.server.max_connections);
        assert_eq!(default.queue.concurrency, 100);
        assert!((4..=MAX_ENGINES as usize).contains(&default.http.engines));
        assert!((2..=MAX_ENGINES as usize).contains(&default.queue.engines));
        let set = Config::from_json(
            "flux.config.ts",
            json!({ "http": { "concurrency": 10000, "engines": 3 },
                    "queue": { "concurrency": 1, "engines": 64 } }),
        )
        .expect("valid");
        assert_eq!((set.http.concurrency, set.http.engines), (10_000, 3));
        assert_eq!((set.queue.concurrency, set.queue.engines), (1, 64));
        let refused = |config: serde_json::Value, key: &str| {
            let e = Config::from_json("flux.config.ts", config).expect_err(key);
            assert_eq!(e.key, key, "{e}");
            e.message
        };
        for n in [0, 65] {
            let message = refused(json!({ "http": { "engines": n } }), "http.engines");
            assert!(message.contains("from 1 to 64"), "{message}");
            refused(json!({ "queue": { "engines": n } }), "queue.engines");
        }
        let message = refused(
            json!({ "queue": { "concurrency": 10001 } }),
            "queue.concurrency",
        );
        assert!(message.contains("from 1 to 10000"), "{message}");
        refused(
            json!({ "workers": { "w": { "concurrency": 10001 } } }),
            "workers.w.concurrency",
        );
    }

    #[test]
    fn leases_and_polling_take_durations_within_bounds() {
        let default = Config::from_json("flux.config.ts", json!({})).expect("valid");
        assert_eq!(default.queue.lease, Duration::from_secs(30));
        assert_eq!(default.queue.poll_interval, Duration::from_millis(200));
        assert!(default.queue.notify);
        let set = Config::from_json(
            "flux.config.ts",
            json!({ "queue": { "lease": "2s", "pollInterval": 50, "notify": false } }),
        )
        .expect("valid");
        assert_eq!(set.queue.lease, Duration::from_secs(2));
        assert_eq!(set.queue.poll_interval, Duration::from_millis(50));
        assert!(!set.queue.notify);
        for (config, key, says) in [
            (
                json!({ "queue": { "lease": "10ms" } }),
                "queue.lease",
                "at least 1s",
            ),
            (
                json!({ "queue": { "lease": "2h" } }),
                "queue.lease",
                "at most 1h",
            ),
            (json!({ "queue": { "lease": 0 } }), "queue.lease", "above 0"),
            (
                json!({ "queue": { "pollInterval": 1 } }),
                "queue.pollInterval",
                "at least 10ms",
            ),
            (
                json!({ "queue": { "notify": "no" } }),
                "queue.notify",
                "boolean",
            ),
        ] {
            let e = Config::from_json("flux.config.ts", config).expect_err(key);
            assert_eq!(e.key, key, "{e}");
            assert!(e.message.contains(says), "{}", e.message);
        }
    }

    #[test]
    fn an_atomic_worker_is_capped_at_the_job_engines_unless_it_says_otherwise() {
        let config = Config::from_json(
            "flux.config.ts",
            json!({ "queue": { "engines": 3 },
                    "workers": { "ledger": { "atomic": true },
                                 "bulk": { "atomic": true, "concurrency": 20 },
                                 "plain": { "maxAttempts": 2 } } }),
        )
        .expect("valid");
        assert_eq!(config.worker("ledger").concurrency, Some(3));
        assert_eq!(config.worker("bulk").concurrency, Some(20));
        assert_eq!(config.worker("plain").concurrency, None);
        let default = Config::from_json(
            "flux.config.ts",
            json!({ "workers": { "ledger": { "atomic": true } } }),
        )
        .expect("valid");
        assert_eq!(
            default.worker("ledger").concurrency,
            Some(default.queue.engines as u32)
        );
    }

    #[test]
    fn the_result_size_cap_is_a_size_within_range() {
        let default = Config::from_json("flux.config.ts", json!({})).expect("valid");
        assert_eq!(default.db.max_result_bytes, 16 << 20);
        let set = Config::from_json(
            "flux.config.ts",
            json!({ "db": { "maxResultSize": "2MiB" } }),
        )
        .expect("valid");
        assert_eq!(set.db.max_result_bytes, 2 << 20);
        for wrong in [json!("2TiB"), json!(0), json!("lots")] {
            let error = Config::from_json(
                "flux.config.ts",
                json!({ "db": { "maxResultSize": wrong } }),
            )
            .expect_err("out of range");
            assert_eq!(error.key, "db.maxResultSize", "{error}");
        }
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
