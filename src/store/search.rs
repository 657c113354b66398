//! Full-text search over records (`GET /_flux/api/records?q=`, `/_flux/api/dead-letter?q=`):
//! an FTS5 table holding, per record, its input (a request's path, query and body; a job's
//! data), its error and uncaught errors, and its console lines. The trigram tokenizer makes a
//! search a case-insensitive substring match, as a search box is expected to behave (`lice@exam` finds
//! `alice@example.com`); it cannot match fewer than 3 characters. The table is contentless
//! (the text is in the record already) and keyed by the record's `seq`; rows are deleted with
//! their records (`retention`). A search of 1 or 2 characters is answered without the index:
//! the newest records are looked through, at most [`SCAN_ROWS`] of them per call
//! ([`Query::matches_body`]).
//!
//! Rows are written a little after their records: each commit of FTS5 rows writes a new
//! segment of the index, which cost a trickle of one record per commit about 0.5 ms at p99
//! of enqueue→start. So the store thread keeps the text of the records it committed and
//! writes them in bulk with a later commit, at most [`INDEX_AFTER`] later, noting how far it
//! got in `_flux_search_progress`; a start after a crash indexes what that note does not
//! cover ([`catch_up`]), so no record stays out of search.

use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::Result;
use crate::record::{ExecutionRecord, Kind};

pub const SCHEMA: &str = "CREATE VIRTUAL TABLE IF NOT EXISTS _flux_search USING fts5(
    text, content = '', contentless_delete = 1, tokenize = 'trigram'
);
CREATE TABLE IF NOT EXISTS _flux_search_progress (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    indexed_through INTEGER NOT NULL
);";

/// The longest a committed record waits to be searchable.
pub const INDEX_AFTER: std::time::Duration = std::time::Duration::from_millis(200);

/// Records' texts waiting to be indexed: past this many, they go with the next commit.
pub const INDEX_AT: usize = 2_048;

/// The shortest search the trigram index can answer.
pub const MIN_QUERY_CHARS: usize = 3;

/// Records a shorter search looks through per call (a page of records, the dead-letter
/// list): a bound on its time whatever it matches (12-35 ms for 10,000 records, 160 ms for
/// 10,000 dead jobs, each looked up: bench/dashboard_api.sh).
pub const SCAN_ROWS: usize = 10_000;

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
    match (record.kind, &record.input) {
        // A job's input is the job object: only its data were written by the app (the rest,
        // ids and counts, would match every job).
        (Kind::Job, Value::Object(input)) => {
            if let Some(data) = input.get("data") {
                add(&plain(data));
            }
        }
        // Headers are the same on every request and carry no search-worthy text.
        (_, Value::Object(input)) => {
            for (key, value) in input {
                if key != "headers" {
                    add(&plain(value));
                }
            }
        }
        (_, other) => add(&plain(other)),
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

/// A string as itself, anything else as JSON; nothing for nothing (null, `{}`, `[]`).
fn plain(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Object(o) if o.is_empty() => String::new(),
        Value::Array(a) if a.is_empty() => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Why a search cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("a search needs a character besides blanks")]
    Blank,
}

/// A text search, checked once where it is read (an API parameter or body): a character
/// besides blanks at least. The store's searches take only this, so none of them meets a
/// query it cannot run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Query(String);

impl Query {
    pub fn parse(q: &str) -> Result<Query, SearchError> {
        if q.trim().is_empty() {
            return Err(SearchError::Blank);
        }
        Ok(Query(q.to_string()))
    }

    /// The text as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the trigram index answers it; a shorter query is matched by
    /// [`Query::matches_body`] on the stored records, newest first.
    pub fn indexed(&self) -> bool {
        self.0.chars().count() >= MIN_QUERY_CHARS
    }

    /// Whether the record stored as `body` (its JSON) matches, as the index would say: its
    /// [`text`] contains the query, case-insensitively. Most records are refused from the JSON
    /// text alone, unparsed: the query's characters appear in it as they are in the search
    /// text unless the query has a character JSON escapes, or `:` (an error's text is `name:
    /// message`, two JSON strings in the body), or one whose case ASCII does not fold.
    pub fn matches_body(&self, body: &str) -> bool {
        let q = self.0.to_lowercase();
        let plain = self
            .0
            .chars()
            .all(|c| c.is_ascii() && !c.is_ascii_control() && !matches!(c, '"' | '\\' | ':'));
        if plain && !contains_ignoring_ascii_case(body, &q) {
            return false;
        }
        ExecutionRecord::from_json(body)
            .is_ok_and(|record| text(&record).to_lowercase().contains(&q))
    }

    /// The LIKE pattern that finds it as a substring (`\\` escapes), for PostgreSQL's
    /// trigram index.
    pub fn like_pattern(&self) -> String {
        let escaped = self
            .0
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    }

    /// The FTS5 query that finds it as a substring: one quoted phrase, so that no character
    /// of it is read as query syntax.
    pub fn match_expr(&self) -> String {
        format!("\"{}\"", self.0.replace('"', "\"\""))
    }
}

/// Whether `haystack` contains `needle` (lowercase ASCII) in any ASCII case.
fn contains_ignoring_ascii_case(haystack: &str, needle: &str) -> bool {
    let needle = needle.as_bytes();
    needle.is_empty()
        || haystack
            .as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

impl TryFrom<String> for Query {
    type Error = SearchError;

    fn try_from(q: String) -> Result<Query, SearchError> {
        Query::parse(&q)
    }
}

impl From<Query> for String {
    fn from(q: Query) -> String {
        q.0
    }
}

/// Indexes one record's text under its `seq`, in the caller's transaction (again: the row is
/// replaced). A record with no text (a job without data that logged nothing and succeeded)
/// gets no row: it matches no search anyway.
pub fn index(conn: &Connection, seq: i64, text: &str) -> Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    conn.prepare_cached("INSERT OR REPLACE INTO _flux_search (rowid, text) VALUES (?1, ?2)")?
        .execute(params![seq, text])?;
    Ok(())
}

/// Indexes texts of records committed earlier (`(seq, text)`, in commit order), those still
/// stored (retention may have pruned one meanwhile), and notes how far indexing got.
pub fn index_later(conn: &Connection, texts: &[(i64, Arc<str>)]) -> Result<()> {
    let Some((last, _)) = texts.last() else {
        return Ok(());
    };
    let mut stored =
        conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM _flux_records WHERE seq = ?1)")?;
    for (seq, text) in texts {
        if stored.query_row([seq], |row| row.get::<_, bool>(0))? {
            index(conn, *seq, text)?;
        }
    }
    note_progress(conn, *last)
}

fn note_progress(conn: &Connection, seq: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO _flux_search_progress (id, indexed_through) VALUES (0, ?1)
         ON CONFLICT (id) DO UPDATE SET indexed_through = max(indexed_through, excluded.indexed_through)",
    )?
    .execute([seq])?;
    Ok(())
}

/// Indexes every record past the progress note, a chunk per transaction: those of a store
/// made before records were searchable, and those whose texts a stopped or killed `flux dev`
/// had not indexed yet. Returns how many it indexed.
pub fn catch_up(conn: &Connection) -> Result<u64> {
    let mut after: i64 = conn
        .query_row(
            "SELECT indexed_through FROM _flux_search_progress WHERE id = 0",
            [],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(0);
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
        if let Some((last, _)) = rows.last() {
            note_progress(&tx, *last)?;
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
        let expr = |q: &str| Query::parse(q).map(|q| q.match_expr());
        assert_eq!(expr("a\"b OR c").as_deref(), Ok("\"a\"\"b OR c\""));
        assert_eq!(expr("  "), Err(SearchError::Blank));
        assert!(!Query::parse("ab").expect("query").indexed());
        assert!(Query::parse("abc").expect("query").indexed());
    }

    #[test]
    fn a_short_query_matches_a_records_text_not_its_json() {
        let body = r#"{"id":"00000000000000000000000000000001","kind":"http","function":"f","status":"error",
            "started_at_us":1,"duration_us":1,"input":{"body":{"name":"Éva \"E\""}},"code_version":"",
            "error":{"name":"TypeError","message":"x"}}"#;
        let matches = |q: &str| Query::parse(q).expect("query").matches_body(body);
        assert!(matches("év"), "non-ASCII case folds");
        assert!(matches("r:"), "an error is `name: message`");
        assert!(matches("\"e"), "a quote, escaped in the JSON");
        assert!(matches("Ty"));
        assert!(!matches("us"), "in started_at_us, not in the text");
        assert!(!matches("zz"));
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
            .query_map([Query::parse(q).expect("query").match_expr()], |row| {
                row.get(0)
            })
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

    #[test]
    fn later_indexing_skips_pruned_records_and_a_restart_catches_up_past_its_note() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::store::Store::open(&dir.path().join("flux.db")).expect("open");
        let conn = store.connect().expect("connect");
        let body = |n: i64| {
            format!(
                r#"{{"id":"{n:032x}","kind":"http","function":"f","status":"ok","started_at_us":1,
                "duration_us":1,"input":{{"body":"order {n}"}},"code_version":""}}"#
            )
        };
        for n in 1..=4 {
            conn.execute(
                "INSERT INTO _flux_records (seq, id, id_hi, kind, function, status, started_at_us, duration_us, body)
                 VALUES (?1, ?2, 0, 'http', 'f', 'ok', 1, 1, ?3)",
                params![n, format!("{n:032x}"), body(n)],
            )
            .expect("insert");
        }
        // Record 2 was pruned before its text was indexed: no row for it.
        conn.execute("DELETE FROM _flux_records WHERE seq = 2", [])
            .expect("prune");
        index_later(&conn, &[(1, "order 1".into()), (2, "order 2".into())]).expect("index");
        let found = |conn: &Connection| -> Vec<i64> {
            conn.prepare("SELECT rowid FROM _flux_search WHERE _flux_search MATCH '\"order\"' ORDER BY rowid")
                .expect("prepare")
                .query_map([], |row| row.get(0))
                .expect("query")
                .collect::<rusqlite::Result<_>>()
                .expect("rows")
        };
        assert_eq!(found(&conn), [1]);
        // A restart indexes what the note does not cover (3 and 4), and nothing twice.
        drop(conn);
        let store = crate::store::Store::open(store.path()).expect("reopen");
        let conn = store.connect().expect("connect");
        assert_eq!(found(&conn), [1, 3, 4]);
        assert_eq!(catch_up(&conn).expect("again"), 0);
    }
}
