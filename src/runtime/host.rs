//! The host side of `ctx`, `fetch`, timers and `console`: each call is recorded as a span of
//! the running execution. Replies are JSON `{ "ok": … }` or `{ "error": { name, message } }`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::clock::monotonic_ns;
use super::recorder::{self, Logged, Recorder};
use super::{email, now_us, sql, Shared};
use crate::queue::{self, EnqueueOptions};
use crate::record::{ExecId, Mutation, SpanStatus};
use crate::store::sandbox::{Stop, StopCheck};
use crate::store::{Session, TxControl};

/// The largest response body `fetch` reads.
const MAX_FETCH_BODY: usize = 50 * 1024 * 1024;

/// A finished `fetch`, sent back to the engine's thread.
pub struct FetchDone {
    pub seq: u64,
    pub id: u64,
    pub reply: String,
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// A `fetch` still running on tokio: its span and the handle that cancels it.
pub struct PendingFetch {
    span: u32,
    task: tokio::task::AbortHandle,
}

/// The running execution's state.
pub struct ExecState {
    pub id: ExecId,
    /// Distinguishes executions on this engine, so late fetch replies are dropped.
    pub seq: u64,
    pub function: String,
    pub recorder: Recorder,
    pub timers: BTreeMap<u64, Instant>,
    pub fetches: HashMap<u64, PendingFetch>,
    next_fetch: u64,
    pub env: Map<String, Value>,
    /// It has written through the store thread: its reads go there too, to see its writes.
    pub wrote: bool,
    pub in_transaction: bool,
    /// An atomic job attempt: its writes are in a transaction of their own, committed with
    /// its record if it succeeds and rolled back if it fails.
    pub atomic: bool,
    /// Rows it changed, committed or not.
    pub mutations: Vec<Mutation>,
    /// Rows changed in its open transaction, settled when the transaction ends.
    tx_mutations: Vec<Mutation>,
    /// Clock nanos (`clock::monotonic_ns`) at which its statements are stopped; 0 for none.
    pub deadline_ns: u64,
    /// One of its statements was stopped at the deadline or at shutdown: that ended it.
    pub stopped_sql: Option<Stop>,
}

/// Why a statement failed, and whether it was stopped rather than refused or wrong.
struct StatementError {
    message: String,
    stopped: Option<Stop>,
}

impl From<sql::SqlError> for StatementError {
    fn from(error: sql::SqlError) -> StatementError {
        let stopped = match &error {
            sql::SqlError::Stopped(stop) => Some(*stop),
            _ => None,
        };
        StatementError {
            message: error.to_string(),
            stopped,
        }
    }
}

/// Fetches still running when their execution ends (it returned, failed, timed out or its
/// engine panicked) are cancelled; their spans stay pending in the record.
impl Drop for ExecState {
    fn drop(&mut self) {
        for fetch in self.fetches.values() {
            fetch.task.abort();
        }
    }
}

impl ExecState {
    pub fn new(id: ExecId, seq: u64, function: String, recorder: Recorder) -> ExecState {
        ExecState {
            id,
            seq,
            function,
            recorder,
            timers: BTreeMap::new(),
            fetches: HashMap::new(),
            next_fetch: 1,
            env: Map::new(),
            wrote: false,
            in_transaction: false,
            atomic: false,
            mutations: Vec::new(),
            tx_mutations: Vec::new(),
            deadline_ns: 0,
            stopped_sql: None,
        }
    }

    /// The open transaction ended: its changes are kept or undone.
    fn settle_transaction(&mut self, committed: bool) {
        self.in_transaction = false;
        let changes = std::mem::take(&mut self.tx_mutations);
        self.mutations
            .extend(changes.into_iter().map(|change| Mutation {
                committed: committed && change.committed,
                ..change
            }));
    }

    /// Cancels a running fetch: dropping its future closes the upstream connection.
    fn abort_fetch(&mut self, id: u64, reason: &str) -> bool {
        let Some(fetch) = self.fetches.remove(&id) else {
            return false;
        };
        fetch.task.abort();
        let mut attrs = Map::new();
        attrs.insert("aborted".into(), Value::String(reason.to_string()));
        self.recorder.close(
            fetch.span,
            SpanStatus::Error,
            Some(format!("aborted: {reason}")),
            attrs,
        );
        true
    }

    pub fn next_timer_due(&self) -> Option<(u64, Instant)> {
        self.timers
            .iter()
            .min_by_key(|(_, due)| **due)
            .map(|(id, due)| (*id, *due))
    }
}

pub struct HostState {
    pub shared: Arc<Shared>,
    /// For reads of executions that have not written; writes go to the store thread.
    pub conn: Connection,
    pub exec: Option<ExecState>,
    pub fetch_done: crossbeam_channel::Sender<FetchDone>,
}

fn ok(value: Value) -> String {
    json!({ "ok": value }).to_string()
}

fn err(message: impl Into<String>) -> String {
    json!({ "error": { "name": "Error", "message": message.into() } }).to_string()
}

#[derive(Deserialize)]
struct QueryArgs {
    sql: String,
    #[serde(default)]
    params: Vec<Value>,
}

#[derive(Deserialize)]
struct InsertArgs {
    table: String,
    row: Value,
}

#[derive(Deserialize)]
struct EnqueueArgs {
    name: Value,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    opts: Value,
}

#[derive(Deserialize)]
struct EmailArgs {
    to: Value,
    template: Value,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    subject: Option<String>,
}

#[derive(Deserialize)]
struct FetchArgs {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<FetchBody>,
}

#[derive(Deserialize)]
struct AbortFetchArgs {
    id: u64,
    reason: String,
}

#[derive(Deserialize)]
struct FetchBody {
    text: Option<String>,
    base64: Option<String>,
}

impl HostState {
    pub fn exec(&mut self) -> Option<&mut ExecState> {
        self.exec.as_mut()
    }

    pub fn log(&mut self, level: &str, message: String) {
        if let Some(exec) = self.exec.as_mut() {
            let prefix = if level == "error" || level == "warn" {
                format!("[{}] {level}:", exec.function)
            } else {
                format!("[{}]", exec.function)
            };
            // The terminal shows what the record keeps, under the same caps.
            match exec.recorder.log(level, message) {
                Logged::Kept => {
                    let kept = exec.recorder.console.last().map(|l| l.message.as_str());
                    for line in crate::render::escaped_lines(kept.unwrap_or_default()) {
                        eprintln!("{} {line}", crate::render::escape(&prefix));
                    }
                }
                Logged::Dropped { first: true } => eprintln!(
                    "[{}] … console output capped: one execution keeps at most {} lines and {} KiB; \
                     the rest is not printed nor recorded (flux trace {} counts it)",
                    crate::render::escape(&exec.function),
                    recorder::MAX_CONSOLE_LINES,
                    recorder::MAX_CONSOLE_BYTES / 1024,
                    exec.id.short(),
                ),
                Logged::Dropped { first: false } => {}
            }
        }
    }

    pub fn set_timer(&mut self, id: u64, delay_ms: f64) {
        if let Some(exec) = self.exec.as_mut() {
            let delay = Duration::from_secs_f64((delay_ms.max(0.0) / 1000.0).min(1e9));
            exec.timers.insert(id, Instant::now() + delay);
        }
    }

    pub fn clear_timer(&mut self, id: u64) {
        if let Some(exec) = self.exec.as_mut() {
            exec.timers.remove(&id);
        }
    }

    /// Dispatches one `host.call(op, args, site)`.
    pub fn call(&mut self, op: &str, args: &str, site: Option<String>) -> String {
        if self.exec.is_none() {
            return err("ctx was used after its execution ended");
        }
        let args: Value = match serde_json::from_str(args) {
            Ok(args) => args,
            Err(e) => return err(format!("invalid arguments: {e}")),
        };
        #[cfg(debug_assertions)]
        self.panic_if_asked(op);
        match op {
            "query" => self.query(args, site),
            "insert" => self.insert(args, site),
            "begin" => self.begin(site),
            "commit" => self.commit(),
            "rollback" => self.rollback(args),
            "enqueue" => self.enqueue(args, site),
            "email" => self.email(args, site),
            "fetch" => self.fetch(args, site),
            "abortFetch" => self.abort_fetch(args),
            other => err(format!("unknown host operation {other}")),
        }
    }

    /// Tests of panic containment: in debug builds only, `FLUX_TEST_PANIC_ON=<function>`
    /// makes that function's `ctx.db.query` calls panic. Release builds never read it.
    #[cfg(debug_assertions)]
    fn panic_if_asked(&self, op: &str) {
        let function = self.exec.as_ref().map(|exec| exec.function.as_str());
        let asked = std::env::var("FLUX_TEST_PANIC_ON").ok();
        if op == "query" && asked.is_some() && asked.as_deref() == function {
            panic!(
                "FLUX_TEST_PANIC_ON asked {} to panic",
                function.unwrap_or_default()
            );
        }
    }

    fn recorder(&mut self) -> &mut Recorder {
        // `call` checked that an execution is running.
        &mut self
            .exec
            .as_mut()
            .expect("an execution is running")
            .recorder
    }

    fn running(&mut self) -> &mut ExecState {
        // `call` checked that an execution is running.
        self.exec.as_mut().expect("an execution is running")
    }

    /// Runs `work` on the store thread's connection for the running execution.
    fn on_writer<R: Send + 'static>(
        &mut self,
        control: TxControl,
        durable: bool,
        work: impl FnOnce(Session<'_>) -> Result<R, String> + Send + 'static,
    ) -> Result<R, String> {
        let exec = self.running();
        exec.wrote = true;
        let owner = exec.id;
        self.shared.writer.call(owner, control, durable, work)
    }

    /// What bounds the running execution's statements: its deadline, flux dev's shutdown and
    /// the configured result size.
    fn sql_limits(&mut self) -> sql::Limits {
        let shared = Arc::clone(&self.shared);
        let max_result_bytes = shared.config().db.max_result_bytes;
        let deadline_ns = self.running().deadline_ns;
        let stop: StopCheck = Arc::new(move || {
            let now = monotonic_ns();
            if shared.stop_at().is_some_and(|at| now > at) {
                Some(Stop::Shutdown)
            } else if deadline_ns != 0 && now > deadline_ns {
                Some(Stop::Deadline)
            } else {
                None
            }
        });
        sql::Limits {
            stop,
            max_result_bytes,
        }
    }

    /// Runs one statement, recorded as span `name`: a read on this engine's connection until
    /// the execution has written, anything else on the store thread's with its row changes
    /// captured. A statement stopped at the deadline (or at shutdown) ends the execution.
    fn statement(
        &mut self,
        name: String,
        sql_text: &str,
        params: &[Value],
        site: Option<String>,
    ) -> Result<sql::SqlResult, String> {
        let mut attrs = Map::new();
        attrs.insert("sql".into(), Value::String(sql_text.to_string()));
        attrs.insert("params".into(), Value::Array(params.to_vec()));
        let recorder = self.recorder();
        let span = recorder.open(name, site, attrs);
        let at = recorder.elapsed_us();
        let limits = self.sql_limits();
        let exec = self.running();
        let local = !exec.wrote && !exec.in_transaction && sql::is_read_only(&self.conn, sql_text);
        let result = if local {
            sql::run(&self.conn, sql_text, params, &limits).map_err(StatementError::from)
        } else {
            let sql_text = sql_text.to_string();
            let params = params.to_vec();
            let ran = self.on_writer(TxControl::None, false, move |session| {
                session.capture.begin_statement();
                let result = sql::run(session.conn, &sql_text, &params, &limits);
                let changes =
                    session
                        .capture
                        .finish_statement(session.conn, Some(span), at, result.is_ok());
                Ok((result.map_err(StatementError::from), changes))
            });
            match ran {
                Ok((result, changes)) => {
                    let exec = self.running();
                    if exec.in_transaction {
                        exec.tx_mutations.extend(changes);
                    } else {
                        exec.mutations.extend(changes);
                    }
                    result
                }
                Err(message) => Err(StatementError {
                    message,
                    stopped: None,
                }),
            }
        };
        let recorder = self.recorder();
        match result {
            Ok(result) => {
                let mut done = Map::new();
                done.insert("rows".into(), Value::from(result.rows.len()));
                if result.changes > 0 {
                    done.insert("changes".into(), Value::from(result.changes));
                }
                recorder.close(span, SpanStatus::Ok, None, done);
                Ok(result)
            }
            Err(StatementError { message, stopped }) => {
                let status = match stopped {
                    Some(_) => SpanStatus::Timeout,
                    None => SpanStatus::Error,
                };
                recorder.close(span, status, Some(message.clone()), Map::new());
                if stopped.is_some() {
                    self.running().stopped_sql = stopped;
                }
                Err(message)
            }
        }
    }

    fn query(&mut self, args: Value, site: Option<String>) -> String {
        let args: QueryArgs = match serde_json::from_value(args) {
            Ok(a) => a,
            Err(_) => {
                return err("ctx.db.query(sql, params) takes a SQL string and an array of values")
            }
        };
        match self.statement("db.query".into(), &args.sql, &args.params, site) {
            Ok(result) => ok(Value::Array(
                result.rows.into_iter().map(Value::Object).collect(),
            )),
            Err(message) => err(message),
        }
    }

    fn insert(&mut self, args: Value, site: Option<String>) -> String {
        let args: InsertArgs = match serde_json::from_value(args) {
            Ok(a) => a,
            Err(_) => return err("ctx.db.insert(table, row) takes a table name and an object"),
        };
        let Value::Object(row) = args.row else {
            return err(format!(
                "ctx.db.insert('{}', row): row must be an object of column values",
                args.table
            ));
        };
        if args.table.is_empty() {
            return err("ctx.db.insert(table, row): the table name is empty");
        }
        let table = sql::quote_identifier(&args.table);
        let statement = if row.is_empty() {
            format!("INSERT INTO {table} DEFAULT VALUES RETURNING *")
        } else {
            let columns: Vec<String> = row.keys().map(|c| sql::quote_identifier(c)).collect();
            let placeholders: Vec<String> = (1..=row.len()).map(|i| format!("${i}")).collect();
            format!(
                "INSERT INTO {table} ({}) VALUES ({}) RETURNING *",
                columns.join(", "),
                placeholders.join(", ")
            )
        };
        let params: Vec<Value> = row.into_values().collect();
        let name = format!("db.insert({})", args.table);
        match self.statement(name, &statement, &params, site) {
            Ok(result) => ok(result
                .rows
                .into_iter()
                .next()
                .map_or(Value::Null, Value::Object)),
            Err(message) => err(message),
        }
    }

    fn begin(&mut self, site: Option<String>) -> String {
        if self.running().in_transaction {
            return err("a transaction is already open: ctx.db.transaction cannot be nested");
        }
        let recorder = self.recorder();
        let span = recorder.open("db.transaction".into(), site, Map::new());
        recorder.transaction = Some(span);
        match self.on_writer(TxControl::Begin, false, |_| Ok(())) {
            Ok(()) => {
                self.running().in_transaction = true;
                ok(Value::Null)
            }
            Err(message) => {
                let recorder = self.recorder();
                recorder.transaction = None;
                recorder.close(span, SpanStatus::Error, Some(message.clone()), Map::new());
                err(message)
            }
        }
    }

    fn end_transaction(&mut self, status: SpanStatus, outcome: &str, error: Option<String>) {
        let recorder = self.recorder();
        if let Some(span) = recorder.transaction.take() {
            let mut attrs = Map::new();
            attrs.insert("outcome".into(), Value::String(outcome.into()));
            recorder.close(span, status, error, attrs);
        }
    }

    /// Commits the open transaction; replies once it is durable, so that a job it enqueued
    /// exists when `ctx.db.transaction` resolves.
    fn commit(&mut self) -> String {
        if !self.running().in_transaction {
            return err("no transaction is open");
        }
        // Inside an atomic attempt, the attempt's own transaction commits later.
        let durable = !self.running().atomic;
        let committed = self.on_writer(TxControl::Commit, durable, |_| Ok(()));
        self.running().settle_transaction(committed.is_ok());
        match committed {
            Ok(()) => {
                self.end_transaction(SpanStatus::Ok, "committed", None);
                ok(Value::Null)
            }
            Err(e) => {
                self.end_transaction(SpanStatus::Error, "rolled back", Some(e.clone()));
                err(format!(
                    "the transaction could not commit and was rolled back: {e}"
                ))
            }
        }
    }

    fn rollback(&mut self, args: Value) -> String {
        let reason = args.get("reason").and_then(Value::as_str).map(String::from);
        self.roll_back(reason);
        ok(Value::Null)
    }

    fn roll_back(&mut self, reason: Option<String>) {
        if self.running().in_transaction {
            // Fails only when flux dev is stopping, and then the store thread rolls back.
            let _ = self.on_writer(TxControl::Rollback, false, |_| Ok(()));
            self.running().settle_transaction(false);
        }
        self.end_transaction(SpanStatus::Error, "rolled back", reason);
    }

    /// Rolls back a transaction the execution left open (it threw, timed out or forgot).
    pub fn abandon_transaction(&mut self, reason: &str) {
        if self.exec.is_some() {
            self.roll_back(Some(reason.to_string()));
        }
    }

    /// Opens the transaction of an atomic job attempt, before its code runs.
    pub fn begin_atomic(&mut self) -> Result<(), String> {
        self.on_writer(TxControl::Begin, false, |_| Ok(()))?;
        self.running().atomic = true;
        Ok(())
    }

    /// Ends an atomic attempt's transaction: committed with the record that follows at once
    /// (the store commits nothing in between), or rolled back. Its changes are marked as
    /// committed or not.
    pub fn end_atomic(&mut self, succeeded: bool) -> Result<(), String> {
        let Some(exec) = self.exec.as_mut().filter(|exec| exec.atomic) else {
            return Ok(());
        };
        exec.atomic = false;
        let ended = if succeeded {
            self.on_writer(TxControl::CommitWithRecord, false, |_| Ok(()))
        } else {
            // Fails only when flux dev is stopping, and then the store thread rolls back.
            let _ = self.on_writer(TxControl::Rollback, false, |_| Ok(()));
            Ok(())
        };
        if !succeeded || ended.is_err() {
            for change in &mut self.running().mutations {
                change.committed = false;
            }
        }
        ended
    }

    /// Waits until everything the execution wrote is committed (before its HTTP response).
    pub fn sync(&mut self) -> Result<(), String> {
        match &self.exec {
            Some(exec) if exec.wrote => self.on_writer(TxControl::None, true, |_| Ok(())),
            _ => Ok(()),
        }
    }

    fn enqueue(&mut self, args: Value, site: Option<String>) -> String {
        let args: EnqueueArgs = match serde_json::from_value(args) {
            Ok(a) => a,
            Err(e) => return err(format!("ctx.queue.enqueue(name, data, opts): {e}")),
        };
        let Value::String(name) = args.name else {
            return err("ctx.queue.enqueue(name, data): name must be the worker's name, e.g. 'send_welcome_email'");
        };
        if self.shared.lookup(&name).is_none() {
            return err(format!(
                "no worker named '{name}': create functions/{name}.ts to handle these jobs"
            ));
        }
        let options: EnqueueOptions = if args.opts.is_null() {
            EnqueueOptions::default()
        } else {
            match serde_json::from_value(args.opts) {
                Ok(o) => o,
                Err(e) => return err(format!("ctx.queue.enqueue options: {e}")),
            }
        };
        let max_attempts = self.shared.config().worker(&name).max_attempts;
        let exec_id = self.exec.as_ref().map(|e| e.id);
        let mut attrs = Map::new();
        attrs.insert("job".into(), Value::String(name.clone()));
        attrs.insert("data".into(), args.data.clone());
        let span = self
            .recorder()
            .open(format!("queue.enqueue({name})"), site, attrs);
        // Outside a transaction the job is committed before the call returns; inside one, with it.
        let exec = self.running();
        let durable = !exec.in_transaction && !exec.atomic;
        let data = args.data;
        let job_name = name.clone();
        let result = self.on_writer(TxControl::None, durable, move |session| {
            queue::enqueue(
                session.conn,
                &job_name,
                &data,
                &options,
                max_attempts,
                exec_id,
                now_us(),
            )
            .map_err(|e| e.to_string())
        });
        match result {
            Ok(job) => {
                let mut done = Map::new();
                done.insert("job_id".into(), Value::String(job.id.to_string()));
                if job.duplicate {
                    done.insert("duplicate".into(), Value::Bool(true));
                }
                if let Some(tx) = self.recorder().transaction {
                    done.insert("transaction".into(), Value::from(tx));
                }
                self.recorder().close(span, SpanStatus::Ok, None, done);
                ok(json!({ "id": job.id }))
            }
            Err(e) => {
                self.recorder()
                    .close(span, SpanStatus::Error, Some(e.to_string()), Map::new());
                err(e.to_string())
            }
        }
    }

    fn email(&mut self, args: Value, site: Option<String>) -> String {
        let args: EmailArgs = match serde_json::from_value(args) {
            Ok(a) => a,
            Err(_) => return err("ctx.email.send({ to, template, data }) takes an object"),
        };
        let (Value::String(to), Value::String(template)) = (&args.to, &args.template) else {
            return err(
                "ctx.email.send({ to, template, data }): `to` and `template` must be strings",
            );
        };
        let mut attrs = Map::new();
        attrs.insert("to".into(), Value::String(to.clone()));
        attrs.insert("template".into(), Value::String(template.clone()));
        let span = self.recorder().open("email.send".into(), site, attrs);
        let result = self.send_email(to, template, &args.data, args.subject.as_deref());
        match result {
            Ok((id, subject)) => {
                let mut done = Map::new();
                done.insert("subject".into(), Value::String(subject));
                self.recorder().close(span, SpanStatus::Ok, None, done);
                ok(json!({ "id": id }))
            }
            Err(message) => {
                self.recorder()
                    .close(span, SpanStatus::Error, Some(message.clone()), Map::new());
                err(message)
            }
        }
    }

    fn send_email(
        &mut self,
        to: &str,
        template: &str,
        data: &Value,
        subject: Option<&str>,
    ) -> Result<(i64, String), String> {
        let path = email::template_path(&self.shared.layout.emails_dir(), template)?;
        let source = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!("email template '{template}' not found: create emails/{template}.html")
            }
            _ => format!("cannot read emails/{template}.html: {e}"),
        })?;
        let html = email::render(&source, data);
        let subject = subject
            .map(String::from)
            .or_else(|| email::title(&html))
            .unwrap_or_else(|| template.to_string());
        let record_id = self
            .exec
            .as_ref()
            .map(|e| e.id.to_string())
            .unwrap_or_default();
        let row = (
            record_id,
            to.to_string(),
            subject.clone(),
            template.to_string(),
            html,
        );
        let id = self.on_writer(TxControl::None, false, move |session| {
            let (record_id, to, subject, template, html) = row;
            session
                .conn
                .execute(
                    "INSERT INTO _flux_emails (record_id, recipient, subject, template, html, created_at_us)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    rusqlite::params![record_id, to, subject, template, html, now_us()],
                )
                .map_err(|e| format!("cannot store the email: {e}"))?;
            Ok(session.conn.last_insert_rowid())
        })?;
        eprintln!(
            "{}",
            crate::render::escape(&format!("✉ captured email to {to} ({template}): {subject}"))
        );
        Ok((id, subject))
    }

    fn fetch(&mut self, args: Value, site: Option<String>) -> String {
        let args: FetchArgs = match serde_json::from_value(args) {
            Ok(a) => a,
            Err(e) => return err(format!("fetch: {e}")),
        };
        let url = match reqwest::Url::parse(&args.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            Ok(url) => {
                return err(format!(
                    "fetch: only http and https URLs are supported, not {}:",
                    url.scheme()
                ))
            }
            Err(e) => return err(format!("fetch: invalid URL '{}': {e}", args.url)),
        };
        let method = match reqwest::Method::from_bytes(args.method.as_bytes()) {
            Ok(m) => m,
            Err(_) => return err(format!("fetch: invalid method '{}'", args.method)),
        };
        let body = match args.body {
            Some(FetchBody {
                text: Some(text), ..
            }) => Some(text.into_bytes()),
            Some(FetchBody {
                base64: Some(b64), ..
            }) => match base64::engine::general_purpose::STANDARD.decode(b64) {
                Ok(bytes) => Some(bytes),
                Err(e) => return err(format!("fetch: bad body: {e}")),
            },
            _ => None,
        };
        let mut attrs = Map::new();
        attrs.insert("method".into(), Value::String(method.to_string()));
        attrs.insert("url".into(), Value::String(url.to_string()));
        let Some(exec) = self.exec.as_mut() else {
            return err("fetch was called after its execution ended");
        };
        let span = exec.recorder.open("fetch".into(), site, attrs);
        let id = exec.next_fetch;
        exec.next_fetch += 1;
        let seq = exec.seq;
        let mut request = self.shared.http_client.request(method, url);
        for (name, value) in args.headers {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let done = self.fetch_done.clone();
        let task = self.shared.tokio.spawn(async move {
            let finished = match perform(request).await {
                Ok((status, reply)) => FetchDone {
                    seq,
                    id,
                    reply,
                    status: Some(status),
                    error: None,
                },
                Err(message) => FetchDone {
                    seq,
                    id,
                    reply: json!({ "error": { "message": message } }).to_string(),
                    status: None,
                    error: Some(message),
                },
            };
            let _ = done.send(finished);
        });
        let fetch = PendingFetch {
            span,
            task: task.abort_handle(),
        };
        if let Some(exec) = self.exec.as_mut() {
            exec.fetches.insert(id, fetch);
        }
        ok(Value::from(id))
    }

    /// `fetch`'s signal aborted: the request is cancelled and its span closed.
    fn abort_fetch(&mut self, args: Value) -> String {
        let args: AbortFetchArgs = match serde_json::from_value(args) {
            Ok(a) => a,
            Err(e) => return err(format!("abortFetch: {e}")),
        };
        let aborted = self
            .exec
            .as_mut()
            .is_some_and(|exec| exec.abort_fetch(args.id, &args.reason));
        ok(Value::Bool(aborted))
    }

    /// Records a finished fetch on its span; returns false if it belongs to another execution.
    pub fn finish_fetch(&mut self, done: &FetchDone) -> bool {
        let Some(exec) = self.exec.as_mut() else {
            return false;
        };
        if exec.seq != done.seq {
            return false;
        }
        let Some(PendingFetch { span, .. }) = exec.fetches.remove(&done.id) else {
            return false;
        };
        let mut attrs = Map::new();
        let (status, error) = match (done.status, &done.error) {
            (Some(code), _) => {
                attrs.insert("status".into(), Value::from(code));
                if code >= 400 {
                    (SpanStatus::Error, Some(format!("HTTP {code}")))
                } else {
                    (SpanStatus::Ok, None)
                }
            }
            (None, error) => (SpanStatus::Error, error.clone()),
        };
        exec.recorder.close(span, status, error, attrs);
        true
    }
}

async fn perform(request: reqwest::RequestBuilder) -> Result<(u16, String), String> {
    let response = request.send().await.map_err(describe_reqwest)?;
    let status = response.status();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    let mut response = response;
    while let Some(chunk) = response.chunk().await.map_err(describe_reqwest)? {
        if body.len() + chunk.len() > MAX_FETCH_BODY {
            return Err(format!(
                "the response body is larger than {} MiB",
                MAX_FETCH_BODY >> 20
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let reply = json!({ "ok": {
        "status": status.as_u16(),
        "statusText": status.canonical_reason().unwrap_or(""),
        "headers": headers,
        "base64": base64::engine::general_purpose::STANDARD.encode(&body),
    }});
    Ok((status.as_u16(), reply.to_string()))
}

fn describe_reqwest(error: reqwest::Error) -> String {
    use std::error::Error as _;
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
