//! Running user SQL on SQLite: `$1…$n` bound by number, rows returned as JSON objects
//! (PostgreSQL's runner is `postgres/user_sql.rs`).

use std::ffi::{c_char, c_int};

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::hooks::{AuthContext, Authorization};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{ffi, Connection, Statement};
use serde_json::{Map, Value};

use super::sandbox::{self, Author};
use super::statement::{extra_values, missing_parameter, ONE_STATEMENT, ROW_OVERHEAD};
pub use super::statement::{Limits, SqlError, SqlResult};

fn to_sql(value: &Value) -> SqlValue {
    match value {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        other => SqlValue::Text(other.to_string()),
    }
}

pub fn to_json(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => {
            let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
            serde_json::json!({ "$blob": hex })
        }
    }
}

/// Binds `params` to `stmt`. SQLite numbers `$1`, `$2` by first appearance, so they are
/// bound by name; `?` and `?N` are positional.
fn bind(stmt: &mut Statement<'_>, params: &[Value]) -> Result<(), SqlError> {
    let count = stmt.parameter_count();
    let mut highest = 0;
    for index in 1..=count {
        let position = match stmt.parameter_name(index) {
            None => index,
            Some(name) => {
                let number = name
                    .strip_prefix('$')
                    .or_else(|| name.strip_prefix('?'))
                    .and_then(|n| n.parse::<usize>().ok());
                match number {
                    Some(n) if n >= 1 => n,
                    _ => {
                        return Err(SqlError::Usage(format!(
                        "parameter {name} is not supported: use $1, $2, … with an array of values"
                    )))
                    }
                }
            }
        };
        highest = highest.max(position);
        let value = params
            .get(position - 1)
            .ok_or_else(|| missing_parameter(position, params.len()))?;
        stmt.raw_bind_parameter(index, to_sql(value))?;
    }
    if params.len() > highest {
        return Err(extra_values(params.len(), highest));
    }
    Ok(())
}

/// Appended to user SQL so that its cached statements never share a cache slot with flux's own
/// statements of the same text: those were prepared without the sandbox's authorizer.
const USER_STATEMENT: &str = "\n-- flux: user statement";

/// Whether `sql` only reads (so it may run on any connection). A statement that does not
/// prepare, or is refused, counts as reading: running it reports the error.
/// The app table `table`'s primary key when it is one column.
pub fn single_key(conn: &Connection, table: &str) -> Option<String> {
    let mut stmt = conn
        .prepare_cached("SELECT name FROM pragma_table_info(?1) WHERE pk > 0")
        .ok()?;
    let key: Vec<String> = stmt
        .query_map([table], |row| row.get(0))
        .ok()?
        .collect::<Result<_, _>>()
        .ok()?;
    match <[String; 1]>::try_from(key) {
        Ok([key]) => Some(key),
        Err(_) => None,
    }
}

pub fn is_read_only(conn: &Connection, sql: &str) -> bool {
    let (readonly, _) = sandbox::run_as(Author::Function, None, || {
        conn.prepare_cached(&format!("{sql}{USER_STATEMENT}"))
            .map_or(true, |stmt| stmt.readonly())
    });
    readonly
}

/// Runs one statement of user SQL, within the sandbox and `limits`, and collects its rows.
pub fn run(
    conn: &Connection,
    sql: &str,
    params: &[Value],
    limits: &Limits,
) -> Result<SqlResult, SqlError> {
    let (result, verdict) = sandbox::run_as(Author::Function, Some(limits.stop.clone()), || {
        run_statement(conn, sql, params, limits.max_result_bytes)
    });
    match result {
        Err(SqlError::Sqlite(error)) => Err(if let Some(reason) = verdict.refused {
            SqlError::Refused(reason)
        } else if let Some(stop) = verdict.stopped {
            SqlError::Stopped(stop)
        } else {
            SqlError::Sqlite(error)
        }),
        other => other,
    }
}

/// Runs one statement that stands alone (its execution has no transaction open) in the store
/// thread's shared transaction, as [`run`] does, within a savepoint: a statement that leaves a
/// deferred foreign key unresolved is undone and fails now, as it would at its own commit,
/// rather than failing the shared commit, and with it every other caller's writes in it.
///
/// Only where the schema declares a deferred foreign key ([`DeferredKeys`]): a savepoint
/// journals every page the statement changes, a third of a lone insert's time.
pub fn run_alone(
    conn: &Connection,
    deferred: &mut DeferredKeys,
    sql: &str,
    params: &[Value],
    limits: &Limits,
) -> Result<SqlResult, SqlError> {
    if !deferred.declared(conn) {
        return run(conn, sql, params, limits);
    }
    // Only a key it left unresolved is its own (none should be before it, see `release`).
    let unresolved_before = foreign_keys_unresolved(conn);
    conn.execute_batch("SAVEPOINT flux_statement")?;
    let result = run(conn, sql, params, limits);
    if conn.is_autocommit() {
        // It rolled back the whole transaction (ON CONFLICT ROLLBACK, RAISE(ROLLBACK)), the
        // savepoint with it: the store thread notices.
        return result;
    }
    // A failed statement too may have kept rows (`INSERT OR FAIL`, a `RETURNING` past the
    // result's cap): what it left unresolved goes with it, as its own commit would undo it.
    if !unresolved_before && foreign_keys_unresolved(conn) {
        end_or_undo_all(conn, "ROLLBACK TO flux_statement; RELEASE flux_statement")?;
        return Err(result.err().unwrap_or_else(|| {
            SqlError::Sqlite(rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                Some("FOREIGN KEY constraint failed".into()),
            ))
        }));
    }
    // A failed statement keeps what SQLite keeps of it, as without the savepoint.
    end_or_undo_all(conn, "RELEASE flux_statement")?;
    result
}

/// Ends the statement's savepoint with `end`; should that fail, rolls back the whole
/// transaction rather than leave the savepoint open in it (the store thread then tells every
/// writer in it, as after a statement that rolls back everything).
fn end_or_undo_all(conn: &Connection, end: &str) -> Result<(), SqlError> {
    conn.execute_batch(end).map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        SqlError::from(e)
    })
}

/// Whether the connection's schema declares a deferred foreign key (`DEFERRABLE INITIALLY
/// DEFERRED`, the only kind: user SQL cannot set `defer_foreign_keys`), looked up again when
/// the schema changes. Any table whose SQL says `DEFERRED` counts, and so does a failed lookup.
///
/// Kept by schema version, which an undone shared transaction takes back: a later, different
/// schema can come to the same version, so the store thread forgets it then ([`Self::forget`]).
/// A rolled-back savepoint needs no forgetting: it returns to the schema as it was when the
/// savepoint began, after the lookup (lone statements look it up outside every savepoint).
#[derive(Debug, Default)]
pub struct DeferredKeys {
    /// The schema versions (main, temp) it was looked up at, and what it found.
    known: Option<((i64, i64), bool)>,
}

impl DeferredKeys {
    /// Looked up again at the next statement.
    pub fn forget(&mut self) {
        self.known = None;
    }

    pub fn declared(&mut self, conn: &Connection) -> bool {
        let version = |pragma: &str| -> rusqlite::Result<i64> {
            conn.prepare_cached(pragma)?.query_row([], |row| row.get(0))
        };
        let (Ok(main), Ok(temp)) = (
            version("PRAGMA main.schema_version"),
            version("PRAGMA temp.schema_version"),
        ) else {
            return true;
        };
        let versions = (main, temp);
        if let Some((known, declared)) = self.known {
            if known == versions {
                return declared;
            }
        }
        let declared = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM main.sqlite_schema WHERE sql LIKE '%DEFERRED%')
                     OR EXISTS (SELECT 1 FROM temp.sqlite_schema WHERE sql LIKE '%DEFERRED%')",
                [],
                |row| row.get::<_, bool>(0),
            )
            .unwrap_or(true);
        self.known = Some((versions, declared));
        declared
    }
}

/// Whether the connection's transaction holds a foreign key violation unresolved: a deferred
/// constraint, which SQLite checks only at the outermost COMMIT (`SQLITE_DBSTATUS_DEFERRED_FKS`
/// says whether there is one, not how many).
pub fn foreign_keys_unresolved(conn: &Connection) -> bool {
    let (mut current, mut highwater) = (0, 0);
    // SAFETY: the handle is `conn`'s, open for the call; the out-pointers are live locals.
    let rc = unsafe {
        ffi::sqlite3_db_status(
            conn.handle(),
            ffi::SQLITE_DBSTATUS_DEFERRED_FKS,
            &mut current,
            &mut highwater,
            0,
        )
    };
    rc == ffi::SQLITE_OK && current != 0
}

fn run_statement(
    conn: &Connection,
    sql: &str,
    params: &[Value],
    max_result_bytes: u64,
) -> Result<SqlResult, SqlError> {
    check_single_statement(conn, sql)?;
    let mut stmt = conn.prepare_cached(&format!("{sql}{USER_STATEMENT}"))?;
    bind(&mut stmt, params)?;
    let names: Vec<String> = stmt.column_names().map(String::from).collect();
    let mut rows = Vec::new();
    let mut result_bytes = 0u64;
    {
        let mut cursor = stmt.raw_query();
        while let Some(row) = cursor.next()? {
            let mut object = Map::with_capacity(names.len());
            result_bytes += ROW_OVERHEAD;
            for (i, name) in names.iter().enumerate() {
                let value = row.get_ref(i)?;
                result_bytes += json_weight(name, value);
                object.insert(name.clone(), to_json(value));
            }
            if result_bytes > max_result_bytes {
                return Err(SqlError::TooLarge {
                    max_bytes: max_result_bytes,
                    rows: rows.len() + 1,
                });
            }
            rows.push(object);
        }
    }
    let changes = if stmt.readonly() {
        0
    } else {
        conn.changes() as usize
    };
    Ok(SqlResult { rows, changes })
}

/// About what `name: value` weighs as handed to the function: its JSON, plus the entry that
/// holds it (so that a million tiny rows count for more than their few bytes of JSON).
fn json_weight(name: &str, value: ValueRef<'_>) -> u64 {
    let value = match value {
        ValueRef::Null => 4,
        ValueRef::Integer(_) | ValueRef::Real(_) => 8,
        ValueRef::Text(text) => text.len() + 2,
        ValueRef::Blob(blob) => blob.len() * 2 + 12,
    };
    (name.len() + 16 + value) as u64
}

/// A call runs exactly one statement: a second one is refused before it is prepared (preparing
/// applies some pragmas). SQLite finds where the first statement ends; what follows may only be
/// blanks, comments and `;`.
fn check_single_statement(conn: &Connection, sql: &str) -> Result<(), SqlError> {
    // Statements are separated by `;`: without one before the end there is only one.
    if !sql.trim_end().trim_end_matches(';').contains(';') {
        return Ok(());
    }
    let Some(end) = first_statement_end(conn, sql) else {
        // It does not prepare: preparing it again reports why.
        return Ok(());
    };
    let rest = &sql[end..];
    let more = SCRATCH.with(|scratch| match scratch {
        // Refusing everything, so that preparing `rest` there cannot change a setting either.
        Some(scratch) => !matches!(rusqlite::Batch::new(scratch, rest).next(), Ok(None)),
        None => !rest.trim().trim_matches(';').trim().is_empty(),
    });
    if more {
        return Err(SqlError::Usage(ONE_STATEMENT.into()));
    }
    Ok(())
}

thread_local! {
    /// An empty in-memory database that refuses every statement, used only to tell whether
    /// text holds a statement.
    static SCRATCH: Option<Connection> = {
        Connection::open_in_memory().ok().and_then(|mut conn| {
            conn.authorizer(Some(|_: AuthContext<'_>| Authorization::Deny))
                .ok()
                .map(|()| conn)
        })
    };
}

/// The byte offset where the first statement of `sql` ends, or `None` when it does not prepare.
fn first_statement_end(conn: &Connection, sql: &str) -> Option<usize> {
    let length = c_int::try_from(sql.len()).ok()?;
    let start = sql.as_ptr().cast::<c_char>();
    let mut stmt = std::ptr::null_mut();
    let mut tail: *const c_char = std::ptr::null();
    // SAFETY: `sql` outlives the call, `length` is its length, and the statement is finalized
    // before returning; `tail` points into `sql` or is null.
    let rc = unsafe {
        let rc = ffi::sqlite3_prepare_v3(conn.handle(), start, length, 0, &mut stmt, &mut tail);
        ffi::sqlite3_finalize(stmt);
        rc
    };
    if rc != ffi::SQLITE_OK || stmt.is_null() {
        return None;
    }
    if tail.is_null() {
        return Some(sql.len());
    }
    let end = (tail as usize).checked_sub(start as usize)?;
    (end <= sql.len() && sql.is_char_boundary(end)).then_some(end)
}

/// `"name"` with embedded quotes doubled.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::sandbox::Stop;
    use serde_json::json;

    fn sandboxed() -> Connection {
        let mut conn = Connection::open_in_memory().expect("open");
        sandbox::install(&mut conn).expect("sandbox");
        conn.execute_batch("CREATE TABLE t (x)").expect("schema");
        conn
    }

    fn limits() -> Limits {
        Limits {
            stop: Arc::new(|| None),
            deadline_ns: 0,
            max_result_bytes: 64 << 20,
            flushed_by_record: false,
        }
    }

    fn run_sql(conn: &Connection, sql: &str) -> Result<SqlResult, SqlError> {
        run(conn, sql, &[], &limits())
    }

    #[test]
    fn a_deferred_foreign_key_is_seen_once_the_schema_declares_one() {
        let conn = sandboxed();
        let mut deferred = DeferredKeys::default();
        assert!(!deferred.declared(&conn));
        conn.execute_batch("CREATE TABLE parent (id TEXT PRIMARY KEY)")
            .expect("parent");
        assert!(!deferred.declared(&conn));
        conn.execute_batch(
            "CREATE TEMP TABLE child (id TEXT, parent TEXT REFERENCES parent(id)
               DEFERRABLE   initially
               deferred)",
        )
        .expect("temporary child");
        assert!(deferred.declared(&conn), "a temporary table's counts too");
        conn.execute_batch("DROP TABLE temp.child").expect("drop");
        assert!(!deferred.declared(&conn));
        conn.execute_batch(
            "CREATE TABLE child (id TEXT, parent TEXT REFERENCES parent(id)
               DEFERRABLE INITIALLY DEFERRED)",
        )
        .expect("child");
        assert!(deferred.declared(&conn));
    }

    #[test]
    fn dollar_parameters_are_positional_whatever_their_order() {
        let conn = sandboxed();
        let result = run(
            &conn,
            "SELECT $2 AS b, $1 AS a",
            &[json!("first"), json!("second")],
            &limits(),
        )
        .expect("runs");
        assert_eq!(result.rows[0]["a"], "first");
        assert_eq!(result.rows[0]["b"], "second");
    }

    #[test]
    fn parameter_count_mismatches_are_errors() {
        let conn = sandboxed();
        assert!(run(&conn, "SELECT $1, $2", &[json!(1)], &limits()).is_err());
        assert!(run(&conn, "SELECT $1", &[json!(1), json!(2)], &limits()).is_err());
    }

    #[test]
    fn transaction_statements_are_refused_and_count_as_reads() {
        let conn = sandboxed();
        for sql in [
            "BEGIN",
            "  commit;",
            "End",
            "ROLLBACK TO x",
            "savepoint a",
            "RELEASE a",
            "-- note\n /* more */ COMMIT",
            " ; ROLLBACK",
            ";COMMIT",
        ] {
            let error = run_sql(&conn, sql).err().map(|e| e.to_string());
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.contains("ctx.db.transaction")),
                "{sql}: {error:?}"
            );
            assert!(is_read_only(&conn, sql), "{sql}");
        }
        for sql in ["PRAGMA query_only = ON", "pragma main.foreign_keys=off"] {
            assert!(
                matches!(run_sql(&conn, sql), Err(SqlError::Refused(_))),
                "{sql}"
            );
            assert!(is_read_only(&conn, sql), "{sql}");
        }
        assert!(is_read_only(&conn, "SELECT * FROM t"));
        assert!(!is_read_only(&conn, "INSERT INTO t VALUES (1)"));
        assert!(run_sql(&conn, "SELECT 1 AS beginning").is_ok());
        assert!(run_sql(&conn, "PRAGMA table_info(t)").is_ok());
    }

    #[test]
    fn one_statement_per_call_whatever_follows_it() {
        let conn = sandboxed();
        for sql in [
            "SELECT 1",
            "SELECT 1;",
            "SELECT 1 ;; ; ",
            "SELECT 1; -- a note",
            "SELECT 1; /* a ; note */ ;",
            "SELECT ';' AS semicolon",
            "SELECT 'a;b'; -- 'c;d'",
            "SELECT \"x;y\" FROM (SELECT 1 AS \"x;y\");",
            "-- leading note; with a semicolon\nSELECT 1",
            "CREATE TRIGGER t_one AFTER INSERT ON t BEGIN SELECT 1; SELECT 2; END;",
        ] {
            run_sql(&conn, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        for sql in [
            "SELECT 1; SELECT 2",
            "SELECT 1; PRAGMA query_only = 1",
            "SELECT ';'; INSERT INTO t VALUES (1)",
            "SELECT 1 -- note\n; DELETE FROM t",
            "SELECT 1; /* note */ SELECT 2;",
            "SELECT 1; garbage that does not parse",
        ] {
            let error = run_sql(&conn, sql).err().map(|e| e.to_string());
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.contains("one SQL statement")),
                "{sql}: {error:?}"
            );
        }
        let count: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .expect("count");
        assert_eq!(count, 0, "nothing after the first statement ran");
        let query_only: i64 = conn
            .query_row("PRAGMA query_only", [], |row| row.get(0))
            .expect("pragma");
        assert_eq!(query_only, 0, "the second statement was not even prepared");
    }

    #[test]
    fn a_result_past_the_cap_is_an_error_naming_it() {
        let conn = sandboxed();
        let small = Limits {
            max_result_bytes: 4096,
            ..limits()
        };
        let many = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100000) \
                    SELECT x, 'some text' AS label FROM c";
        let error = run(&conn, many, &[], &small).err().map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("db.maxResultSize (4.0 KiB)") && e.contains("LIMIT")),
            "{error:?}"
        );
        let few = run(&conn, "SELECT 1 AS x", &[], &small).expect("a small result");
        assert_eq!(few.rows.len(), 1);
    }

    #[test]
    fn a_statement_past_its_deadline_is_interrupted() {
        let conn = sandboxed();
        let expired = Limits {
            stop: Arc::new(|| Some(Stop::Deadline)),
            ..limits()
        };
        let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                       SELECT count(*) FROM c";
        let error = run(&conn, endless, &[], &expired).err();
        assert!(
            matches!(error, Some(SqlError::Stopped(Stop::Deadline))),
            "{error:?}"
        );
    }
}
