use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};

use super::jobs::apply_transition;
use super::resolve::{ExecMatch, MATCH_LIMIT};
use super::{search, Result};
use crate::record::{ExecId, ExecutionRecord, JobId, Mutation, RecordSummary, Transition};

/// A finished execution for the store: its record and, for a job attempt, what happens to
/// the job next. Both are committed in one transaction.
#[derive(Debug, Clone)]
pub struct StoreWrite {
    pub record: ExecutionRecord,
    pub job: Option<(JobId, Transition)>,
}

/// Rows image of one mutation, serialised: (mutation, before, after).
pub(super) type MutationRow<'a> = (&'a Mutation, Option<String>, Option<String>);

/// Finished executions serialised ahead of their transaction, so that the store's write lock
/// is held only for the inserts.
pub struct PreparedWrites<'a> {
    writes: &'a [StoreWrite],
    bodies: Vec<String>,
    mutations: Vec<Vec<MutationRow<'a>>>,
}

impl<'a> PreparedWrites<'a> {
    /// Each write with its record's JSON and its mutations' rows.
    pub(super) fn rows(
        &self,
    ) -> impl Iterator<Item = (&'a StoreWrite, &String, &Vec<MutationRow<'a>>)> + '_ {
        self.writes
            .iter()
            .zip(&self.bodies)
            .zip(&self.mutations)
            .map(|((write, body), changes)| (write, body, changes))
    }

    pub(super) fn len(&self) -> usize {
        self.writes.len()
    }
}

/// The records serialised for [`insert_writes`], which does not index them for search: the
/// caller does, with a later commit or after the insert ([`search::index_later`]).
pub fn prepare_writes(writes: &[StoreWrite]) -> Result<PreparedWrites<'_>> {
    let bodies = writes
        .iter()
        .map(|w| serde_json::to_string(&w.record))
        .collect::<serde_json::Result<Vec<_>>>()?;
    let image = |row: &Option<serde_json::Map<String, serde_json::Value>>| {
        row.as_ref()
            .map(|r| serde_json::Value::Object(r.clone()).to_string())
    };
    let mutations = writes
        .iter()
        .map(|w| {
            w.record
                .mutations
                .iter()
                .map(|m| (m, image(&m.before), image(&m.after)))
                .collect()
        })
        .collect();
    Ok(PreparedWrites {
        writes,
        bodies,
        mutations,
    })
}

/// Inserts the records, their mutations and their jobs' new states, in the caller's
/// transaction (not their search texts: see [`prepare_writes`]).
/// Returns each record's `seq`, its place in commit order.
pub fn insert_writes(
    tx: &Connection,
    prepared: &PreparedWrites<'_>,
    now_us: i64,
) -> Result<Vec<i64>> {
    let mut seqs = Vec::with_capacity(prepared.writes.len());
    let mut insert = tx.prepare_cached(
        "INSERT INTO _flux_records
         (id, id_hi, kind, function, status, started_at_us, duration_us, job_id, enqueued_by, body)
         VALUES (?1, ?10, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut mutation = tx.prepare_cached(
        "INSERT INTO _flux_mutations
         (record_id, tbl, pk, op, before, after, committed, at_us, record_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for (StoreWrite { record, job }, body, changes) in prepared.rows() {
        let id = record.id.to_string();
        if let Some((job_id, transition)) = job {
            let error = record.error.as_ref().map(|e| e.message.as_str());
            apply_transition(tx, job_id, &id, transition, error, now_us)?;
        }
        insert.execute(params![
            id,
            record.kind.as_str(),
            record.function,
            record.status.as_str(),
            record.started_at_us,
            record.duration_us as i64,
            record.links.job_id.as_ref().map(JobId::to_string),
            record.links.enqueued_by.map(|e| e.to_string()),
            body,
            record.id.hi(),
        ])?;
        let seq = tx.last_insert_rowid();
        seqs.push(seq);
        for (m, before, after) in changes {
            mutation.execute(params![
                id,
                m.table,
                m.pk.to_string(),
                m.op.as_str(),
                before,
                after,
                m.committed,
                record.started_at_us + m.at_us as i64,
                seq,
            ])?;
        }
    }
    Ok(seqs)
}

/// The outcome of looking a record up by id prefix.
#[derive(Debug)]
pub enum RecordLookup {
    Found(Box<ExecutionRecord>),
    NotFound,
    /// More than one id starts with the prefix: the first few of them.
    Ambiguous(Vec<String>),
}

/// Finds the record whose id starts with `prefix` (already validated lowercase hex).
pub(super) fn find_record(conn: &Connection, prefix: &str) -> Result<RecordLookup> {
    // Ids are fixed-width hex, so a prefix is a range of the unique index.
    let upper = format!("{prefix}g");
    let (low, high) = ExecId::hi_range(prefix);
    let mut stmt = conn.prepare_cached(
        "SELECT id, body FROM _flux_records WHERE id_hi BETWEEN ?3 AND ?4 AND id >= ?1 AND id < ?2
         ORDER BY id LIMIT 5",
    )?;
    let rows: Vec<(String, String)> = stmt
        .query_map(params![prefix, upper, low, high], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    lookup_from_rows(rows)
}

/// What a prefix lookup's rows `(id, body)` (a few, in id order) say: one record, none, or
/// the ids of several.
pub(super) fn lookup_from_rows(rows: Vec<(String, String)>) -> Result<RecordLookup> {
    Ok(match rows.len() {
        0 => RecordLookup::NotFound,
        1 => {
            let (_, body) = &rows[0];
            RecordLookup::Found(Box::new(ExecutionRecord::from_json(body)?))
        }
        _ => RecordLookup::Ambiguous(rows.into_iter().map(|(id, _)| id).collect()),
    })
}

/// The executions whose ids start with `prefix`, at most [`MATCH_LIMIT`].
pub(super) fn executions_by_prefix(conn: &Connection, prefix: &str) -> Result<Vec<ExecMatch>> {
    let upper = format!("{prefix}g");
    let (low, high) = ExecId::hi_range(prefix);
    let rows: Vec<(String, String, Option<String>)> = conn
        .prepare_cached(
            "SELECT id, function, job_id FROM _flux_records
             WHERE id_hi BETWEEN ?3 AND ?4 AND id >= ?1 AND id < ?2 ORDER BY id LIMIT ?5",
        )?
        .query_map(
            params![prefix, upper, low, high, MATCH_LIMIT as i64],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?
        .collect::<rusqlite::Result<_>>()?;
    Ok(exec_matches(rows))
}

/// Executions from rows `(id, function, job_id)`.
pub(super) fn exec_matches(rows: Vec<(String, String, Option<String>)>) -> Vec<ExecMatch> {
    // Ids are written by flux: one that does not parse is damage, and matches nothing.
    rows.into_iter()
        .filter_map(|(id, function, job_id)| {
            Some(ExecMatch {
                id: id.parse().ok()?,
                function,
                job_id: job_id.and_then(|j| j.parse().ok()),
            })
        })
        .collect()
}

/// The attempts of a job, oldest first, found by walking back from its latest attempt through
/// each record's `previous_attempt` link.
pub(super) fn attempt_chain(conn: &Connection, latest: &str) -> Result<Vec<ExecutionRecord>> {
    walk_attempts(latest, |id| find_record(conn, id))
}

/// The chain of attempts ending at `latest`, each looked up with `find`.
pub(super) fn walk_attempts(
    latest: &str,
    mut find: impl FnMut(&str) -> Result<RecordLookup>,
) -> Result<Vec<ExecutionRecord>> {
    let mut chain = Vec::new();
    let mut next = Some(latest.to_string());
    while let Some(id) = next.take() {
        let RecordLookup::Found(record) = find(&id)? else {
            break;
        };
        next = record.links.previous_attempt.map(|p| p.to_string());
        chain.push(*record);
        // A replayed job starts a new chain of attempts; both belong to the job.
        if chain.len() > 10_000 {
            break;
        }
    }
    chain.reverse();
    Ok(chain)
}

/// Filters of `GET /_flux/api/records`; every field is optional.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct RecordFilter {
    /// `http` or `job`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(rename = "fn")]
    pub function: Option<String>,
    pub status: Option<String>,
    /// Microseconds since the epoch, inclusive.
    pub since_us: Option<i64>,
    /// Microseconds since the epoch, exclusive.
    pub until_us: Option<i64>,
    pub limit: Option<usize>,
    /// Text the record's input, errors or console lines contain ([`search`]).
    pub search: Option<search::Query>,
    /// Only records after this one in the list's order (the next page).
    pub before: Option<RecordCursor>,
}

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 10_000;

/// A place in the list of records, newest first: the last record of a page. The next page
/// starts after it, so records committed meanwhile neither repeat nor shift what follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordCursor {
    pub started_at_us: i64,
    pub seq: i64,
}

/// A cursor the API did not hand out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a cursor: pass the `next` of an earlier page as it was given")]
pub struct BadCursor;

impl RecordCursor {
    /// The opaque form the API hands out (`next`) and takes back (`before=`).
    pub fn token(&self) -> String {
        format!("{}.{}", self.started_at_us, self.seq)
    }

    pub fn parse(token: &str) -> Result<RecordCursor, BadCursor> {
        let (started, seq) = token.split_once('.').ok_or(BadCursor)?;
        Ok(RecordCursor {
            started_at_us: started.parse().map_err(|_| BadCursor)?,
            seq: seq.parse().map_err(|_| BadCursor)?,
        })
    }
}

/// One page of records, newest first, and where the next one starts (none after the last).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordPage {
    pub records: Vec<RecordSummary>,
    pub next: Option<RecordCursor>,
}

/// A value bound to a statement [`record_query`] wrote, for either backend's driver.
#[derive(Debug, Clone)]
pub(super) enum Param {
    Text(String),
    Int(i64),
}

/// The statement that reads one page of records matching `filter` (`started_at_us, seq,
/// body`, newest first, one row more than the page), its values, and the page's size.
/// `placeholder(n)` writes the n-th value's placeholder (from 1) and `search(p)` the
/// condition that the record matches the search bound at placeholder `p`, as each backend
/// spells them.
pub(super) fn record_query(
    filter: &RecordFilter,
    placeholder: &dyn Fn(usize) -> String,
    search: &dyn Fn(&str) -> String,
    search_value: &dyn Fn(&search::Query) -> String,
) -> RecordQuery {
    let mut sql = String::from("SELECT started_at_us, seq, body FROM _flux_records WHERE 1=1");
    let mut args: Vec<Param> = Vec::new();
    let mut push = |clause: &dyn Fn(&str) -> String, value: Param| {
        args.push(value);
        sql.push_str(" AND ");
        sql.push_str(&clause(&placeholder(args.len())));
    };
    if let Some(kind) = &filter.kind {
        push(&|p| format!("kind = {p}"), Param::Text(kind.clone()));
    }
    if let Some(function) = &filter.function {
        push(
            &|p| format!("function = {p}"),
            Param::Text(function.clone()),
        );
    }
    if let Some(status) = &filter.status {
        push(&|p| format!("status = {p}"), Param::Text(status.clone()));
    }
    if let Some(since) = filter.since_us {
        push(&|p| format!("started_at_us >= {p}"), Param::Int(since));
    }
    if let Some(until) = filter.until_us {
        push(&|p| format!("started_at_us < {p}"), Param::Int(until));
    }
    // A search too short for the index looks through the rows the other filters keep
    // (`page_from_rows` matches them); a longer one is the backend's index condition.
    let scan = filter.search.clone().filter(|q| !q.indexed());
    if let Some(q) = filter.search.as_ref().filter(|q| q.indexed()) {
        push(search, Param::Text(search_value(q)));
    }
    if let Some(cursor) = filter.before {
        args.push(Param::Int(cursor.started_at_us));
        args.push(Param::Int(cursor.seq));
        // A row value: the started_at_us index (whose entries end with `seq`) is walked from
        // the cursor down.
        sql.push_str(&format!(
            " AND (started_at_us, seq) < ({}, {})",
            placeholder(args.len() - 1),
            placeholder(args.len())
        ));
    }
    let limit = filter.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    // One more than the page tells whether another page follows.
    let rows_read = if scan.is_some() {
        search::SCAN_ROWS
    } else {
        limit + 1
    };
    sql.push_str(&format!(
        " ORDER BY started_at_us DESC, seq DESC LIMIT {rows_read}"
    ));
    RecordQuery {
        sql,
        args,
        limit,
        scan,
    }
}

/// What [`record_query`] wrote: the statement, its values, the page's size, and the short
/// search its rows must still be matched against.
pub(super) struct RecordQuery {
    pub sql: String,
    pub args: Vec<Param>,
    pub limit: usize,
    pub scan: Option<search::Query>,
}

/// A page of `limit` records from [`record_query`]'s rows `(started_at_us, seq, body)`, those
/// that match `scan` when there is one.
pub(super) fn page_from_rows(
    rows: impl Iterator<Item = Result<(i64, i64, String)>>,
    limit: usize,
    scan: Option<&search::Query>,
) -> Result<RecordPage> {
    let mut records = Vec::new();
    let mut last = None;
    let mut more = false;
    let mut looked_at = 0;
    for row in rows {
        let (started_at_us, seq, body) = row?;
        looked_at += 1;
        if scan.is_some_and(|q| !q.matches_body(&body)) {
            last = Some(RecordCursor { started_at_us, seq });
            continue;
        }
        if records.len() == limit {
            more = true;
            break;
        }
        let record = ExecutionRecord::from_json(&body)?;
        records.push(RecordSummary::from(&record));
        last = Some(RecordCursor { started_at_us, seq });
    }
    // A scan that looked at all it may before filling the page: the next page goes on from
    // the last record it looked at (this one may be short, even empty).
    if scan.is_some() && !more && looked_at == search::SCAN_ROWS {
        more = true;
    }
    Ok(RecordPage {
        records,
        next: if more { last } else { None },
    })
}

/// Records matching `filter`, newest first, as summaries: one page of `filter.limit`.
pub(super) fn list_records(conn: &Connection, filter: &RecordFilter) -> Result<RecordPage> {
    let RecordQuery {
        sql,
        args,
        limit,
        scan,
    } = record_query(
        filter,
        &|n| format!("?{n}"),
        &|p| format!("seq IN (SELECT rowid FROM _flux_search WHERE _flux_search MATCH {p})"),
        &search::Query::match_expr,
    );
    let args = args.into_iter().map(|arg| match arg {
        Param::Text(text) => rusqlite::types::Value::Text(text),
        Param::Int(int) => rusqlite::types::Value::Integer(int),
    });
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    })?;
    page_from_rows(
        rows.map(|row| row.map_err(Into::into)),
        limit,
        scan.as_ref(),
    )
}

/// Which executions a tail follows: within a key any value matches, across keys all must.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct TailFilter {
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub functions: Vec<String>,
    #[serde(default)]
    pub statuses: Vec<String>,
    /// Id prefixes of executions whose jobs to follow (`req=`).
    #[serde(default)]
    pub caused_by: Vec<String>,
    /// Job id prefixes (`job=`).
    #[serde(default)]
    pub jobs: Vec<String>,
    /// Text its record's input, errors or console lines contain (`q=`), as a case-insensitive
    /// substring of [`search::text`]: the same as `records?q=`, read without the index.
    #[serde(default)]
    pub search: Option<String>,
}

/// A tail's `q=`, lowercased once, to match search texts with.
#[derive(Debug, Clone)]
pub struct TextMatch(Option<String>);

impl TextMatch {
    /// Whether it matches anything: a tail without `q=`.
    pub fn any(&self) -> bool {
        self.0.is_none()
    }

    /// Whether a record with search text `text` matches (any does without `q=`; one whose
    /// text is unknown does not).
    pub fn matches(&self, text: Option<&str>) -> bool {
        match &self.0 {
            None => true,
            Some(q) => text.is_some_and(|t| t.to_lowercase().contains(q.as_str())),
        }
    }
}

impl TailFilter {
    /// Its `search`, ready to match search texts with.
    pub fn text_match(&self) -> TextMatch {
        TextMatch(self.search.as_ref().map(|q| q.to_lowercase()))
    }

    pub fn matches(&self, record: &RecordSummary, enqueued_by: Option<&str>) -> bool {
        let any = |values: &[String], test: &dyn Fn(&str) -> bool| {
            values.is_empty() || values.iter().any(|v| test(v))
        };
        any(&self.kinds, &|v| v == record.kind.as_str())
            && any(&self.functions, &|v| v == record.function)
            && any(&self.statuses, &|v| v == record.status.as_str())
            && any(&self.caused_by, &|v| {
                enqueued_by.is_some_and(|e| e.starts_with(v))
            })
            && any(&self.jobs, &|v| {
                record
                    .job_id
                    .as_ref()
                    .is_some_and(|j| j.to_string().starts_with(v))
            })
    }
}

/// Recorded executions in commit order after `after_seq` (or started since `since_us`) that
/// match `filter`, at most `limit`.
pub(super) fn tail_history(
    conn: &Connection,
    after_seq: Option<i64>,
    since_us: Option<i64>,
    filter: &TailFilter,
    limit: usize,
) -> Result<Vec<crate::record::TailEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, body, enqueued_by FROM _flux_records
         WHERE seq > ?1 AND started_at_us >= ?2 ORDER BY seq LIMIT ?3",
    )?;
    tail_pages(after_seq, since_us, filter, limit, |cursor, since, page| {
        Ok(stmt
            .query_map(params![cursor, since, page], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?
            .collect::<rusqlite::Result<_>>()?)
    })
}

/// Rows `(seq, body, enqueued_by)` of records after seq `cursor` started since `since`, in
/// seq order, at most `page`.
type TailRows = Vec<(i64, String, Option<String>)>;

/// The tail's history read a page at a time with `read(cursor, since, page)` (see
/// [`TailRows`]) and filtered here, as every backend does it.
pub(super) fn tail_pages(
    after_seq: Option<i64>,
    since_us: Option<i64>,
    filter: &TailFilter,
    limit: usize,
    mut read: impl FnMut(i64, i64, i64) -> Result<TailRows>,
) -> Result<Vec<crate::record::TailEvent>> {
    let mut events = Vec::new();
    let mut cursor = after_seq.unwrap_or(0);
    // Filtered in Rust, so read in pages until enough match or the table ends; a page is no
    // larger than asked for, so a small request holds few record bodies at once.
    let page = limit.clamp(1, 2_000);
    let text_match = filter.text_match();
    loop {
        let rows = read(cursor, since_us.unwrap_or(i64::MIN), page as i64)?;
        let done = rows.len() < page;
        for (seq, body, enqueued_by) in rows {
            cursor = seq;
            let record = ExecutionRecord::from_json(&body)?;
            let summary = RecordSummary::from(&record);
            // The text only for a record the cheap filter keeps, and only with `q=`.
            if filter.matches(&summary, enqueued_by.as_deref())
                && (text_match.any() || text_match.matches(Some(&search::text(&record))))
            {
                events.push(crate::record::TailEvent {
                    seq,
                    record: summary,
                    enqueued_by,
                    next: None,
                    search: None,
                });
                if events.len() >= limit {
                    return Ok(events);
                }
            }
        }
        if done {
            return Ok(events);
        }
    }
}

/// Executions of one function in one minute: how many, and how many failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteCount {
    /// The minute's start, microseconds since the epoch.
    pub minute_us: i64,
    pub function: String,
    pub runs: u64,
    /// Errors, timeouts and interrupted executions (not cancelled ones: someone asked).
    pub failures: u64,
}

pub(super) const MINUTE_US: i64 = 60_000_000;

/// Per function and minute, the executions started since `since_us` (only minutes with
/// some), oldest minute first.
pub(super) fn minute_counts(
    conn: &Connection,
    since_us: i64,
    function: Option<&str>,
) -> Result<Vec<MinuteCount>> {
    let rows = conn
        .prepare_cached(
            "SELECT started_at_us / ?2 * ?2 AS minute, function, count(*),
                    sum(status IN ('error', 'timeout', 'interrupted'))
             FROM _flux_records WHERE started_at_us >= ?1 AND (?3 IS NULL OR function = ?3)
             GROUP BY minute, function ORDER BY minute, function",
        )?
        .query_map(params![since_us, MINUTE_US, function], |row| {
            Ok(MinuteCount {
                minute_us: row.get(0)?,
                function: row.get(1)?,
                runs: row.get::<_, i64>(2)?.max(0) as u64,
                failures: row.get::<_, i64>(3)?.max(0) as u64,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}
