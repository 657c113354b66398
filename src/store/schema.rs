//! The app's tables and rows, read for `flux why`: what the schema declares, and whether a
//! row a failed statement needed exists.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::Result;
use crate::record::{ForeignKey, TableSchema};

/// The app's tables in `sqlite_schema`: SQLite's own and flux's (`_flux_*`) left out.
const APP_TABLES: &str = r"type = 'table' AND name NOT LIKE '\_flux\_%' ESCAPE '\'
    AND name NOT LIKE 'sqlite\_%' ESCAPE '\'";

/// The app's tables by name, for completions: cheap, no per-table pragmas.
pub(super) fn table_names(conn: &Connection) -> Result<Vec<String>> {
    let names = conn
        .prepare_cached(&format!(
            "SELECT name FROM sqlite_schema WHERE {APP_TABLES} ORDER BY name"
        ))?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(names)
}

/// Every app table with its columns, keys and foreign keys, by name.
pub(super) fn tables(conn: &Connection) -> Result<Vec<TableSchema>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT name, coalesce(sql, '') FROM sqlite_schema WHERE {APP_TABLES} ORDER BY name"
    ))?;
    let named = stmt
        .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<Vec<(String, String)>>>()?;
    let mut tables = Vec::with_capacity(named.len());
    for (name, sql) in named {
        let mut columns: Vec<(String, i64)> = conn
            .prepare("SELECT name, pk FROM pragma_table_info(?1) ORDER BY cid")?
            .query_map([&name], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut primary_key: Vec<(String, i64)> =
            columns.iter().filter(|(_, pk)| *pk > 0).cloned().collect();
        primary_key.sort_by_key(|(_, pk)| *pk);
        let foreign_keys = conn
            .prepare(
                r#"SELECT "from", "table", "to" FROM pragma_foreign_key_list(?1) ORDER BY id, seq"#,
            )?
            .query_map([&name], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<String>>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let foreign_keys = foreign_keys
            .into_iter()
            .map(|(from, table, to)| {
                // A reference without a column names the parent's primary key.
                let to = match to {
                    Some(to) => to,
                    None => parent_key(conn, &table).unwrap_or_else(|| "rowid".into()),
                };
                ForeignKey { from, table, to }
            })
            .collect();
        tables.push(TableSchema {
            name,
            sql,
            columns: columns.drain(..).map(|(c, _)| c).collect(),
            primary_key: primary_key.into_iter().map(|(c, _)| c).collect(),
            foreign_keys,
        });
    }
    Ok(tables)
}

fn parent_key(conn: &Connection, table: &str) -> Option<String> {
    conn.query_row(
        "SELECT name FROM pragma_table_info(?1) WHERE pk = 1",
        [table],
        |row| row.get(0),
    )
    .optional()
    .ok()
    .flatten()
}

/// Whether `table` holds a row whose `column` is `value` (false for a table or column that
/// does not exist).
pub(super) fn row_exists(
    conn: &Connection,
    table: &str,
    column: &str,
    value: &Value,
) -> Result<bool> {
    let known = tables(conn)?
        .into_iter()
        .any(|t| t.name == table && (t.columns.iter().any(|c| c == column) || column == "rowid"));
    if !known {
        return Ok(false);
    }
    let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {} WHERE {} = ?1)",
        quote(table),
        quote(column)
    );
    let value = match value {
        Value::String(s) => rusqlite::types::Value::Text(s.clone()),
        Value::Number(n) => match n.as_i64() {
            Some(i) => rusqlite::types::Value::Integer(i),
            None => rusqlite::types::Value::Real(n.as_f64().unwrap_or(0.0)),
        },
        Value::Bool(b) => rusqlite::types::Value::Integer(i64::from(*b)),
        Value::Null => return Ok(false),
        other => rusqlite::types::Value::Text(other.to_string()),
    };
    Ok(conn.query_row(&sql, params![value], |row| row.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_name_their_keys_and_references() {
        let conn = Connection::open_in_memory().expect("db");
        conn.execute_batch(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             CREATE TABLE orders (id TEXT PRIMARY KEY, user_id INTEGER REFERENCES users);
             CREATE TABLE _flux_records (x);
             INSERT INTO users VALUES (5, 'Ada');",
        )
        .expect("schema");
        let tables = tables(&conn).expect("tables");
        assert_eq!(
            tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["orders", "users"]
        );
        assert_eq!(
            tables[0].foreign_keys,
            [ForeignKey {
                from: "user_id".into(),
                table: "users".into(),
                to: "id".into()
            }]
        );
        assert_eq!(tables[1].primary_key, ["id"]);
        assert!(row_exists(&conn, "users", "id", &json!(5)).expect("read"));
        assert!(!row_exists(&conn, "users", "id", &json!(6)).expect("read"));
        assert!(!row_exists(&conn, "nope", "id", &json!(5)).expect("read"));
    }
}
