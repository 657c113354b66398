//! Full-text search over records (`GET /_flux/api/records?q=`, `/_flux/api/dead-letter?q=`):
//! an FTS5 table holding, per record, its input (headers left out), its error and uncaught
//! errors, and its console lines. The trigram tokenizer makes a search a case-insensitive
//! substring match, as a search box is expected to behave (`lice@exam` finds
//! `alice@example.com`); it cannot match fewer than 3 characters. The table is contentless
//! (the text is in the record already) and keyed by the record's `seq`: rows are written with
//! their records (`records::insert_writes`) and deleted with them (`retention`).

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::Result;
use crate::record::ExecutionRecord;

pub const SCHEMA: &str = "CREATE VIRTUAL TABLE IF NOT EXISTS _flux_search USING fts5(
    text, content = '', contentless_delete = 1, tokenize = 'trigram'
);";

/// The shortest search the trigram index can answer.
pub const MIN_QUERY_CHARS: usize = 3;

/// Text indexed per record at most: a record's input may be megabytes, and its start is
/// what people search for.
const MAX_TEXT_BYTES: usize = 32 * 1024;

/// What a search of `record` looks through, one part per line.
pub fn text(record: &ExecutionRecord) -> String {
    let mut text = String::new();
    let mut add = |part: &str| {
        if !part.is_empty() && text.len() < MAX_TEXT_BYTES {
            text.push_str(part);
            text.push('\n');
        }
    };
    if let Some(path) = &record.path {
        add(path);
    }
    match &record.input {
        // Headers are the same on every request and carry no search-worthy text.
        Value::Object(input) => {
            for (key, value) in input {
                if key != "headers" {
                    add(&plain(value));
                }
            }
        }
        other => add(&plain(other)),
    }
    if let Some(error) = &record.error {
        add(&format!("{}: {}", error.name, error.message));
    }
    for uncaught in &record.uncaught {
        add(&format!(
            "{}: {}",
            uncaught.error.name, uncaught.error.message
        ));
    }
    for line in &record.console {
        add(&line.message);
    }
    if text.len() > MAX_TEXT_BYTES {
        let mut end = MAX_TEXT_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// A string as itself, anything else as JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Why a search cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("a search needs at least {MIN_QUERY_CHARS} characters")]
    TooShort,
}

/// The FTS5 query that finds `q` as a substring: one quoted phrase, so that no character of
/// it is read as query syntax.
pub fn match_expr(q: &str) -> Result<String, SearchError> {
    if q.trim().chars().count() < MIN_QUERY_CHARS {
        return Err(SearchError::TooShort);
    }
    Ok(format!("\"{}\"", q.replace('"', "\"\"")))
}

/// Indexes one record's text under its `seq`, in the caller's transaction.
pub fn index(conn: &Connection, seq: i64, text: &str) -> Result<()> {
    conn.prepare_cached("INSERT INTO _flux_search (rowid, text) VALUES (?1, ?2)")?
        .execute(params![seq, text])?;
    Ok(())
}

/// Whether the store has its search table (a store made by an older flux has not).
pub fn exists(conn: &Connection) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM sqlite_schema WHERE name = '_flux_search'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Indexes every record a store made before it had search, a chunk per transaction.
pub fn backfill(conn: &Connection) -> Result<u64> {
    let mut after = 0i64;
    let mut indexed = 0;
    loop {
        let tx = conn.unchecked_transaction()?;
        let rows: Vec<(i64, String)> = tx
            .prepare_cached(
                "SELECT seq, body FROM _flux_records WHERE seq > ?1 ORDER BY seq LIMIT 500",
            )?
            .query_map([after], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (seq, body) in &rows {
            after = *seq;
            // A record this flux cannot read stays out of search rather than stopping the start.
            if let Ok(record) = ExecutionRecord::from_json(body) {
                index(&tx, *seq, &text(&record))?;
                indexed += 1;
            }
        }
        tx.commit()?;
        if rows.len() < 500 {
            return Ok(indexed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_one_phrase_whatever_it_holds() {
        assert_eq!(match_expr("a\"b OR c").as_deref(), Ok("\"a\"\"b OR c\""));
        assert_eq!(match_expr(" ab "), Err(SearchError::TooShort));
    }

    #[test]
    fn substrings_match_case_insensitively_and_deleted_rows_are_gone() {
        let conn = Connection::open_in_memory().expect("db");
        conn.execute_batch(SCHEMA).expect("schema");
        index(&conn, 1, "alice@example.com\nwelcome mail failed").expect("index");
        index(&conn, 2, "bob@example.com").expect("index");
        let find = |q: &str| -> Vec<i64> {
            conn.prepare(
                "SELECT rowid FROM _flux_search WHERE _flux_search MATCH ?1 ORDER BY rowid",
            )
            .expect("prepare")
            .query_map([match_expr(q).expect("query")], |row| row.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
        };
        assert_eq!(find("LICE@exam"), [1]);
        assert_eq!(find("example.com"), [1, 2]);
        assert_eq!(find("mail fail"), [1]);
        assert_eq!(find("\" OR \""), Vec::<i64>::new());
        conn.execute("DELETE FROM _flux_search WHERE rowid = 1", [])
            .expect("delete");
        assert_eq!(find("example.com"), [2]);
    }
}
