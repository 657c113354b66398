//! Reading row changes back: `flux state history` and `flux state blame`.

use rusqlite::{params, Connection};
use serde_json::{Map, Value};

use super::Result;
pub use crate::record::{Blame, RowChange};

/// Which changes to read.
#[derive(Debug, Default, Clone)]
pub struct ChangeFilter {
    pub table: String,
    /// The row's primary key as the user typed it.
    pub row: Option<String>,
    /// Only changes made by executions whose id starts with this.
    pub record_prefix: Option<String>,
    /// Only changes made by the attempts of this job (its full id).
    pub job: Option<String>,
    pub since_us: Option<i64>,
    pub limit: usize,
    pub oldest_first: bool,
    /// Only committed changes that left this column with this value (JSON text).
    pub column_value: Option<(String, String)>,
}

/// The stored forms a typed key can have: `u_1` is stored as `"u_1"`, `42` as `42`.
pub(super) fn key_forms(row: &str) -> (String, String) {
    let text = Value::String(row.to_string()).to_string();
    let number = row
        .parse::<f64>()
        .map_or_else(|_| text.clone(), |_| row.to_string());
    (text, number)
}

/// A recorded change's row key as stored: its JSON (`"u_1"`, `42`), else the text itself.
pub(super) fn stored_key(pk: String) -> Value {
    serde_json::from_str(&pk).unwrap_or(Value::String(pk))
}

pub(super) fn object(text: Option<String>) -> Option<Map<String, Value>> {
    text.and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v.as_object().cloned())
}

pub(super) fn row_changes(conn: &Connection, filter: &ChangeFilter) -> Result<Vec<RowChange>> {
    let (text_key, number_key) = match &filter.row {
        Some(row) => {
            let (a, b) = key_forms(row);
            (Some(a), Some(b))
        }
        None => (None, None),
    };
    let order = if filter.oldest_first { "ASC" } else { "DESC" };
    let sql = format!(
        "SELECT m.record_id, r.function, m.tbl, m.pk, m.op, m.before, m.after, m.committed, m.at_us
         FROM _flux_mutations m LEFT JOIN _flux_records r ON r.seq = m.record_seq
         WHERE m.tbl = ?1 AND (?2 IS NULL OR m.pk = ?2 OR m.pk = ?3)
           AND (?4 IS NULL OR m.record_id LIKE ?4 || '%') AND (?5 IS NULL OR m.at_us >= ?5)
           AND (?7 IS NULL OR (m.committed = 1 AND json_extract(m.after, '$.' || ?7) = json_extract(?8, '$')))
           AND (?9 IS NULL OR r.job_id = ?9)
         ORDER BY m.seq {order} LIMIT ?6"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(
        params![
            filter.table,
            text_key,
            number_key,
            filter.record_prefix,
            filter.since_us,
            filter.limit as i64,
            filter.column_value.as_ref().map(|(c, _)| c.clone()),
            filter.column_value.as_ref().map(|(_, v)| v.clone()),
            filter.job
        ],
        |row| {
            Ok(RowChange {
                record_id: row.get(0)?,
                function: row.get(1)?,
                table: row.get(2)?,
                pk: stored_key(row.get(3)?),
                op: row.get(4)?,
                before: object(row.get(5)?),
                after: object(row.get(6)?),
                committed: row.get(7)?,
                at_us: row.get(8)?,
            })
        },
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// `changes` oldest first; `None` when the row does not exist (never inserted, or deleted).
pub fn blame(changes: &[RowChange]) -> Option<Vec<Blame>> {
    let mut columns: Vec<Blame> = Vec::new();
    let mut exists = false;
    for change in changes.iter().filter(|c| c.committed) {
        let Some(after) = &change.after else {
            exists = false;
            columns.clear();
            continue;
        };
        exists = true;
        for (column, value) in after {
            let changed = change.before.as_ref().and_then(|b| b.get(column)) != Some(value)
                || change.op == "insert";
            let entry = columns.iter_mut().find(|b| &b.column == column);
            match entry {
                Some(entry) if !changed => entry.value = value.clone(),
                Some(entry) => {
                    *entry = Blame {
                        column: column.clone(),
                        value: value.clone(),
                        record_id: change.record_id.clone(),
                        function: change.function.clone(),
                        at_us: change.at_us,
                    }
                }
                None => columns.push(Blame {
                    column: column.clone(),
                    value: value.clone(),
                    record_id: change.record_id.clone(),
                    function: change.function.clone(),
                    at_us: change.at_us,
                }),
            }
        }
    }
    exists.then_some(columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(record: &str, op: &str, before: Value, after: Value) -> RowChange {
        RowChange {
            record_id: record.into(),
            function: Some("f".into()),
            table: "users".into(),
            pk: json!("u_1"),
            op: op.into(),
            before: before.as_object().cloned(),
            after: after.as_object().cloned(),
            committed: true,
            at_us: 0,
        }
    }

    #[test]
    fn blame_names_the_change_that_set_each_current_value() {
        let changes = [
            change(
                "a",
                "insert",
                Value::Null,
                json!({ "id": "u_1", "email": "x", "name": null }),
            ),
            change(
                "b",
                "update",
                json!({ "id": "u_1", "email": "x", "name": null }),
                json!({ "id": "u_1", "email": "x", "name": "Ada" }),
            ),
        ];
        let blame = blame(&changes).expect("the row exists");
        let by = |column: &str| {
            blame
                .iter()
                .find(|b| b.column == column)
                .map(|b| b.record_id.as_str())
        };
        assert_eq!((by("email"), by("name")), (Some("a"), Some("b")));
        let deleted = [
            changes[0].clone(),
            change("c", "delete", json!({ "id": "u_1" }), Value::Null),
        ];
        assert_eq!(super::blame(&deleted), None);
    }
}
