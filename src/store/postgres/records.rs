//! Records on PostgreSQL: the batch insert in commit order and the reads of `Storage`. The
//! rules they share with SQLite (filters, pages, the tail's matching, walking a job's
//! attempts) are `store::records`'; only the SQL is here.

use postgres::types::ToSql;
use postgres::GenericClient;

use super::super::records::{
    exec_matches, lookup_from_rows, page_from_rows, record_query, tail_pages, walk_attempts, Param,
    RecordQuery, MINUTE_US,
};
use super::super::resolve::{ExecMatch, MATCH_LIMIT};
use super::super::{
    search, MinuteCount, PreparedWrites, RecordFilter, RecordLookup, RecordPage, Result,
    StoreWrite, TailFilter,
};
use super::jobs::{apply_transitions, Fence, Outcome};
use super::prepared::Prepared;
use crate::record::{ExecutionRecord, JobId, TailEvent};

/// A batch's records, one statement: arrays, unnested.
const INSERT_RECORDS: &str = "INSERT INTO _flux_records
    (seq, id, kind, function, status, started_at_us, duration_us, job_id, enqueued_by, body, search)
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::bigint[], $7::bigint[], $8::text[], $9::text[], $10::text[], $11::text[])";

/// A batch's row changes, one statement.
const INSERT_MUTATIONS: &str = "INSERT INTO _flux_mutations
    (record_seq, ord, record_id, tbl, pk, op, before, after, committed, at_us)
    SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::text[],
        $6::text[], $7::text[], $8::text[], $9::bool[], $10::bigint[])";

/// Inserts a batch of finished records with their mutations and their jobs' new states, in
/// the caller's transaction, and returns each record's `seq`.
///
/// The seqs are commit order across every process writing to the database: they are taken
/// here, as the transaction's last statements, from the one-row counter `_flux_seq`, whose
/// row lock is then held until the caller commits. A transaction that takes seqs after
/// another therefore waits for that one's commit, so a reader that sees seq `n` committed
/// sees every seq below it committed too, and `flux tail`'s cursor never passes a record
/// still to come. (A sequence or `bigserial` gives numbers at insert time, which commits
/// may overtake.) The cost: writers of records serialise on that row from this call to
/// their commit, which is why it must be the last thing before `COMMIT`.
///
/// `texts` are the records' search texts ([`search::text`], made once by the caller for
/// its other uses too); one missing is made here. With a `lease_owner`, the attempts are
/// that process's claims ([`super::claims`]): a job moves on its attempt's outcome only
/// while that attempt still holds it. Its record is stored either way, in place of the
/// `interrupted` one stored when its lease was found expired: what happened beats the guess.
pub fn insert_writes(
    tx: &mut postgres::Transaction<'_>,
    statements: &mut Prepared,
    prepared: &PreparedWrites<'_>,
    texts: &[impl AsRef<str>],
    lease_owner: Option<&str>,
    now_us: i64,
) -> Result<Vec<i64>> {
    let outcomes: Vec<Outcome<'_>> = prepared
        .rows()
        .filter_map(|(StoreWrite { record, job }, _, _)| {
            let (job_id, transition) = job.as_ref()?;
            Some(Outcome {
                job_id,
                record_id: record.id.to_string(),
                transition,
                error: record.error.as_ref().map(|e| e.message.as_str()),
                fence: lease_owner.map(|owner| Fence {
                    attempt: record.links.attempt.unwrap_or(0),
                    owner,
                }),
            })
        })
        .collect();
    let unmoved = apply_transitions(tx, statements, &outcomes, now_us)?;
    if lease_owner.is_some() && !unmoved.is_empty() {
        tx.execute(
            "WITH gone AS (DELETE FROM _flux_records
                 WHERE id = ANY($1) AND status = 'interrupted' RETURNING seq)
             DELETE FROM _flux_mutations WHERE record_seq IN (SELECT seq FROM gone)",
            &[&unmoved],
        )?;
    }
    let count = i64::try_from(prepared.len()).unwrap_or(i64::MAX);
    if count == 0 {
        return Ok(Vec::new());
    }
    let next_seqs = statements.get(tx, "UPDATE _flux_seq SET n = n + $1 RETURNING n")?;
    let last: i64 = tx.query_one(&next_seqs, &[&count])?.get(0);
    let seqs: Vec<i64> = (last - count + 1..=last).collect();
    let mut records = RecordColumns::default();
    let mut changes = MutationColumns::default();
    for (i, ((StoreWrite { record, .. }, body, mutations), seq)) in
        prepared.rows().zip(&seqs).enumerate()
    {
        let id = record.id.to_string();
        let text = match texts.get(i) {
            Some(text) => text.as_ref().to_string(),
            None => search::text(record),
        };
        for (ord, (m, before, after)) in mutations.iter().enumerate() {
            changes.record_seq.push(*seq);
            changes.ord.push(i32::try_from(ord).unwrap_or(i32::MAX));
            changes.record_id.push(id.clone());
            changes.tbl.push(m.table.clone());
            changes.pk.push(m.pk.to_string());
            changes.op.push(m.op.as_str().to_string());
            changes.before.push(before.clone());
            changes.after.push(after.clone());
            changes.committed.push(m.committed);
            changes.at_us.push(record.started_at_us + m.at_us as i64);
        }
        records.push(id, record, body.clone(), text);
    }
    let insert = statements.get(tx, INSERT_RECORDS)?;
    tx.execute(
        &insert,
        &[
            &seqs,
            &records.id,
            &records.kind,
            &records.function,
            &records.status,
            &records.started_at_us,
            &records.duration_us,
            &records.job_id,
            &records.enqueued_by,
            &records.body,
            &records.search,
        ],
    )?;
    if !changes.ord.is_empty() {
        let insert = statements.get(tx, INSERT_MUTATIONS)?;
        tx.execute(
            &insert,
            &[
                &changes.record_seq,
                &changes.ord,
                &changes.record_id,
                &changes.tbl,
                &changes.pk,
                &changes.op,
                &changes.before,
                &changes.after,
                &changes.committed,
                &changes.at_us,
            ],
        )?;
    }
    Ok(seqs)
}

/// [`insert_writes`] for a rare batch (lost attempts' records, tests): its statements are
/// prepared for it alone.
pub fn insert_writes_once(
    tx: &mut postgres::Transaction<'_>,
    prepared: &PreparedWrites<'_>,
    texts: &[impl AsRef<str>],
    lease_owner: Option<&str>,
    now_us: i64,
) -> Result<Vec<i64>> {
    insert_writes(
        tx,
        &mut Prepared::default(),
        prepared,
        texts,
        lease_owner,
        now_us,
    )
}

/// A batch's records, column by column (the arrays of the insert).
#[derive(Default)]
struct RecordColumns {
    id: Vec<String>,
    kind: Vec<&'static str>,
    function: Vec<String>,
    status: Vec<&'static str>,
    started_at_us: Vec<i64>,
    duration_us: Vec<i64>,
    job_id: Vec<Option<String>>,
    enqueued_by: Vec<Option<String>>,
    body: Vec<String>,
    search: Vec<String>,
}

impl RecordColumns {
    fn push(&mut self, id: String, record: &ExecutionRecord, body: String, text: String) {
        self.id.push(id);
        self.kind.push(record.kind.as_str());
        self.function.push(record.function.clone());
        self.status.push(record.status.as_str());
        self.started_at_us.push(record.started_at_us);
        self.duration_us.push(record.duration_us as i64);
        self.job_id
            .push(record.links.job_id.as_ref().map(JobId::to_string));
        self.enqueued_by
            .push(record.links.enqueued_by.map(|e| e.to_string()));
        self.body.push(body);
        self.search.push(text);
    }
}

/// A batch's mutations, column by column.
#[derive(Default)]
struct MutationColumns {
    record_seq: Vec<i64>,
    ord: Vec<i32>,
    record_id: Vec<String>,
    tbl: Vec<String>,
    pk: Vec<String>,
    op: Vec<String>,
    before: Vec<Option<String>>,
    after: Vec<Option<String>>,
    committed: Vec<bool>,
    at_us: Vec<i64>,
}

/// The bounds of the ids starting with `prefix` (lowercase hex): `[prefix, prefix + "g")`.
pub(super) fn prefix_range(prefix: &str) -> (String, String) {
    (prefix.to_string(), format!("{prefix}g"))
}

pub(super) fn find_record(client: &mut impl GenericClient, prefix: &str) -> Result<RecordLookup> {
    let (low, high) = prefix_range(prefix);
    let rows = client
        .query(
            "SELECT id, body FROM _flux_records WHERE id >= $1 AND id < $2 ORDER BY id LIMIT 5",
            &[&low, &high],
        )?
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    lookup_from_rows(rows)
}

pub(super) fn executions_by_prefix(
    client: &mut impl GenericClient,
    prefix: &str,
) -> Result<Vec<ExecMatch>> {
    let (low, high) = prefix_range(prefix);
    let rows = client
        .query(
            "SELECT id, function, job_id FROM _flux_records WHERE id >= $1 AND id < $2
             ORDER BY id LIMIT $3",
            &[&low, &high, &(MATCH_LIMIT as i64)],
        )?
        .into_iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    Ok(exec_matches(rows))
}

pub(super) fn attempt_chain(
    client: &mut impl GenericClient,
    latest: &str,
) -> Result<Vec<ExecutionRecord>> {
    walk_attempts(latest, |id| find_record(client, id))
}

pub(super) fn record_page(
    client: &mut impl GenericClient,
    filter: &RecordFilter,
) -> Result<RecordPage> {
    let RecordQuery {
        sql,
        args,
        limit,
        scan,
    } = record_query(
        filter,
        &|n| format!("${n}"),
        &|p| format!("search ILIKE {p}"),
        &search::Query::like_pattern,
    );
    let args: Vec<Box<dyn ToSql + Sync>> = args
        .into_iter()
        .map(|arg| -> Box<dyn ToSql + Sync> {
            match arg {
                Param::Text(text) => Box::new(text),
                Param::Int(int) => Box::new(int),
            }
        })
        .collect();
    let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
    let rows = client.query(&sql, &refs)?;
    page_from_rows(
        rows.into_iter()
            .map(|row| Ok((row.get(0), row.get(1), row.get(2)))),
        limit,
        scan.as_ref(),
    )
}

pub(super) fn minute_counts(
    client: &mut impl GenericClient,
    since_us: i64,
    function: Option<&str>,
) -> Result<Vec<MinuteCount>> {
    let rows = client.query(
        "SELECT started_at_us / $2 * $2 AS minute, function, count(*),
                count(*) FILTER (WHERE status IN ('error', 'timeout', 'interrupted'))
         FROM _flux_records WHERE started_at_us >= $1 AND ($3::text IS NULL OR function = $3)
         GROUP BY minute, function ORDER BY minute, function COLLATE \"C\"",
        &[&since_us, &MINUTE_US, &function],
    )?;
    Ok(rows
        .into_iter()
        .map(|row| MinuteCount {
            minute_us: row.get(0),
            function: row.get(1),
            runs: row.get::<_, i64>(2).max(0) as u64,
            failures: row.get::<_, i64>(3).max(0) as u64,
        })
        .collect())
}

pub(super) fn tail_history(
    client: &mut impl GenericClient,
    after_seq: Option<i64>,
    since_us: Option<i64>,
    filter: &TailFilter,
    limit: usize,
) -> Result<Vec<TailEvent>> {
    tail_pages(after_seq, since_us, filter, limit, |cursor, since, page| {
        Ok(client
            .query(
                "SELECT seq, body, enqueued_by FROM _flux_records
                 WHERE seq > $1 AND started_at_us >= $2 ORDER BY seq LIMIT $3",
                &[&cursor, &since, &page],
            )?
            .into_iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect())
    })
}
