//! `ctx.db`: statements, inserts and transactions, and the transactions of atomic job
//! attempts. Reads run on the engine's own connection until the execution writes; everything
//! else runs on the store thread's, with the rows it changes captured.

use std::sync::Arc;

use rquickjs::{Ctx, Function, Object};
use serde_json::{Map, Value};

use super::{site, Answer, Bridge, HostError, HostState, JsonArg, Purpose, Token};
use crate::clock::monotonic_ns;
use crate::record::{attr, SpanKind, SpanStatus};
use crate::store::sandbox::{Stop, StopCheck};
use crate::store::user_sql as sql;
use crate::store::TxControl;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("ctx.db.query(sql, params) takes a SQL string and an array of values")]
    QueryArguments,
    #[error("ctx.db.insert(table, row) takes a table name and an object")]
    InsertArguments,
    #[error("ctx.db.insert('{table}', row): row must be an object of column values")]
    RowNotAnObject { table: String },
    #[error("ctx.db.insert(table, row): the table name is empty")]
    EmptyTableName,
    /// The statement was refused, failed, or stopped at the deadline.
    #[error("{0}")]
    Statement(String),
    #[error("a transaction is already open: ctx.db.transaction cannot be nested")]
    NestedTransaction,
    #[error("{0}")]
    Begin(String),
    #[error("no transaction is open")]
    NoTransaction,
    #[error("the transaction could not commit and was rolled back: {0}")]
    Commit(String),
}

pub(super) fn install<'js>(ctx: &Ctx<'js>, bridge: &Bridge) -> rquickjs::Result<Object<'js>> {
    let db = Object::new(ctx.clone())?;
    let b = bridge.clone();
    db.set(
        "query",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, token: f64, sql: JsonArg, params: JsonArg, at: Option<String>| {
                b.run(&ctx, |state| {
                    state.query(token as Token, sql, params, site(at))
                })
            },
        )?,
    )?;
    let b = bridge.clone();
    db.set(
        "insert",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, token: f64, table: JsonArg, row: JsonArg, at: Option<String>| {
                b.run(&ctx, |state| {
                    state.insert(token as Token, table, row, site(at))
                })
            },
        )?,
    )?;
    let b = bridge.clone();
    db.set(
        "begin",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, token: f64, at: Option<String>| {
                b.run(&ctx, |state| state.begin(token as Token, site(at)))
            },
        )?,
    )?;
    let b = bridge.clone();
    db.set(
        "commit",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, token: f64| {
            b.run(&ctx, |state| state.commit(token as Token))
        })?,
    )?;
    let b = bridge.clone();
    db.set(
        "rollback",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, token: f64, reason: Option<String>| {
                b.run(&ctx, |state| state.rollback(token as Token, reason))
            },
        )?,
    )?;
    Ok(db)
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

/// What a statement's caller gets: all its rows (`query`) or the first (`insert`).
#[derive(Clone, Copy)]
enum Shape {
    Rows,
    FirstRow,
}

impl Shape {
    fn value(self, result: sql::SqlResult) -> Value {
        match self {
            Shape::Rows => Value::Array(result.rows.into_iter().map(Value::Object).collect()),
            Shape::FirstRow => result
                .rows
                .into_iter()
                .next()
                .map_or(Value::Null, Value::Object),
        }
    }
}

impl HostState {
    fn query(
        &mut self,
        token: Token,
        sql: JsonArg,
        params: JsonArg,
        site: Option<String>,
    ) -> Result<Answer, HostError> {
        self.running(token)?;
        #[cfg(debug_assertions)]
        self.panic_if_asked(token);
        let (Some(Value::String(sql)), params) = (sql.0, params.0) else {
            return Err(DbError::QueryArguments.into());
        };
        let params = match params {
            None => Vec::new(),
            Some(Value::Array(params)) => params,
            Some(_) => return Err(DbError::QueryArguments.into()),
        };
        self.statement(token, SpanKind::DbQuery, sql, params, site, Shape::Rows)
    }

    fn insert(
        &mut self,
        token: Token,
        table: JsonArg,
        row: JsonArg,
        site: Option<String>,
    ) -> Result<Answer, HostError> {
        self.running(token)?;
        let (Some(Value::String(table)), Some(row)) = (table.0, row.0) else {
            return Err(DbError::InsertArguments.into());
        };
        let Value::Object(row) = row else {
            return Err(DbError::RowNotAnObject { table }.into());
        };
        if table.is_empty() {
            return Err(DbError::EmptyTableName.into());
        }
        let quoted = sql::quote_identifier(&table);
        let statement = if row.is_empty() {
            format!("INSERT INTO {quoted} DEFAULT VALUES RETURNING *")
        } else {
            let columns: Vec<String> = row.keys().map(|c| sql::quote_identifier(c)).collect();
            let placeholders: Vec<String> = (1..=row.len()).map(|i| format!("${i}")).collect();
            format!(
                "INSERT INTO {quoted} ({}) VALUES ({}) RETURNING *",
                columns.join(", "),
                placeholders.join(", ")
            )
        };
        let params: Vec<Value> = row.into_values().collect();
        let kind = SpanKind::DbInsert { table };
        self.statement(token, kind, statement, params, site, Shape::FirstRow)
    }

    /// What bounds an execution's statements: its deadline, flux dev's shutdown and the
    /// configured result size.
    fn sql_limits(&self, deadline_ns: u64, job_attempt: bool) -> sql::Limits {
        let shared = Arc::clone(&self.shared);
        let max_result_bytes = shared.config().db.max_result_bytes;
        let stop: StopCheck = Arc::new(move || {
            if shared.stopping() {
                Some(Stop::Shutdown)
            } else if deadline_ns != 0 && monotonic_ns() > deadline_ns {
                Some(Stop::Deadline)
            } else {
                None
            }
        });
        sql::Limits {
            stop,
            deadline_ns,
            max_result_bytes,
            flushed_by_record: job_attempt,
        }
    }

    /// Runs one statement, recorded as a span of `kind`: a read on this engine's connection
    /// until the execution has written (answered at once), anything else on the store
    /// thread's with its row changes captured (answered later, while the engine runs other
    /// executions). A statement stopped at the deadline (or at shutdown) ends the execution.
    fn statement(
        &mut self,
        token: Token,
        kind: SpanKind,
        sql_text: String,
        params: Vec<Value>,
        site: Option<String>,
        shape: Shape,
    ) -> Result<Answer, HostError> {
        let mut attrs = Map::new();
        attrs.insert(attr::SQL.into(), Value::String(sql_text.clone()));
        attrs.insert(attr::PARAMS.into(), Value::Array(params.clone()));
        let exec = self.running(token)?;
        let span = exec.recorder.open(kind, site, attrs);
        let at = exec.recorder.elapsed_us();
        let (wrote, in_transaction, deadline_ns, job_attempt) = (
            exec.wrote,
            exec.in_transaction,
            exec.deadline_ns,
            exec.job_attempt,
        );
        let limits = self.sql_limits(deadline_ns, job_attempt);
        let local = match &self.conn {
            Some(conn) => !wrote && !in_transaction && sql::is_read_only(conn, &sql_text),
            None => false,
        };
        // A query's rows are named by key in its span, so that `flux why` can tell whose
        // changes the execution read.
        let keyed = matches!(shape, Shape::Rows)
            .then(|| single_table(&sql_text))
            .flatten();
        if let (true, Some(conn)) = (local, &self.conn) {
            let result = sql::run(conn, &sql_text, &params, &limits).map_err(StatementError::from);
            let keys = returned_keys(&result, || sql::single_key(conn, keyed.as_deref()?));
            let exec = self.running(token)?;
            return exec
                .close_statement(span, result, keys)
                .map(|result| Answer::Now(shape.value(result)));
        }
        self.later(
            token,
            TxControl::None,
            false,
            move |session| {
                let (result, changes) =
                    session.statement(&sql_text, &params, &limits, Some(span), at);
                // Looked up where the statement ran (either engine), for queries with rows.
                let key = match (&keyed, &result) {
                    (Some(table), Ok(ran)) if !ran.rows.is_empty() => session.single_key(table),
                    _ => None,
                };
                Ok((result.map_err(StatementError::from), changes, key))
            },
            move |state, token, ran| {
                let keys = match &ran {
                    Ok((result, _, key)) => returned_keys(result, || key.clone()),
                    Err(_) => None,
                };
                let exec = state.exec_mut(token)?;
                let result = match ran {
                    Ok((result, changes, _)) => {
                        if exec.tx_open {
                            exec.tx_mutations.extend(changes);
                        } else {
                            exec.mutations.extend(changes);
                        }
                        result
                    }
                    // Held for another execution's transaction until its deadline: the
                    // span stays pending, which its timeout names as what it waited on.
                    Err(message) if std::time::Instant::now() >= exec.deadline => {
                        return Err(DbError::Statement(message).into());
                    }
                    Err(message) => Err(StatementError {
                        message,
                        stopped: None,
                    }),
                };
                exec.close_statement(span, result, keys)
                    .map(|result| shape.value(result))
            },
        )
    }

    fn begin(&mut self, token: Token, site: Option<String>) -> Result<Answer, HostError> {
        let exec = self.running(token)?;
        if exec.in_transaction {
            return Err(DbError::NestedTransaction.into());
        }
        exec.in_transaction = true;
        let recorder = &mut exec.recorder;
        let span = recorder.open(SpanKind::DbTransaction, site, Map::new());
        recorder.transaction = Some(span);
        self.later(
            token,
            TxControl::Begin,
            false,
            |_| Ok(()),
            move |state, token, begun| {
                let exec = state.exec_mut(token)?;
                match begun {
                    Ok(()) => {
                        exec.tx_open = true;
                        Ok(Value::Null)
                    }
                    Err(message) => {
                        exec.in_transaction = false;
                        let recorder = &mut exec.recorder;
                        recorder.transaction = None;
                        recorder.close(span, SpanStatus::Error, Some(message.clone()), Map::new());
                        Err(DbError::Begin(message).into())
                    }
                }
            },
        )
    }

    /// Commits the open transaction; answers once it is durable, so that a job it enqueued
    /// exists when `ctx.db.transaction` resolves.
    fn commit(&mut self, token: Token) -> Result<Answer, HostError> {
        let exec = self.running(token)?;
        if !exec.in_transaction {
            return Err(DbError::NoTransaction.into());
        }
        // Inside an atomic attempt, the attempt's own transaction commits later.
        let durable = !exec.atomic;
        self.later(
            token,
            TxControl::Commit,
            durable,
            |_| Ok(()),
            |state, token, committed| {
                let exec = state.exec_mut(token)?;
                exec.settle_transaction(committed.is_ok());
                match committed {
                    Ok(()) => {
                        exec.end_transaction(SpanStatus::Ok, "committed", None);
                        Ok(Value::Null)
                    }
                    Err(e) => {
                        exec.end_transaction(SpanStatus::Error, "rolled back", Some(e.clone()));
                        Err(DbError::Commit(e).into())
                    }
                }
            },
        )
    }

    fn rollback(&mut self, token: Token, reason: Option<String>) -> Result<Answer, HostError> {
        self.running(token)?;
        let op = self.next_op();
        match self.roll_back(token, reason, Purpose::Js(op))? {
            true => Ok(Answer::Later(op)),
            false => Ok(Answer::Now(Value::Null)),
        }
    }

    /// Rolls back the execution's transaction, if one is open (answered to `purpose`;
    /// false when there was nothing to roll back and the span is closed at once).
    fn roll_back(
        &mut self,
        token: Token,
        reason: Option<String>,
        purpose: Purpose,
    ) -> Result<bool, HostError> {
        let exec = self.exec_mut(token)?;
        if !exec.in_transaction {
            exec.end_transaction(SpanStatus::Error, "rolled back", reason);
            return Ok(false);
        }
        self.submit(
            token,
            TxControl::Rollback,
            false,
            purpose,
            |_| Ok(()),
            // Fails only when flux dev is stopping, and then the store thread rolls back.
            move |state, token, _| {
                let exec = state.exec_mut(token)?;
                if exec.in_transaction {
                    exec.settle_transaction(false);
                }
                exec.end_transaction(SpanStatus::Error, "rolled back", reason);
                Ok(Value::Null)
            },
        )?;
        Ok(true)
    }

    /// Rolls back a transaction the execution left open (it threw, timed out or forgot);
    /// true when the worker is to wait for it.
    pub fn abandon_transaction(&mut self, token: Token, reason: &str) -> bool {
        self.roll_back(token, Some(reason.to_string()), Purpose::Ending)
            .unwrap_or(false)
    }

    /// Opens the transaction of an atomic job attempt, before its code runs; answered to
    /// [`Purpose::Begun`].
    pub fn begin_atomic(&mut self, token: Token) -> Result<(), HostError> {
        self.submit(
            token,
            TxControl::Begin,
            false,
            Purpose::Begun,
            |_| Ok(()),
            |state, token, begun| {
                let exec = state.exec_mut(token)?;
                begun.map_err(HostError::Store)?;
                exec.atomic = true;
                Ok(Value::Null)
            },
        )
    }

    /// Ends an atomic attempt's transaction: committed with the record that follows at once
    /// (the store commits nothing in between), or rolled back. Its changes are marked as
    /// committed or not. True when the worker is to wait for it.
    pub fn end_atomic(&mut self, token: Token, succeeded: bool) -> bool {
        let Some(exec) = self.execs.get_mut(&token).filter(|exec| exec.atomic) else {
            return false;
        };
        exec.atomic = false;
        let control = if succeeded {
            TxControl::CommitWithRecord
        } else {
            TxControl::Rollback
        };
        let submitted = self.submit(
            token,
            control,
            false,
            Purpose::Ending,
            |_| Ok(()),
            move |state, token, ended| {
                let exec = state.exec_mut(token)?;
                if !succeeded || ended.is_err() {
                    for change in &mut exec.mutations {
                        change.committed = false;
                    }
                }
                // A failed rollback means flux dev is stopping, and the store rolls back.
                match ended {
                    Err(message) if succeeded => Err(HostError::Store(message)),
                    _ => Ok(Value::Null),
                }
            },
        );
        submitted.is_ok()
    }

    /// Waits until everything the execution wrote is committed (before its HTTP response);
    /// true when the worker is to wait for it.
    pub fn sync(&mut self, token: Token) -> bool {
        if !self.execs.get(&token).is_some_and(|exec| exec.wrote) {
            return false;
        }
        self.submit(
            token,
            TxControl::None,
            true,
            Purpose::Ending,
            |_| Ok(()),
            |_, _, synced| synced.map(|()| Value::Null).map_err(HostError::Store),
        )
        .is_ok()
    }
}

/// The rows a query returned that [`attr::KEYS`] names.
const MAX_KEYS: usize = 20;

/// The table a `SELECT … FROM <table>` reads alone (no join, no second table): the one whose
/// keys its rows can carry.
fn single_table(sql: &str) -> Option<String> {
    static FROM: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"(?is)^\s*select\b.*?\bfrom\s+"?(\w+)"?\s*(,|\bjoin\b)?"#).ok()
    });
    let captures = FROM.as_ref()?.captures(sql)?;
    if captures.get(2).is_some() || sql.to_ascii_lowercase().contains(" join ") {
        return None;
    }
    Some(captures[1].to_string())
}

/// The primary keys of the first rows a query of one table returned, when the table has a
/// one-column key (`key`, asked only when there are rows) and the rows carry it.
fn returned_keys<E>(
    result: &Result<sql::SqlResult, E>,
    key: impl FnOnce() -> Option<String>,
) -> Option<Value> {
    let rows = &result.as_ref().ok()?.rows;
    if rows.is_empty() {
        return None;
    }
    let key = key()?;
    let keys: Option<Vec<Value>> = rows
        .iter()
        .take(MAX_KEYS)
        .map(|row| row.get(&key).cloned())
        .collect();
    keys.map(Value::Array)
}

impl super::ExecState {
    /// Closes a statement's span with its outcome; one stopped at the deadline or at
    /// shutdown is what ends the execution.
    fn close_statement(
        &mut self,
        span: u32,
        result: Result<sql::SqlResult, StatementError>,
        keys: Option<Value>,
    ) -> Result<sql::SqlResult, HostError> {
        match result {
            Ok(result) => {
                let mut done = Map::new();
                done.insert(attr::ROWS.into(), Value::from(result.rows.len()));
                if let Some(keys) = keys {
                    done.insert(attr::KEYS.into(), keys);
                }
                if result.changes > 0 {
                    done.insert(attr::CHANGES.into(), Value::from(result.changes));
                }
                self.recorder.close(span, SpanStatus::Ok, None, done);
                Ok(result)
            }
            Err(StatementError { message, stopped }) => {
                let status = match stopped {
                    Some(_) => SpanStatus::Timeout,
                    None => SpanStatus::Error,
                };
                self.recorder
                    .close(span, status, Some(message.clone()), Map::new());
                if stopped.is_some() {
                    self.stopped_sql = stopped;
                }
                Err(DbError::Statement(message).into())
            }
        }
    }

    /// The open transaction ended: its changes are kept or undone.
    fn settle_transaction(&mut self, committed: bool) {
        self.in_transaction = false;
        self.tx_open = false;
        let changes = std::mem::take(&mut self.tx_mutations);
        self.mutations
            .extend(changes.into_iter().map(|change| crate::record::Mutation {
                committed: committed && change.committed,
                ..change
            }));
    }

    /// Closes the transaction's span, if one is open.
    fn end_transaction(&mut self, status: SpanStatus, outcome: &str, error: Option<String>) {
        if let Some(span) = self.recorder.transaction.take() {
            let mut attrs = Map::new();
            attrs.insert(attr::OUTCOME.into(), Value::String(outcome.into()));
            self.recorder.close(span, status, error, attrs);
        }
    }
}
