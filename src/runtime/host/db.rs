//! `ctx.db`: statements, inserts and transactions, and the transactions of atomic job
//! attempts. Reads run on the engine's own connection until the execution writes; everything
//! else runs on the store thread's, with the rows it changes captured.

use std::sync::Arc;

use rquickjs::{Ctx, Function, Object};
use serde_json::{Map, Value};

use super::{site, Bridge, HostError, HostState, Json, JsonArg};
use crate::clock::monotonic_ns;
use crate::record::{attr, SpanKind, SpanStatus};
use crate::runtime::sql;
use crate::store::sandbox::{Stop, StopCheck};
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
            move |ctx: Ctx<'js>, sql: JsonArg, params: JsonArg, at: Option<String>| {
                b.run(&ctx, |state| state.query(sql, params, site(at)))
                    .map(Json)
            },
        )?,
    )?;
    let b = bridge.clone();
    db.set(
        "insert",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, table: JsonArg, row: JsonArg, at: Option<String>| {
                b.run(&ctx, |state| state.insert(table, row, site(at)))
                    .map(Json)
            },
        )?,
    )?;
    let b = bridge.clone();
    db.set(
        "begin",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, at: Option<String>| {
            b.run(&ctx, |state| state.begin(site(at)))
        })?,
    )?;
    let b = bridge.clone();
    db.set(
        "commit",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>| {
            b.run(&ctx, HostState::commit)
        })?,
    )?;
    let b = bridge.clone();
    db.set(
        "rollback",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, reason: Option<String>| {
            b.run(&ctx, |state| state.rollback(reason))
        })?,
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

impl HostState {
    fn query(
        &mut self,
        sql: JsonArg,
        params: JsonArg,
        site: Option<String>,
    ) -> Result<Value, HostError> {
        self.running()?;
        #[cfg(debug_assertions)]
        self.panic_if_asked();
        let (Some(Value::String(sql)), params) = (sql.0, params.0) else {
            return Err(DbError::QueryArguments.into());
        };
        let params = match params {
            None => Vec::new(),
            Some(Value::Array(params)) => params,
            Some(_) => return Err(DbError::QueryArguments.into()),
        };
        let result = self.statement(SpanKind::DbQuery, &sql, &params, site)?;
        Ok(Value::Array(
            result.rows.into_iter().map(Value::Object).collect(),
        ))
    }

    fn insert(
        &mut self,
        table: JsonArg,
        row: JsonArg,
        site: Option<String>,
    ) -> Result<Value, HostError> {
        self.running()?;
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
        let result = self.statement(SpanKind::DbInsert { table }, &statement, &params, site)?;
        Ok(result
            .rows
            .into_iter()
            .next()
            .map_or(Value::Null, Value::Object))
    }

    /// What bounds the running execution's statements: its deadline, flux dev's shutdown and
    /// the configured result size.
    fn sql_limits(&self, deadline_ns: u64) -> sql::Limits {
        let shared = Arc::clone(&self.shared);
        let max_result_bytes = shared.config().db.max_result_bytes;
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

    /// Runs one statement, recorded as a span of `kind`: a read on this engine's connection
    /// until the execution has written, anything else on the store thread's with its row
    /// changes captured. A statement stopped at the deadline (or at shutdown) ends the
    /// execution.
    fn statement(
        &mut self,
        kind: SpanKind,
        sql_text: &str,
        params: &[Value],
        site: Option<String>,
    ) -> Result<sql::SqlResult, HostError> {
        let mut attrs = Map::new();
        attrs.insert(attr::SQL.into(), Value::String(sql_text.to_string()));
        attrs.insert(attr::PARAMS.into(), Value::Array(params.to_vec()));
        let exec = self.running()?;
        let span = exec.recorder.open(kind, site, attrs);
        let at = exec.recorder.elapsed_us();
        let (wrote, in_transaction, deadline_ns) =
            (exec.wrote, exec.in_transaction, exec.deadline_ns);
        let limits = self.sql_limits(deadline_ns);
        let local = !wrote && !in_transaction && sql::is_read_only(&self.conn, sql_text);
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
                    let exec = self.running()?;
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
        let exec = self.running()?;
        match result {
            Ok(result) => {
                let mut done = Map::new();
                done.insert(attr::ROWS.into(), Value::from(result.rows.len()));
                if result.changes > 0 {
                    done.insert(attr::CHANGES.into(), Value::from(result.changes));
                }
                exec.recorder.close(span, SpanStatus::Ok, None, done);
                Ok(result)
            }
            Err(StatementError { message, stopped }) => {
                let status = match stopped {
                    Some(_) => SpanStatus::Timeout,
                    None => SpanStatus::Error,
                };
                exec.recorder
                    .close(span, status, Some(message.clone()), Map::new());
                if stopped.is_some() {
                    exec.stopped_sql = stopped;
                }
                Err(DbError::Statement(message).into())
            }
        }
    }

    fn begin(&mut self, site: Option<String>) -> Result<(), HostError> {
        let exec = self.running()?;
        if exec.in_transaction {
            return Err(DbError::NestedTransaction.into());
        }
        let recorder = &mut exec.recorder;
        let span = recorder.open(SpanKind::DbTransaction, site, Map::new());
        recorder.transaction = Some(span);
        match self.on_writer(TxControl::Begin, false, |_| Ok(())) {
            Ok(()) => {
                self.running()?.in_transaction = true;
                Ok(())
            }
            Err(message) => {
                let recorder = &mut self.running()?.recorder;
                recorder.transaction = None;
                recorder.close(span, SpanStatus::Error, Some(message.clone()), Map::new());
                Err(DbError::Begin(message).into())
            }
        }
    }

    /// Commits the open transaction; returns once it is durable, so that a job it enqueued
    /// exists when `ctx.db.transaction` resolves.
    fn commit(&mut self) -> Result<(), HostError> {
        let exec = self.running()?;
        if !exec.in_transaction {
            return Err(DbError::NoTransaction.into());
        }
        // Inside an atomic attempt, the attempt's own transaction commits later.
        let durable = !exec.atomic;
        let committed = self.on_writer(TxControl::Commit, durable, |_| Ok(()));
        let exec = self.running()?;
        exec.settle_transaction(committed.is_ok());
        match committed {
            Ok(()) => {
                exec.end_transaction(SpanStatus::Ok, "committed", None);
                Ok(())
            }
            Err(e) => {
                exec.end_transaction(SpanStatus::Error, "rolled back", Some(e.clone()));
                Err(DbError::Commit(e).into())
            }
        }
    }

    fn rollback(&mut self, reason: Option<String>) -> Result<(), HostError> {
        self.running()?;
        self.roll_back(reason);
        Ok(())
    }

    fn roll_back(&mut self, reason: Option<String>) {
        let Some(exec) = self.exec.as_mut() else {
            return;
        };
        if exec.in_transaction {
            // Fails only when flux dev is stopping, and then the store thread rolls back.
            let _ = self.on_writer(TxControl::Rollback, false, |_| Ok(()));
        }
        if let Some(exec) = self.exec.as_mut() {
            if exec.in_transaction {
                exec.settle_transaction(false);
            }
            exec.end_transaction(SpanStatus::Error, "rolled back", reason);
        }
    }

    /// Rolls back a transaction the execution left open (it threw, timed out or forgot).
    pub fn abandon_transaction(&mut self, reason: &str) {
        self.roll_back(Some(reason.to_string()));
    }

    /// Opens the transaction of an atomic job attempt, before its code runs.
    pub fn begin_atomic(&mut self) -> Result<(), String> {
        self.on_writer(TxControl::Begin, false, |_| Ok(()))?;
        if let Some(exec) = self.exec.as_mut() {
            exec.atomic = true;
        }
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
            if let Some(exec) = self.exec.as_mut() {
                for change in &mut exec.mutations {
                    change.committed = false;
                }
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
}

impl super::ExecState {
    /// The open transaction ended: its changes are kept or undone.
    fn settle_transaction(&mut self, committed: bool) {
        self.in_transaction = false;
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
