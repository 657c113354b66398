//! The app's rows on PostgreSQL as `flux state` and `flux why` read them: recorded row
//! changes, the app's tables (from the catalogue), and whether a row exists.

use postgres::error::SqlState;
use postgres::GenericClient;
use serde_json::Value;

use super::super::mutations::{key_forms, object, stored_key};
use super::super::{ChangeFilter, Result, RowChange};
use crate::record::{ForeignKey, TableSchema};

pub(super) fn row_changes(
    client: &mut impl GenericClient,
    filter: &ChangeFilter,
) -> Result<Vec<RowChange>> {
    let (text_key, number_key) = match &filter.row {
        Some(row) => {
            let (a, b) = key_forms(row);
            (Some(a), Some(b))
        }
        None => (None, None),
    };
    // Seq order is commit order (and `ord` the order within a record).
    let order = if filter.oldest_first { "ASC" } else { "DESC" };
    let sql = format!(
        "SELECT m.record_id, r.function, m.tbl, m.pk, m.op, m.before, m.after, m.committed, m.at_us
         FROM _flux_mutations m LEFT JOIN _flux_records r ON r.seq = m.record_seq
         WHERE m.tbl = $1 AND ($2::text IS NULL OR m.pk = $2 OR m.pk = $3)
           AND ($4::text IS NULL OR m.record_id LIKE $4 || '%') AND ($5::bigint IS NULL OR m.at_us >= $5)
           AND ($7::text IS NULL OR (m.committed AND (m.after::jsonb -> $7) = $8::text::jsonb))
           AND ($9::text IS NULL OR r.job_id = $9)
         ORDER BY m.record_seq {order}, m.ord {order} LIMIT $6"
    );
    let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
    let rows = client.query(
        &sql,
        &[
            &filter.table,
            &text_key,
            &number_key,
            &filter.record_prefix,
            &filter.since_us,
            &limit,
            &filter.column_value.as_ref().map(|(c, _)| c.clone()),
            &filter.column_value.as_ref().map(|(_, v)| v.clone()),
            &filter.job,
        ],
    )?;
    Ok(rows
        .into_iter()
        .map(|row| RowChange {
            record_id: row.get(0),
            function: row.get(1),
            table: row.get(2),
            pk: stored_key(row.get(3)),
            op: row.get(4),
            before: object(row.get(5)),
            after: object(row.get(6)),
            committed: row.get(7),
            at_us: row.get(8),
        })
        .collect())
}

/// The app's tables: the current schema's, flux's own (`_flux_*`) left out.
const APP_TABLES: &str = r#"SELECT c.oid, c.relname FROM pg_class c
    WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
    AND c.relname NOT LIKE '\_flux\_%' ORDER BY c.relname COLLATE "C""#;

pub(super) fn table_names(client: &mut impl GenericClient) -> Result<Vec<String>> {
    Ok(client
        .query(APP_TABLES, &[])?
        .into_iter()
        .map(|row| row.get(1))
        .collect())
}

/// Every app table with its columns, keys and foreign keys. PostgreSQL keeps no `CREATE
/// TABLE` text: `sql` is one made from the catalogue (columns, types, NOT NULL and the
/// CHECK constraints by name, which is what `flux why` reads in it).
pub(super) fn tables(client: &mut impl GenericClient) -> Result<Vec<TableSchema>> {
    let named: Vec<(postgres::types::Oid, String)> = client
        .query(APP_TABLES, &[])?
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let mut tables = Vec::with_capacity(named.len());
    for (oid, name) in named {
        let column_rows = client.query(
            "SELECT attname::text, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute
             WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[&oid],
        )?;
        let primary_key = client
            .query(
                "SELECT a.attname::text FROM pg_index i
                 CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(att, n)
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.att
                 WHERE i.indrelid = $1 AND i.indisprimary ORDER BY k.n",
                &[&oid],
            )?
            .into_iter()
            .map(|row| row.get(0))
            .collect();
        let foreign_keys = client
            .query(
                "SELECT a.attname::text, p.relname::text, pa.attname::text FROM pg_constraint c
                 CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(att, patt, n)
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.att
                 JOIN pg_class p ON p.oid = c.confrelid
                 JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.patt
                 WHERE c.conrelid = $1 AND c.contype = 'f' ORDER BY c.conname, k.n",
                &[&oid],
            )?
            .into_iter()
            .map(|row| ForeignKey {
                from: row.get(0),
                table: row.get(1),
                to: row.get(2),
            })
            .collect();
        let checks: Vec<String> = client
            .query(
                "SELECT format('CONSTRAINT %I %s', conname, pg_get_constraintdef(oid))
                 FROM pg_constraint WHERE conrelid = $1 AND contype = 'c' ORDER BY conname",
                &[&oid],
            )?
            .into_iter()
            .map(|row| row.get(0))
            .collect();
        let mut parts: Vec<String> = column_rows
            .iter()
            .map(|row| {
                let (column, kind, not_null): (String, String, bool) =
                    (row.get(0), row.get(1), row.get(2));
                let not_null = if not_null { " NOT NULL" } else { "" };
                format!("{} {kind}{not_null}", quote(&column))
            })
            .collect();
        parts.extend(checks);
        tables.push(TableSchema {
            sql: format!("CREATE TABLE {} ({})", quote(&name), parts.join(", ")),
            name,
            columns: column_rows.iter().map(|row| row.get(0)).collect(),
            primary_key,
            foreign_keys,
        });
    }
    Ok(tables)
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Whether `table` holds a row whose `column` is `value` (false for a table or column that
/// does not exist, and for a value the column's type cannot hold).
pub(super) fn row_exists(
    client: &mut impl GenericClient,
    table: &str,
    column: &str,
    value: &Value,
) -> Result<bool> {
    let kind: Option<String> = client
        .query_opt(
            "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
             JOIN pg_class c ON c.oid = a.attrelid
             WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = $1
             AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped",
            &[&table, &column],
        )?
        .map(|row| row.get(0));
    let Some(kind) = kind else {
        return Ok(false);
    };
    let text = match value {
        Value::Null => return Ok(false),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    // The value cast to the column's type, so the comparison can use the column's index.
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {} WHERE {} = CAST($1::text AS {kind}))",
        quote(table),
        quote(column)
    );
    match client.query_one(&sql, &[&text]) {
        Ok(row) => Ok(row.get(0)),
        Err(error) if is_data_exception(&error) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// A value the type cannot hold (SQLSTATE class 22: `'abc'` as an integer).
fn is_data_exception(error: &postgres::Error) -> bool {
    error
        .code()
        .is_some_and(|code: &SqlState| code.code().starts_with("22"))
}
