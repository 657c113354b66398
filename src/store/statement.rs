//! One statement of user SQL on either engine: what bounds it, what it answers (its rows, or
//! why it failed), and [`UserStatements`], the seam `ctx.db` runs statements through. SQLite's
//! runner is `user_sql.rs`, PostgreSQL's `postgres/user_sql.rs`.

use serde_json::{Map, Value};

use super::sandbox::{Stop, StopCheck};
use crate::record::Mutation;

/// What bounds one call's statement.
#[derive(Clone)]
pub struct Limits {
    /// Stops the statement at its execution's deadline or at shutdown (SQLite checks it while
    /// the statement runs).
    pub stop: StopCheck,
    /// The execution's deadline on [`crate::clock::monotonic_ns`]'s clock, 0 for none
    /// (PostgreSQL's `statement_timeout` is the time left to it).
    pub deadline_ns: u64,
    /// The most a result may weigh, as the JSON handed to the function (`db.maxResultSize`).
    pub max_result_bytes: u64,
    /// Its execution is a job attempt, which counts as done only once its record commits:
    /// that commit's flush to disk covers its statements' earlier commits, so on PostgreSQL
    /// they need not wait for one of their own (a crash of the server loses them only with
    /// the attempt's outcome, and the job runs again).
    pub flushed_by_record: bool,
}

/// A connection lent for user statements, on either engine.
pub trait UserStatements {
    /// Runs one statement within `limits`: its result, and the rows it changed attributed to
    /// `span` at `at_us` (a failed statement's undone changes on SQLite, none on PostgreSQL).
    fn statement(
        &mut self,
        sql: &str,
        params: &[Value],
        limits: &Limits,
        span: Option<u32>,
        at_us: u64,
    ) -> (Result<SqlResult, SqlError>, Vec<Mutation>);

    /// The app table `table`'s primary key when it is one column (the keys of the rows a
    /// query returned, which `flux why` follows); `None` without one or when unknown.
    fn single_key(&mut self, table: &str) -> Option<String>;
}

#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL refused or failed the statement.
    #[error("{0}")]
    Postgres(EngineError),
    #[error("{0}")]
    Usage(String),
    /// The sandbox refused the statement: the reason says what is not allowed.
    #[error("{0}")]
    Refused(String),
    #[error("{}", match .0 {
        Stop::Deadline => "the SQL statement was interrupted at the execution's deadline",
        Stop::Shutdown => "the SQL statement was interrupted: flux dev is stopping",
    })]
    Stopped(Stop),
    #[error(
        "the query's result is larger than db.maxResultSize ({}) at row {rows}: page it \
         (LIMIT … with a WHERE on the last key seen), select fewer columns, or raise \
         db.maxResultSize in flux.config.ts",
        bytesize::ByteSize::b(*.max_bytes).display().iec()
    )]
    TooLarge { max_bytes: u64, rows: usize },
}

/// An error of the SQL engine: its message, its SQLSTATE and where in the statement it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}{}", match .position {
    Some((line, column)) => format!(" (line {line}, column {column})"),
    None => String::new(),
})]
pub struct EngineError {
    pub message: String,
    /// The five-character SQLSTATE, e.g. `42P01` for a missing table.
    pub sqlstate: String,
    /// Line and column (from 1, in characters) in the statement's text.
    pub position: Option<(usize, usize)>,
}

pub struct SqlResult {
    pub rows: Vec<Map<String, Value>>,
    /// Rows the statement inserted, updated or deleted (0 for a query).
    pub changes: usize,
}

/// What a row weighs beside its values: the object holding it, here and in the function.
pub const ROW_OVERHEAD: u64 = 64;

/// What a call with more than one statement is told.
pub const ONE_STATEMENT: &str = "a call runs one SQL statement, and this SQL holds more: make \
     one call per statement (ctx.db.transaction groups them)";

/// The SQL names parameter `$position` but fewer values were given.
pub fn missing_parameter(position: usize, given: usize) -> SqlError {
    SqlError::Usage(format!(
        "the SQL uses parameter ${position} but {given} value{} given",
        if given == 1 { " was" } else { "s were" }
    ))
}

/// More values were given than the SQL's highest parameter.
pub fn extra_values(given: usize, highest: usize) -> SqlError {
    SqlError::Usage(format!(
        "{given} values were given but the SQL uses {highest} parameter{}",
        if highest == 1 { "" } else { "s" }
    ))
}
