//! Running user SQL: `$1…$n` bound by number, rows returned as JSON objects.

use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, Statement};
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Usage(String),
}

pub struct SqlResult {
    pub rows: Vec<Map<String, Value>>,
    pub changes: usize,
}

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
        let value = params.get(position - 1).ok_or_else(|| {
            SqlError::Usage(format!(
                "the SQL uses parameter ${position} but {} value{} given",
                params.len(),
                if params.len() == 1 { " was" } else { "s were" }
            ))
        })?;
        stmt.raw_bind_parameter(index, to_sql(value))?;
    }
    if params.len() > highest {
        return Err(SqlError::Usage(format!(
            "{} values were given but the SQL uses {highest} parameter{}",
            params.len(),
            if highest == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}

/// Statements that would end or nest the store's transaction: executions get
/// `ctx.db.transaction` instead.
const TRANSACTION_CONTROL: [&str; 6] =
    ["BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"];

/// Pragmas that only describe the schema; any other pragma could change how the store's
/// connection behaves (`query_only`, `foreign_keys`, `journal_mode` …) and is refused.
const READ_PRAGMAS: [&str; 6] = [
    "table_info",
    "table_xinfo",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
];

/// Why `sql` may not run, if it may not: it would end or nest the store's transaction, or
/// change the connection's settings.
fn refusal(sql: &str) -> Option<&'static str> {
    if is_transaction_control(sql) {
        return Some(
            "transactions are not controlled with SQL here: use ctx.db.transaction(async (tx) => …)",
        );
    }
    let rest = skip_comments(sql);
    let is_pragma = rest
        .get(..6)
        .is_some_and(|head| head.eq_ignore_ascii_case("pragma"));
    if is_pragma {
        let name: String = rest[6..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            .collect::<String>()
            .to_ascii_lowercase();
        let name = name.rsplit('.').next().unwrap_or("");
        if !READ_PRAGMAS.contains(&name) {
            return Some(
                "only schema pragmas (table_info, index_list, …) run here: the store's settings are flux's",
            );
        }
    }
    None
}

fn is_transaction_control(sql: &str) -> bool {
    let first = skip_comments(sql)
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("");
    TRANSACTION_CONTROL
        .iter()
        .any(|keyword| first.eq_ignore_ascii_case(keyword))
}

/// `sql` from its first token: leading blanks and comments skipped.
fn skip_comments(mut sql: &str) -> &str {
    loop {
        sql = sql.trim_start_matches(|c: char| c.is_whitespace() || c == ';');
        if let Some(rest) = sql.strip_prefix("--") {
            sql = rest.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(rest) = sql.strip_prefix("/*") {
            sql = rest.split_once("*/").map_or("", |(_, after)| after);
        } else {
            return sql;
        }
    }
}

/// Whether `sql` only reads (so it may run on any connection). A statement that does not
/// prepare counts as reading: running it reports the error.
pub fn is_read_only(conn: &Connection, sql: &str) -> bool {
    if refusal(sql).is_some() {
        return true;
    }
    conn.prepare_cached(sql)
        .map_or(true, |stmt| stmt.readonly())
}

/// Runs one statement and collects its rows.
pub fn run(conn: &Connection, sql: &str, params: &[Value]) -> Result<SqlResult, SqlError> {
    if let Some(reason) = refusal(sql) {
        return Err(SqlError::Usage(reason.into()));
    }
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, params)?;
    let names: Vec<String> = stmt.column_names().map(String::from).collect();
    let mut rows = Vec::new();
    {
        let mut cursor = stmt.raw_query();
        while let Some(row) = cursor.next()? {
            let mut object = Map::with_capacity(names.len());
            for (i, name) in names.iter().enumerate() {
                object.insert(name.clone(), to_json(row.get_ref(i)?));
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

/// `"name"` with embedded quotes doubled.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dollar_parameters_are_positional_whatever_their_order() {
        let conn = Connection::open_in_memory().expect("open");
        let result = run(
            &conn,
            "SELECT $2 AS b, $1 AS a",
            &[json!("first"), json!("second")],
        )
        .expect("runs");
        assert_eq!(result.rows[0]["a"], "first");
        assert_eq!(result.rows[0]["b"], "second");
    }

    #[test]
    fn parameter_count_mismatches_are_errors() {
        let conn = Connection::open_in_memory().expect("open");
        assert!(run(&conn, "SELECT $1, $2", &[json!(1)]).is_err());
        assert!(run(&conn, "SELECT $1", &[json!(1), json!(2)]).is_err());
    }

    #[test]
    fn transaction_statements_are_refused_and_count_as_reads() {
        let conn = Connection::open_in_memory().expect("open");
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
            "PRAGMA query_only = ON",
            "pragma main.foreign_keys=off",
        ] {
            assert!(run(&conn, sql, &[]).is_err(), "{sql}");
            assert!(is_read_only(&conn, sql), "{sql}");
        }
        conn.execute_batch("CREATE TABLE t (x)").expect("schema");
        assert!(is_read_only(&conn, "SELECT * FROM t"));
        assert!(!is_read_only(&conn, "INSERT INTO t VALUES (1)"));
        assert!(run(&conn, "SELECT 1 AS beginning", &[]).is_ok());
        assert!(run(&conn, "PRAGMA table_info(t)", &[]).is_ok());
    }
}
