//! The user's SQL (`ctx.db`) on PostgreSQL: one statement at a time on the caller's
//! transaction, within a savepoint, on a connection logged in as the sandbox role
//! (`sandbox.rs`, no rights on flux's tables), under the execution's deadline, with the rows
//! it changed (`capture.rs`).
//!
//! Each statement in a transaction runs as:
//! 1. one round trip: `SAVEPOINT`, `SET LOCAL statement_timeout` (the time left to the
//!    execution) and `SET LOCAL flux.capture`;
//! 2. the statement itself, over the extended protocol (which refuses a second statement):
//!    described first the first time its text runs on the connection, then sent with the
//!    parameter types kept from that run, in one round trip ([`ParamTypes`]);
//! 3. one round trip: `RELEASE SAVEPOINT`, and the statement's staged row changes taken
//!    (`capture::take`). On an error, `ROLLBACK TO SAVEPOINT` instead:
//!    as on SQLite, a failed statement leaves the transaction usable, and its undone changes
//!    are not reported (PostgreSQL undid the staged changes with them).
//!
//! A statement outside `ctx.db.transaction` stands alone: [`UserSql::run_alone`] runs it in a
//! transaction of its own, without a savepoint (`BEGIN` with the settings, the statement, the
//! take with `COMMIT`), and a write without result columns run again on the connection in one
//! round trip ([`Named`]). Nothing here holds a transaction across calls.
//!
//! Values: parameters go as text, which PostgreSQL parses as the type it inferred (so a JSON
//! number fits an `int`, a `numeric` or a `text` column). Results: integers, floats and
//! booleans as JSON numbers and booleans; `numeric` as a string (exact; a JS number would
//! round it); json/jsonb as values; timestamptz as RFC 3339 in UTC (`…Z`), timestamp without
//! a zone, date and time as ISO strings; bytea as `{ "$blob": "<hex>" }` as on SQLite; uuid
//! and enums as strings; one-dimensional arrays as arrays; anything else is an error that says
//! to cast it (`::text`). `changes` is the row count of an INSERT, UPDATE, DELETE or MERGE.

use std::collections::HashMap;
use std::error::Error;
use std::time::Duration;

use bytes::BytesMut;
use postgres::error::{ErrorPosition, SqlState};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{to_sql_checked, FromSql, IsNull, Kind, ToSql, Type};
use postgres::{Client, GenericClient, SimpleQueryMessage, Transaction};
use serde_json::{Map, Value};
use std::sync::Arc;

use super::capture::{self, Keys};
use super::pool::lost;
use super::{PgWrites, Sandbox};
use crate::clock::monotonic_ns;
use crate::record::Mutation;
use crate::store::sandbox::{Stop, TRANSACTION_REFUSED};
pub use crate::store::statement::Limits;
use crate::store::statement::{
    extra_values, missing_parameter, EngineError, SqlError, SqlResult, UserStatements,
    ONE_STATEMENT, ROW_OVERHEAD,
};
use crate::store::{CallerWrites, Lent, NewEmail, Result as StoreResult};

type BoxError = Box<dyn Error + Sync + Send>;

/// A statement's rows and the row changes it made.
pub struct Outcome {
    pub result: SqlResult,
    pub mutations: Vec<Mutation>,
}

/// Runs user SQL on one database's connections logged in as its sandbox role: where flux's
/// tables are, flux's key for its own functions, and the tables' primary keys.
pub struct UserSql {
    schema: String,
    pub(super) key: Arc<str>,
    keys: Keys,
    types: ParamTypes,
    named: Named,
    /// Nothing ran on the connection since its session was last cleared (see
    /// [`CLEAR_SESSION`]): text carrying user input may be parsed there.
    clean: bool,
    /// The next statement is its transaction's first: the connection serves one execution
    /// after another, so what an earlier one left in the session goes first.
    fresh: bool,
    /// What follows a named statement's `EXECUTE` ([`UserSql::run_named`]), made once: the
    /// take of its changes, the session cleared, the commit (flushed to disk or not).
    named_tails: NamedTails,
}

/// See [`UserSql::named_tails`]'s field.
struct NamedTails {
    flushed: String,
    unflushed: String,
}

impl NamedTails {
    fn new(schema: &str) -> NamedTails {
        // The session is cleared within the transaction (one commit), and its commit's
        // durability set again.
        let tail = |flush: &str| {
            capture::take_sql(schema, &format!("@TAKE@; {CLEAR_SESSION}{flush}COMMIT"))
        };
        NamedTails {
            flushed: tail(""),
            unflushed: tail("SET LOCAL synchronous_commit = off; "),
        }
    }
}

/// What an earlier execution may have left in the connection's session (`set_config(…,
/// false)`, a temporary table shadowing an app table, a session advisory lock), cleared before
/// a transaction's first statement, in the same round trip as its settings.
const CLEAR_SESSION: &str = "RESET ALL; DISCARD TEMP; SELECT pg_advisory_unlock_all(); ";

impl UserSql {
    /// For statements on connections from [`Sandbox::connect`].
    pub fn new(sandbox: &Sandbox) -> UserSql {
        UserSql {
            schema: sandbox.schema().to_string(),
            key: Arc::clone(sandbox.key()),
            keys: Keys::default(),
            types: ParamTypes::default(),
            named: Named::new(),
            clean: true,
            fresh: true,
            named_tails: NamedTails::new(sandbox.schema()),
        }
    }

    /// Notes that a new transaction began on the connection (see [`CLEAR_SESSION`]).
    pub fn began(&mut self) {
        self.fresh = true;
    }

    /// Notes that the statements now run on a new connection, where none is prepared yet.
    pub fn reconnected(&mut self) {
        self.named.names.clear();
        self.clean = true;
    }

    /// Captures tables created since: grants, ownership and triggers where missing.
    pub fn refresh(&mut self, tx: &mut Transaction<'_>) -> StoreResult<()> {
        self.keys.clear();
        capture::refresh(tx, &self.schema)
    }

    /// Runs one statement in a transaction of its own, committed when it succeeds, in three
    /// round trips and without a savepoint (a failure undoes the whole transaction): `BEGIN`
    /// with the settings, the statement, then its staged changes taken with the `COMMIT` (and,
    /// after a `CREATE`, `ALTER` or `DROP`, the tables refreshed before it).
    /// When the first finds the connection closed by the server (nothing ran yet), it runs on
    /// a new one from `reconnect`, which takes `client`'s place.
    pub fn run_alone(
        &mut self,
        client: &mut Client,
        reconnect: &dyn Fn() -> StoreResult<Client>,
        sql: &str,
        params: &[Value],
        limits: &Limits,
    ) -> Result<Outcome, SqlError> {
        let verb = first_word(sql).to_ascii_uppercase();
        let timed = limits.deadline_ns != 0;
        if let Some(ran) = self.run_named(client, reconnect, &verb, sql, params, limits) {
            return ran.map_err(|e| engine(&e, sql, timed));
        }
        // The long way; a named run that fell back took some of the time left.
        let begin = format!("BEGIN; {CLEAR_SESSION}{}", settings(&verb, limits)?);
        if let Err(e) = send(client, &begin) {
            if !lost(&e) {
                return Err(engine(&e, sql, timed));
            }
            *client = reconnect().map_err(|e| not_begun(e.to_string()))?;
            self.reconnected();
            send(client, &begin).map_err(|e| engine(&e, sql, timed))?;
        }
        self.clean = false;
        let max = limits.max_result_bytes;
        let mut ran = statement(client, &verb, sql, params, max, &mut self.types);
        if let Err(Failure::Stale(_)) = &ran {
            // Refused with the types it had last time: undone, described again, run again
            // within the time still left.
            self.types.forget(sql);
            let _ = client.batch_execute("ROLLBACK");
            let again = format!("BEGIN; {CLEAR_SESSION}{}", settings(&verb, limits)?);
            ran = match client.batch_execute(&again) {
                Ok(()) => statement(client, &verb, sql, params, max, &mut self.types),
                Err(e) => Err(Failure::Engine(e)),
            };
        }
        let taken = match ran {
            // A table it created is captured from the commit on (see `refresh`).
            Ok(result) => capture::take_and_commit(client, &self.schema, is_ddl(&verb))
                .map(|staged| (result, staged))
                .map_err(|e| engine(&e, sql, false)),
            Err(Failure::Engine(e) | Failure::Stale(e)) => Err(engine(&e, sql, timed)),
            Err(Failure::Flux(e)) => Err(e),
        };
        if is_ddl(&verb) {
            self.keys.clear();
        }
        let (result, staged) = match taken {
            Ok(taken) => taken,
            Err(error) => {
                // Ends the transaction, unless a failed COMMIT already did.
                let _ = client.batch_execute("ROLLBACK");
                return Err(error);
            }
        };
        let mutations = self.keys.mutations(client, &self.schema, staged);
        Ok(Outcome { result, mutations })
    }

    /// Runs a statement without result columns that ran on this connection before in one
    /// round trip (see [`Named`]); `None` when it does not qualify or must run the long way
    /// (it is not prepared, or no longer: nothing of it ran then).
    fn run_named(
        &mut self,
        client: &mut Client,
        reconnect: &dyn Fn() -> StoreResult<Client>,
        verb: &str,
        sql: &str,
        params: &[Value],
        limits: &Limits,
    ) -> Option<Result<Outcome, postgres::Error>> {
        let described = self.types.0.get(sql)?;
        let preparable = matches!(verb, "INSERT" | "UPDATE" | "DELETE" | "MERGE");
        if !preparable || described.columns != 0 || described.params.len() != params.len() {
            return None;
        }
        let values = params
            .iter()
            .zip(&described.params)
            .map(|(value, ty)| literal(value, ty))
            .collect::<Option<Vec<String>>>()?;
        // A connection the server closed since its last call (a restart, a terminated
        // backend) has said so already: opened again before anything is sent, since a
        // round trip that fails midway cannot be told from one that committed.
        if client.notifications().iter().next().is_err() || client.is_closed() {
            *client = reconnect().ok()?;
            self.reconnected();
        }
        // What carries the statement's text or its values is parsed under the session's
        // settings (`standard_conforming_strings`, `client_encoding`): what an earlier
        // execution left there goes first.
        if !self.clean {
            client.batch_execute(CLEAR_SESSION).ok()?;
            self.clean = true;
        }
        let name = self.named.prepare(client, sql)?;
        // Stopped meanwhile: the long way says so.
        let head = format!("BEGIN; {}", settings(verb, limits).ok()?);
        let before = head.split("; ").count();
        let tail = match limits.flushed_by_record {
            true => &self.named_tails.unflushed,
            false => &self.named_tails.flushed,
        };
        let batch = format!("{head}; EXECUTE {name}({}); {tail}", values.join(", "));
        self.clean = false;
        let messages = match client.simple_query(&batch) {
            Ok(messages) => messages,
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK");
                if e.code() == Some(&SqlState::INVALID_SQL_STATEMENT_NAME) {
                    // Gone: behind PgBouncer in transaction mode, or deallocated.
                    self.named.lost(sql);
                    return None;
                }
                if maybe_stale(&e) {
                    // Refused as prepared: the schema may have changed under it.
                    self.named.forget(client, sql);
                    self.types.forget(sql);
                    return None;
                }
                if lost(&e) {
                    self.named.names.clear();
                }
                return Some(Err(e));
            }
        };
        // It ended with the session cleared.
        self.clean = true;
        let changes = messages
            .iter()
            .filter_map(|message| match message {
                SimpleQueryMessage::CommandComplete(rows) => Some(*rows as usize),
                _ => None,
            })
            .nth(before)
            .unwrap_or(0);
        let mutations = self
            .keys
            .mutations(client, &self.schema, capture::staged_in(&messages));
        Some(Ok(Outcome {
            result: SqlResult {
                rows: Vec::new(),
                changes,
            },
            mutations,
        }))
    }

    /// Runs one statement of user SQL on `tx`; a failed statement leaves `tx` usable.
    pub fn run(
        &mut self,
        tx: &mut Transaction<'_>,
        sql: &str,
        params: &[Value],
        limits: &Limits,
    ) -> Result<Outcome, SqlError> {
        let verb = first_word(sql).to_ascii_uppercase();
        let timeout_ms = prepare(&verb, limits)?;
        let timed = timeout_ms != 0;
        self.clean = false;
        let clear = if self.fresh { CLEAR_SESSION } else { "" };
        let settings = format!(
            "SAVEPOINT flux_statement; SET LOCAL statement_timeout = {timeout_ms}; \
             SET LOCAL flux.capture = 'on'"
        );
        tx.batch_execute(&format!("{clear}{settings}"))
            .map_err(|e| engine(&e, sql, timed))?;
        self.fresh = false;
        let max = limits.max_result_bytes;
        let mut ran = statement(tx, &verb, sql, params, max, &mut self.types);
        if let Err(Failure::Stale(_)) = &ran {
            // Refused with the types it had last time: undone, described again, run again.
            self.types.forget(sql);
            ran = match tx.batch_execute(&format!(
                "ROLLBACK TO SAVEPOINT flux_statement; RELEASE SAVEPOINT flux_statement; \
                 {settings}"
            )) {
                Ok(()) => statement(tx, &verb, sql, params, max, &mut self.types),
                Err(e) => Err(Failure::Engine(e)),
            };
        }
        let result = match ran {
            Ok(result) => result,
            Err(error) => {
                // Undoes the statement and the settings above; when even that fails the
                // transaction is lost, and the statement's error says why.
                let _ = tx.batch_execute(
                    "ROLLBACK TO SAVEPOINT flux_statement; RELEASE SAVEPOINT flux_statement",
                );
                return Err(match error {
                    Failure::Engine(e) | Failure::Stale(e) => engine(&e, sql, timed),
                    Failure::Flux(e) => e,
                });
            }
        };
        let staged = capture::take(tx, &self.schema).map_err(|e| engine(&e, sql, false))?;
        if is_ddl(&verb) {
            self.refresh(tx)
                .map_err(|e| SqlError::Usage(e.to_string()))?;
        }
        let mutations = self.keys.mutations(tx, &self.schema, staged);
        Ok(Outcome { result, mutations })
    }
}

/// Sends `sql`, rolling back the transaction it may have begun when it fails.
fn send(client: &mut Client, sql: &str) -> Result<(), postgres::Error> {
    client.batch_execute(sql).inspect_err(|_| {
        let _ = client.batch_execute("ROLLBACK");
    })
}

/// Whether a statement may create or change tables, which are then captured too.
fn is_ddl(verb: &str) -> bool {
    matches!(verb, "CREATE" | "ALTER" | "DROP")
}

/// A lone statement's settings: its timeout (the time left now), capture, and for a job
/// attempt no flush of its own (see `Limits::flushed_by_record`).
fn settings(verb: &str, limits: &Limits) -> Result<String, SqlError> {
    let timeout_ms = prepare(verb, limits)?;
    let flush = match limits.flushed_by_record {
        true => "SET LOCAL synchronous_commit = off; ",
        false => "",
    };
    Ok(format!(
        "{flush}SET LOCAL statement_timeout = {timeout_ms}; SET LOCAL flux.capture = 'on'"
    ))
}

/// Refuses what flux does not run and a statement past its execution's stop; else the
/// statement timeout to set, in milliseconds (0: none).
fn prepare(verb: &str, limits: &Limits) -> Result<u128, SqlError> {
    refuse(verb)?;
    if let Some(stop) = (limits.stop)() {
        return Err(SqlError::Stopped(stop));
    }
    if limits.deadline_ns == 0 {
        return Ok(0);
    }
    let left = Duration::from_nanos(limits.deadline_ns.saturating_sub(monotonic_ns()));
    if left.is_zero() {
        return Err(SqlError::Stopped(Stop::Deadline));
    }
    Ok(left.as_millis().clamp(1, i32::MAX as u128))
}

/// The caller's transaction (on the sandbox role's connection) and the database's
/// [`UserSql`], lent for user statements. flux's own writes: inside a user's transaction
/// (`flux` is `None`) an enqueue and an email go in it through flux's SECURITY DEFINER
/// functions; outside one, the caller's writes (the API's too) go on `flux`'s connection, in
/// a transaction of their own, committed before the call answers.
pub struct PgSession<'a, 'b> {
    pub tx: SessionTx<'a, 'b>,
    pub sql: &'a mut UserSql,
    pub flux: Option<&'a mut dyn FluxConnection>,
    /// Counts the jobs the caller's writes make due now (see [`PgWrites::noting_due`]).
    pub made_due: &'a super::writes::MadeDue,
}

/// The sandbox's transaction a call's work runs in: an execution's open transaction, or, for a
/// call outside one, one begun at its first use (a call that writes only flux's rows on
/// flux's connection, such as an enqueue through the API, needs none; a lone statement runs
/// in one of its own, [`UserSql::run_alone`]).
pub enum SessionTx<'a, 'b> {
    Open(&'a mut Transaction<'b>),
    Lazy {
        /// The transaction once begun, for the caller to commit.
        slot: &'a mut Option<Transaction<'b>>,
        /// The connection until then.
        conn: Option<LazyConn<'a, 'b>>,
    },
}

/// The connection of a [`SessionTx::Lazy`] and how to open another when the server closed it:
/// the statement that finds it closed runs on a new one, which takes `client`'s place (a
/// transaction begun on it is kept in `fresh`, for the caller to put in its place).
pub struct LazyConn<'a, 'b> {
    pub client: &'b mut Client,
    pub reconnect: &'a dyn Fn() -> StoreResult<Client>,
    pub fresh: &'b mut Option<Client>,
}

impl<'a, 'b> SessionTx<'a, 'b> {
    /// The transaction, begun now if it was not (`sql` is told so).
    fn get(&mut self, sql: &mut UserSql) -> Result<&mut Transaction<'b>, String> {
        match self {
            SessionTx::Open(tx) => Ok(&mut **tx),
            SessionTx::Lazy { slot, conn } => {
                if slot.is_none() {
                    let LazyConn {
                        client,
                        reconnect,
                        fresh,
                    } = conn
                        .take()
                        .ok_or_else(|| "the transaction could not begin".to_string())?;
                    **slot = Some(begin(client, reconnect, fresh)?);
                    sql.began();
                }
                slot.as_mut()
                    .ok_or_else(|| "the transaction could not begin".to_string())
            }
        }
    }

    /// The connection while no transaction is begun on it.
    fn idle(&mut self) -> Option<&mut LazyConn<'a, 'b>> {
        match self {
            SessionTx::Lazy { slot, conn } if slot.is_none() => conn.as_mut(),
            _ => None,
        }
    }
}

/// Begins a transaction on `client`, or, when the server closed that connection, on a new
/// one (`reconnect`) kept in `fresh`: a connection the server closed (a restart,
/// `pg_terminate_backend`) fails the BEGIN of its next call, before anything of it ran.
pub fn begin<'c>(
    client: &'c mut Client,
    reconnect: &dyn Fn() -> StoreResult<Client>,
    fresh: &'c mut Option<Client>,
) -> Result<Transaction<'c>, String> {
    match client.transaction() {
        Ok(tx) => Ok(tx),
        Err(e) if lost(&e) => match reconnect() {
            Ok(client) => fresh
                .insert(client)
                .transaction()
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e.to_string()),
    }
}

/// A transaction that could not begin, as a statement's error.
fn not_begun(message: String) -> SqlError {
    SqlError::Postgres(EngineError {
        message,
        sqlstate: String::new(),
        position: None,
    })
}

/// A connection of flux's own role, opened when first needed.
pub trait FluxConnection {
    /// Runs `work` on a transaction of its own, committed unless `atomic` and `work` returns
    /// false; once committed, a job it made due wakes the queue.
    fn caller_writes(
        &mut self,
        atomic: bool,
        work: &mut dyn FnMut(&dyn CallerWrites) -> bool,
    ) -> Result<(), String>;
}

impl UserStatements for PgSession<'_, '_> {
    fn statement(
        &mut self,
        sql: &str,
        params: &[Value],
        limits: &Limits,
        span: Option<u32>,
        at_us: u64,
    ) -> (Result<SqlResult, SqlError>, Vec<Mutation>) {
        let ran = match self.tx.idle() {
            Some(conn) => self
                .sql
                .run_alone(conn.client, conn.reconnect, sql, params, limits),
            None => match self.tx.get(self.sql) {
                Ok(tx) => self.sql.run(tx, sql, params, limits),
                Err(e) => Err(not_begun(e)),
            },
        };
        match ran {
            Ok(Outcome {
                result,
                mut mutations,
            }) => {
                for mutation in &mut mutations {
                    mutation.span = span;
                    mutation.at_us = at_us;
                }
                (Ok(result), mutations)
            }
            Err(error) => (Err(error), Vec::new()),
        }
    }

    fn single_key(&mut self, table: &str) -> Option<String> {
        let key = match self.tx.idle() {
            Some(conn) => self
                .sql
                .keys
                .key(conn.client, &self.sql.schema, table)
                .ok()?,
            None => {
                let tx = self.tx.get(self.sql).ok()?;
                self.sql.keys.key(tx, &self.sql.schema, table).ok()?
            }
        };
        match key {
            [key] => Some(key.clone()),
            _ => None,
        }
    }
}

impl Lent for PgSession<'_, '_> {
    /// Inside a user's transaction, atomic writes go in a savepoint of it.
    fn caller_writes(
        &mut self,
        atomic: bool,
        work: &mut dyn FnMut(&dyn CallerWrites) -> bool,
    ) -> Result<(), String> {
        if let Some(flux) = self.flux.as_deref_mut() {
            return flux.caller_writes(atomic, work);
        }
        let key = Arc::clone(&self.sql.key);
        let tx = self.tx.get(self.sql)?;
        if !atomic {
            work(&PgWrites::sandboxed(tx, &key).noting_due(self.made_due));
            return Ok(());
        }
        let mut savepoint = tx.transaction().map_err(|e| e.to_string())?;
        // Dropped without a commit, the savepoint is rolled back.
        if work(&PgWrites::sandboxed(&mut savepoint, &key).noting_due(self.made_due)) {
            savepoint.commit().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn store_email(&mut self, email: &NewEmail) -> Result<i64, String> {
        let key = Arc::clone(&self.sql.key);
        let tx = self.tx.get(self.sql)?;
        super::emails::insert(tx, Some(&key), email)
            .map_err(|e| format!("cannot store the email: {e}"))
    }
}

/// Statements run in one round trip on this connection: a write statement (no result
/// columns, so nothing can refuse its outcome after it ran) run again on a connection is
/// prepared there by name, once (`PREPARE flux_n AS …`: the text was accepted as one
/// statement by the extended protocol when it was described, and the same text is one
/// statement here); then `BEGIN`, its settings, `EXECUTE flux_n(…)` with its values as
/// literals of the types described, the take of its changes and `COMMIT` go in one simple
/// query. PostgreSQL keeps its plan too. A statement found gone (deallocated, or behind
/// PgBouncer in transaction mode, whose server connections do not keep a session's
/// statements) runs the long way; after [`NAMED_LOSSES_MAX`] such losses none is prepared
/// again on this connection.
struct Named {
    names: HashMap<String, String>,
    /// Names are `flux_<prefix>_<n>`: behind a pooler, a server connection may hold another
    /// client's statements, whose names must not be this one's.
    prefix: String,
    next: u64,
    losses: u32,
}

/// See [`Named`].
const NAMED_LOSSES_MAX: u32 = 3;

impl Named {
    fn new() -> Named {
        Named {
            names: HashMap::new(),
            prefix: uuid::Uuid::new_v4().simple().to_string(),
            next: 0,
            losses: 0,
        }
    }

    /// The name `sql` is prepared under on `client`, prepared now if it was not; `None` when
    /// that failed (the statement then runs the long way, which reports why).
    fn prepare(&mut self, client: &mut Client, sql: &str) -> Option<String> {
        if let Some(name) = self.names.get(sql) {
            return Some(name.clone());
        }
        if self.losses >= NAMED_LOSSES_MAX {
            return None;
        }
        if self.names.len() >= PARAM_TYPES_MAX {
            client.batch_execute("DEALLOCATE ALL").ok()?;
            self.names.clear();
        }
        self.next += 1;
        let name = format!("flux_{}_{}", self.prefix, self.next);
        client
            .batch_execute(&format!("PREPARE {name} AS {sql}"))
            .ok()?;
        self.names.insert(sql.to_string(), name.clone());
        Some(name)
    }

    fn lost(&mut self, sql: &str) {
        self.names.remove(sql);
        self.losses += 1;
    }

    fn forget(&mut self, client: &mut Client, sql: &str) {
        if let Some(name) = self.names.remove(sql) {
            let _ = client.batch_execute(&format!("DEALLOCATE {name}"));
        }
    }
}

/// A value as a literal for `EXECUTE`, which PostgreSQL parses as the parameter's type as it
/// would the same text bound (`None` for a text PostgreSQL cannot hold: it is refused the long
/// way).
fn literal(value: &Value, ty: &Type) -> Option<String> {
    if value.is_null() {
        return Some("NULL".into());
    }
    let text = param_text(value, ty);
    if text.contains('\0') {
        return None;
    }
    Some(format!(
        "E'{}'",
        text.replace('\\', "\\\\").replace('\'', "''")
    ))
}

/// Why a statement failed: PostgreSQL's error (mapped with the statement's text) or flux's.
enum Failure {
    Engine(postgres::Error),
    /// PostgreSQL refused the statement run with the parameter types it inferred earlier: the
    /// schema may have changed since (see [`ParamTypes`]).
    Stale(postgres::Error),
    Flux(SqlError),
}

/// The parameter types PostgreSQL inferred for each statement text run on this connection, so
/// that the next run of the same text takes one round trip (parse, bind and execute at once)
/// instead of two (described first). A statement refused when run with them (a type or
/// analysis error: a migration may have changed a column since) is undone, described again
/// and run once more, so the types kept never decide an outcome.
#[derive(Default)]
struct ParamTypes(HashMap<String, Described>);

/// What describing a statement told: its parameters' types and how many columns it returns.
struct Described {
    params: Vec<Type>,
    columns: usize,
}

/// Statement texts whose types a connection keeps; past this many it starts again.
const PARAM_TYPES_MAX: usize = 512;

impl ParamTypes {
    fn keep(&mut self, sql: &str, described: Described) {
        if self.0.len() >= PARAM_TYPES_MAX {
            self.0.clear();
        }
        self.0.insert(sql.to_string(), described);
    }

    fn forget(&mut self, sql: &str) {
        self.0.remove(sql);
    }
}

/// Whether running with kept types may be what PostgreSQL refused (classes 22 and 42: data
/// and analysis errors), rather than the statement itself.
fn maybe_stale(error: &postgres::Error) -> bool {
    error
        .code()
        .is_some_and(|code| code.code().starts_with("22") || code.code().starts_with("42"))
}

impl From<postgres::Error> for Failure {
    fn from(error: postgres::Error) -> Failure {
        Failure::Engine(error)
    }
}

fn statement(
    tx: &mut impl GenericClient,
    verb: &str,
    sql: &str,
    params: &[Value],
    max_result_bytes: u64,
    types: &mut ParamTypes,
) -> Result<SqlResult, Failure> {
    let bound: Vec<Param<'_>> = params.iter().map(Param).collect();
    let mut cursor = match types.0.get(sql) {
        Some(known) => {
            check_values(params.len(), known.params.len())?;
            let typed = bound.iter().zip(known.params.iter().cloned());
            tx.query_typed_raw(sql, typed)
                .map_err(|e| match maybe_stale(&e) {
                    true => Failure::Stale(e),
                    false => Failure::Engine(e),
                })?
        }
        None => {
            let prepared = tx.prepare(sql)?;
            check_values(params.len(), prepared.params().len())?;
            types.keep(
                sql,
                Described {
                    params: prepared.params().to_vec(),
                    columns: prepared.columns().len(),
                },
            );
            tx.query_raw(&prepared, bound.iter().map(|p| p as &dyn ToSql))?
        }
    };
    let mut rows = Vec::new();
    let mut result_bytes = 0u64;
    let mut names: Vec<String> = Vec::new();
    while let Some(row) = cursor.next()? {
        if names.is_empty() {
            names = row.columns().iter().map(|c| c.name().to_string()).collect();
        }
        let mut object = Map::with_capacity(names.len());
        result_bytes += ROW_OVERHEAD;
        for (i, name) in names.iter().enumerate() {
            let Cell(value) = row.try_get(i).map_err(|e| {
                Failure::Flux(SqlError::Usage(format!(
                    "column {name} ({}): {}; cast it in the SQL, for example {name}::text",
                    row.columns()[i].type_(),
                    e.source()
                        .map_or_else(|| e.to_string(), ToString::to_string)
                )))
            })?;
            result_bytes += weight(name, &value);
            object.insert(name.clone(), value);
        }
        if result_bytes > max_result_bytes {
            return Err(Failure::Flux(SqlError::TooLarge {
                max_bytes: max_result_bytes,
                rows: rows.len() + 1,
            }));
        }
        rows.push(object);
    }
    let changes = match verb {
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" => cursor.rows_affected().unwrap_or(0) as usize,
        _ => 0,
    };
    Ok(SqlResult { rows, changes })
}

/// `given` values for a statement whose highest parameter is `used`.
fn check_values(given: usize, used: usize) -> Result<(), Failure> {
    if given < used {
        return Err(Failure::Flux(missing_parameter(used, given)));
    }
    if given > used {
        return Err(Failure::Flux(extra_values(given, used)));
    }
    Ok(())
}

/// Statements flux refuses before sending: transaction control (`ctx.db.transaction` does
/// it), settings (flux sets the role and the deadline per statement: a `SET ROLE`, `RESET
/// ROLE` or `SET statement_timeout` would undo them), and COPY (its own protocol).
fn refuse(verb: &str) -> Result<(), SqlError> {
    match verb {
        "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" | "SAVEPOINT" | "RELEASE"
        | "PREPARE" => Err(SqlError::Refused(TRANSACTION_REFUSED.into())),
        "SET" | "RESET" | "DISCARD" | "LISTEN" | "UNLISTEN" | "LOAD" | "DEALLOCATE" | "EXECUTE" => {
            Err(SqlError::Refused(format!(
                "{verb} is not allowed: flux sets each statement's role and deadline, and the \
             connection serves other executions"
            )))
        }
        "COPY" => Err(SqlError::Refused(
            "COPY is not allowed: read with SELECT and write with INSERT".into(),
        )),
        _ => Ok(()),
    }
}

/// The statement's first word, past blanks, comments and opening parentheses.
fn first_word(sql: &str) -> &str {
    let mut rest = sql;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '(' || c == ';');
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, next)| next);
        } else if rest.starts_with("/*") {
            rest = skip_block_comment(rest);
        } else {
            break;
        }
    }
    let end = rest
        .find(|c: char| !c.is_alphanumeric() && c != '_')
        .unwrap_or(rest.len());
    &rest[..end]
}

/// `text` past the (nested) block comment it starts with.
fn skip_block_comment(text: &str) -> &str {
    let mut depth = 0usize;
    let mut i = 0;
    let bytes = text.as_bytes();
    while i + 1 < bytes.len() {
        match &bytes[i..i + 2] {
            b"/*" => {
                depth += 1;
                i += 2;
            }
            b"*/" => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return &text[i..];
                }
            }
            _ => i += 1,
        }
    }
    ""
}

/// PostgreSQL's error as flux's: the deadline as [`SqlError::Stopped`], a second statement
/// as the same refusal as on SQLite, else the engine's message, SQLSTATE and position.
fn engine(error: &postgres::Error, sql: &str, timed: bool) -> SqlError {
    let Some(db) = error.as_db_error() else {
        return SqlError::Postgres(EngineError {
            message: error.to_string(),
            sqlstate: error
                .code()
                .map(|c| c.code().to_string())
                .unwrap_or_default(),
            position: None,
        });
    };
    if timed && *db.code() == SqlState::QUERY_CANCELED {
        return SqlError::Stopped(Stop::Deadline);
    }
    if *db.code() == SqlState::SYNTAX_ERROR && db.message().contains("multiple commands") {
        return SqlError::Usage(ONE_STATEMENT.into());
    }
    let position = match db.position() {
        Some(ErrorPosition::Original(at)) => Some(line_column(sql, *at as usize)),
        _ => None,
    };
    SqlError::Postgres(EngineError {
        message: db.message().to_string(),
        sqlstate: db.code().code().to_string(),
        position,
    })
}

/// Line and column (from 1) of the `at`th character (from 1) of `sql`.
fn line_column(sql: &str, at: usize) -> (usize, usize) {
    let before: String = sql.chars().take(at.saturating_sub(1)).collect();
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    (line, column)
}

/// `"name"` with embedded quotes doubled.
pub(super) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// About what `name: value` weighs as handed to the function (as on SQLite).
fn weight(name: &str, value: &Value) -> u64 {
    let value = match value {
        Value::Null => 4,
        Value::Bool(_) | Value::Number(_) => 8,
        Value::String(text) => text.len() + 2,
        other => other.to_string().len(),
    };
    (name.len() + 16 + value) as u64
}

/// A JSON parameter, sent as text for PostgreSQL to parse as the type it inferred.
#[derive(Debug)]
struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if self.0.is_null() {
            return Ok(IsNull::Yes);
        }
        out.extend_from_slice(param_text(self.0, ty).as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> postgres::types::Format {
        postgres::types::Format::Text
    }

    to_sql_checked!();
}

fn param_text(value: &Value, ty: &Type) -> String {
    match (value, ty.kind()) {
        (Value::Bool(b), _) if matches!(*ty, Type::INT2 | Type::INT4 | Type::INT8) => {
            if *b { "1" } else { "0" }.into()
        }
        (Value::String(text), _) => text.clone(),
        (Value::Array(items), Kind::Array(member)) => {
            let items: Vec<String> = items
                .iter()
                .map(|item| match item {
                    Value::Null => "NULL".into(),
                    item => format!(
                        "\"{}\"",
                        param_text(item, member)
                            .replace('\\', "\\\\")
                            .replace('"', "\\\"")
                    ),
                })
                .collect();
            format!("{{{}}}", items.join(","))
        }
        (Value::Object(object), _) if *ty == Type::BYTEA => match object.get("$blob") {
            Some(Value::String(hex)) => format!("\\x{hex}"),
            _ => value.to_string(),
        },
        (other, _) => other.to_string(),
    }
}

/// One result value as JSON.
struct Cell(Value);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Cell, BoxError> {
        to_json(ty, raw).map(Cell)
    }

    fn from_sql_null(_: &Type) -> Result<Cell, BoxError> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn to_json(ty: &Type, raw: &[u8]) -> Result<Value, BoxError> {
    use time::format_description::well_known::Rfc3339;
    Ok(match *ty {
        Type::BOOL => Value::Bool(bool::from_sql(ty, raw)?),
        Type::INT2 => Value::from(i16::from_sql(ty, raw)?),
        Type::INT4 => Value::from(i32::from_sql(ty, raw)?),
        Type::INT8 => Value::from(i64::from_sql(ty, raw)?),
        Type::OID => Value::from(u32::from_sql(ty, raw)?),
        Type::FLOAT4 => float(f64::from(f32::from_sql(ty, raw)?)),
        Type::FLOAT8 => float(f64::from_sql(ty, raw)?),
        Type::NUMERIC => Value::String(numeric(raw)?),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            Value::String(String::from_sql(ty, raw)?)
        }
        Type::JSON | Type::JSONB => Value::from_sql(ty, raw)?,
        Type::TIMESTAMPTZ => {
            Value::String(time::OffsetDateTime::from_sql(ty, raw)?.format(&Rfc3339)?)
        }
        Type::TIMESTAMP => {
            let utc = time::PrimitiveDateTime::from_sql(ty, raw)?.assume_utc();
            Value::String(utc.format(&Rfc3339)?.trim_end_matches('Z').to_string())
        }
        Type::DATE => Value::String(time::Date::from_sql(ty, raw)?.to_string()),
        Type::TIME => {
            let at = time::Time::from_sql(ty, raw)?;
            let text = time::OffsetDateTime::UNIX_EPOCH
                .replace_time(at)
                .format(&Rfc3339)?;
            Value::String(text[11..].trim_end_matches('Z').to_string())
        }
        Type::BYTEA => {
            let hex: String = raw.iter().map(|byte| format!("{byte:02x}")).collect();
            serde_json::json!({ "$blob": hex })
        }
        Type::UUID => Value::String(uuid::Uuid::from_sql(ty, raw)?.to_string()),
        _ => match ty.kind() {
            Kind::Array(_) => Value::Array(
                Vec::<Cell>::from_sql(ty, raw)?
                    .into_iter()
                    .map(|Cell(v)| v)
                    .collect(),
            ),
            Kind::Enum(_) => Value::String(std::str::from_utf8(raw)?.to_string()),
            Kind::Domain(inner) => to_json(inner, raw)?,
            _ => return Err(format!("flux does not turn type {ty} into JSON").into()),
        },
    })
}

/// A finite float as a number; NaN and infinities as null (as on SQLite).
fn float(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// `numeric`'s binary form as its decimal text: base-10000 digits, the first one's weight,
/// a sign and the number of decimals shown.
fn numeric(raw: &[u8]) -> Result<String, BoxError> {
    let word = |i: usize| -> Result<i16, BoxError> {
        raw.get(i * 2..i * 2 + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a truncated numeric".into())
    };
    let count = word(0)?.max(0) as usize;
    let weight = i32::from(word(1)?);
    let sign = word(2)? as u16;
    let scale = word(3)?.max(0) as usize;
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    let digit = |i: i32| -> Result<i16, BoxError> {
        if i < 0 || i as usize >= count {
            Ok(0)
        } else {
            word(4 + i as usize)
        }
    };
    let mut text = String::new();
    if sign == 0x4000 {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        for i in 0..=weight {
            let d = digit(i)?;
            if i == 0 {
                text.push_str(&d.to_string());
            } else {
                text.push_str(&format!("{d:04}"));
            }
        }
    }
    if scale > 0 {
        let mut decimals = String::new();
        let mut i = weight + 1;
        while decimals.len() < scale {
            decimals.push_str(&format!("{:04}", digit(i)?));
            i += 1;
        }
        decimals.truncate(scale);
        text.push('.');
        text.push_str(&decimals);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_word_is_found_past_comments_and_parentheses() {
        assert_eq!(
            first_word("  -- a note\n/* a /* nested */ one */ (SELECT 1)"),
            "SELECT"
        );
        assert_eq!(first_word("set role postgres"), "set");
        assert_eq!(first_word(""), "");
    }

    #[test]
    fn positions_are_lines_and_columns_in_characters() {
        assert_eq!(line_column("SELECT\n  é FRM", 12), (2, 5));
        assert_eq!(line_column("SELECT x", 8), (1, 8));
    }
}
