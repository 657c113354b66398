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

/// Runs one statement and collects its rows. A statement that writes first calls
/// `lock_for_write` and holds what it returns until the statement is done.
pub fn run<G>(
    conn: &Connection,
    sql: &str,
    params: &[Value],
    lock_for_write: impl FnOnce() -> Result<G, SqlError>,
) -> Result<SqlResult, SqlError> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, params)?;
    let _guard = if stmt.readonly() {
        None
    } else {
        Some(lock_for_write()?)
    };
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

    fn no_lock() -> Result<(), SqlError> {
        Ok(())
    }

    #[test]
    fn dollar_parameters_are_positional_whatever_their_order() {
        let conn = Connection::open_in_memory().expect("open");
        let result = run(
            &conn,
            "SELECT $2 AS b, $1 AS a",
            &[json!("first"), json!("second")],
            no_lock,
        )
        .expect("runs");
        assert_eq!(result.rows[0]["a"], "first");
        assert_eq!(result.rows[0]["b"], "second");
    }

    #[test]
    fn parameter_count_mismatches_are_errors() {
        let conn = Connection::open_in_memory().expect("open");
        assert!(run(&conn, "SELECT $1, $2", &[json!(1)], no_lock).is_err());
        assert!(run(&conn, "SELECT $1", &[json!(1), json!(2)], no_lock).is_err());
    }
}
