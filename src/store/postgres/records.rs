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
use super::jobs::{Fence, Outcome, OutcomeColumns};
use super::prepared::Prepared;
use crate::record::{ExecutionRecord, JobId, TailEvent};

/// A batch of finished records with their row changes and their jobs' outcomes, in one
/// statement and so one round trip: outside a transaction, its own, committed as it returns
/// (see [`insert_writes`]). `@S@` is flux's schema. Returns the batch's last `seq`.
pub(super) const WRITE_RECORDS: &str = r#"
CREATE OR REPLACE FUNCTION @S@._flux_write_records(
    o_id text[], o_record text[], o_state text[], o_run_at bigint[], o_next text[],
    o_error text[], o_attempt int[], o_owner text[], p_now bigint, p_fenced boolean,
    r_id text[], r_kind text[], r_function text[], r_status text[], r_started bigint[],
    r_duration bigint[], r_job text[], r_enqueued_by text[], r_body text[], r_search text[],
    m_record int[], m_ord int[], m_tbl text[], m_pk text[], m_op text[], m_before text[],
    m_after text[], m_committed boolean[], m_at bigint[], p_notify boolean)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    moved text[];
    last_seq bigint;
    batch int := cardinality(r_id);
BEGIN
    IF cardinality(o_id) > 0 THEN
        -- 'pending' is a requeue: the interrupted attempt is not counted and its error is
        -- not the job's; 'done' clears the error; the others set it.
        --
        -- Planned at each call (EXECUTE), from the tables' size then, as is the fenced
        -- branch's delete: PL/pgSQL keeps a plan for the session, and this update's, made
        -- while the jobs table was small, was a hash join over all of it (a scan of the whole
        -- queue per batch once it had grown).
        EXECUTE $sql$ WITH m AS (
            UPDATE @S@._flux_jobs j SET state = o.state,
                attempts = CASE WHEN o.state = 'pending' THEN greatest(j.attempts - 1, 0)
                                ELSE j.attempts END,
                run_at_us = coalesce(o.run_at_us, j.run_at_us),
                next_exec_id = coalesce(o.next_exec_id, j.next_exec_id),
                last_error = CASE o.state WHEN 'done' THEN NULL WHEN 'pending' THEN j.last_error
                                 ELSE o.error END,
                last_record = o.record_id, updated_at_us = $9,
                lease_owner = NULL, lease_until_us = NULL, committed_attempt = NULL
            FROM unnest($1, $2, $3, $4, $5, $6, $7, $8)
                AS o(id, record_id, state, run_at_us, next_exec_id, error, attempt, owner)
            WHERE j.id = o.id
              AND (o.attempt IS NULL OR (j.attempts = o.attempt AND j.lease_owner = o.owner))
            RETURNING o.record_id)
        SELECT array_agg(m.record_id) FROM m $sql$
        INTO moved
        USING o_id, o_record, o_state, o_run_at, o_next, o_error, o_attempt, o_owner, p_now;
        -- A fenced attempt that no longer held its job: its record replaces the one stored
        -- as interrupted when its lease was found expired.
        IF p_fenced AND cardinality(moved) IS DISTINCT FROM cardinality(o_id) THEN
            EXECUTE $sql$ WITH gone AS (
                DELETE FROM @S@._flux_records r
                WHERE r.id = ANY(ARRAY(SELECT u FROM unnest($1::text[]) u
                                       WHERE u <> ALL(coalesce($2::text[], '{}'))))
                  AND r.status = 'interrupted'
                RETURNING r.seq)
            DELETE FROM @S@._flux_mutations mu WHERE mu.record_seq IN (SELECT seq FROM gone)
            $sql$ USING o_record, moved;
        END IF;
    END IF;
    IF batch = 0 THEN
        RETURN NULL;
    END IF;
    -- Last before the commit: the counter's row stays locked until then.
    UPDATE @S@._flux_seq SET n = n + batch RETURNING n INTO last_seq;
    INSERT INTO @S@._flux_records (seq, id, kind, function, status, started_at_us,
        duration_us, job_id, enqueued_by, body, search)
    SELECT last_seq - batch + r.i, r.id, r.kind, r.function, r.status, r.started_at_us,
        r.duration_us, r.job_id, r.enqueued_by, r.body, r.search
    FROM unnest(r_id, r_kind, r_function, r_status, r_started, r_duration, r_job,
        r_enqueued_by, r_body, r_search) WITH ORDINALITY
        AS r(id, kind, function, status, started_at_us, duration_us, job_id, enqueued_by,
             body, search, i);
    IF cardinality(m_record) > 0 THEN
        INSERT INTO @S@._flux_mutations (record_seq, ord, record_id, tbl, pk, op, before,
            after, committed, at_us)
        SELECT last_seq - batch + m.rec, m.ord, r_id[m.rec], m.tbl, m.pk, m.op, m.before,
            m.after, m.committed, m.at_us
        FROM unnest(m_record, m_ord, m_tbl, m_pk, m_op, m_before, m_after, m_committed, m_at)
            AS m(rec, ord, tbl, pk, op, before, after, committed, at_us);
    END IF;
    IF p_notify THEN
        PERFORM pg_notify('flux_jobs', '');
    END IF;
    RETURN last_seq;
END $$;
REVOKE ALL ON FUNCTION @S@._flux_write_records(text[], text[], text[], bigint[], text[],
    text[], int[], text[], bigint, boolean, text[], text[], text[], text[], bigint[], bigint[],
    text[], text[], text[], text[], int[], int[], text[], text[], text[], text[], text[],
    boolean[], bigint[], boolean) FROM PUBLIC;
"#;

/// The call, qualified and typed: the sandbox role may create functions in flux's schema, and
/// an overload of its own must not be the one chosen.
const WRITE_RECORDS_CALL: &str = "SELECT @S@._flux_write_records($1::text[], $2::text[], \
    $3::text[], $4::bigint[], $5::text[], $6::text[], $7::int[], $8::text[], $9::bigint, \
    $10::boolean, $11::text[], $12::text[], $13::text[], $14::text[], $15::bigint[], \
    $16::bigint[], $17::text[], $18::text[], $19::text[], $20::text[], $21::int[], $22::int[], \
    $23::text[], $24::text[], $25::text[], $26::text[], $27::text[], $28::boolean[], \
    $29::bigint[], $30::boolean)";

/// Inserts a batch of finished records with their mutations and their jobs' new states, and
/// returns each record's `seq`: in the caller's transaction, or, on a connection outside
/// one, in a transaction of its own committed in the same round trip. With `notify`, the
/// same transaction wakes the other processes' dispatchers (`NOTIFY flux_jobs`).
///
/// The seqs are commit order across every process writing to the database: they are taken
/// as the transaction's last statements, from the one-row counter `_flux_seq`, whose
/// row lock is then held until the commit. A transaction that takes seqs after
/// another therefore waits for that one's commit, so a reader that sees seq `n` committed
/// sees every seq below it committed too, and `flux tail`'s cursor never passes a record
/// still to come. (A sequence or `bigserial` gives numbers at insert time, which commits
/// may overtake.) The cost: writers of records serialise on that row until their commit,
/// which is why it must be the last thing before `COMMIT` (and why the record writer
/// commits in the same round trip).
///
/// `texts` are the records' search texts ([`search::text`], made once by the caller for
/// its other uses too); one missing is made here. With a `lease_owner`, the attempts are
/// that process's claims ([`super::claims`]): a job moves on its attempt's outcome only
/// while that attempt still holds it. Its record is stored either way, in place of the
/// `interrupted` one stored when its lease was found expired: what happened beats the guess.
pub fn insert_writes(
    client: &mut impl GenericClient,
    statements: &mut Prepared,
    prepared: &PreparedWrites<'_>,
    texts: &[impl AsRef<str>],
    lease_owner: Option<&str>,
    notify: bool,
    now_us: i64,
) -> Result<Vec<i64>> {
    let mut outcomes = OutcomeColumns::default();
    for (StoreWrite { record, job }, _, _) in prepared.rows() {
        if let Some((job_id, transition)) = job {
            outcomes.push(Outcome {
                job_id,
                record_id: record.id.to_string(),
                transition,
                error: record.error.as_ref().map(|e| e.message.as_str()),
                fence: lease_owner.map(|owner| Fence {
                    attempt: record.links.attempt.unwrap_or(0),
                    owner,
                }),
            });
        }
    }
    let mut records = RecordColumns::default();
    let mut changes = MutationColumns::default();
    for (i, (StoreWrite { record, .. }, body, mutations)) in prepared.rows().enumerate() {
        let text = match texts.get(i) {
            Some(text) => text.as_ref().to_string(),
            None => search::text(record),
        };
        let position = i32::try_from(i + 1).unwrap_or(i32::MAX);
        for (ord, (m, before, after)) in mutations.iter().enumerate() {
            changes.record.push(position);
            changes.ord.push(i32::try_from(ord).unwrap_or(i32::MAX));
            changes.tbl.push(m.table.as_str());
            changes.pk.push(m.pk.to_string());
            changes.op.push(m.op.as_str());
            changes.before.push(before.as_deref());
            changes.after.push(after.as_deref());
            changes.committed.push(m.committed);
            changes.at_us.push(record.started_at_us + m.at_us as i64);
        }
        records.push(record, body, text);
    }
    let write = statements.get(client, WRITE_RECORDS_CALL)?;
    let last: Option<i64> = client
        .query_one(
            &write,
            &[
                &outcomes.id,
                &outcomes.record_id,
                &outcomes.state,
                &outcomes.run_at_us,
                &outcomes.next_exec_id,
                &outcomes.error,
                &outcomes.attempt,
                &outcomes.owner,
                &now_us,
                &lease_owner.is_some(),
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
                &changes.record,
                &changes.ord,
                &changes.tbl,
                &changes.pk,
                &changes.op,
                &changes.before,
                &changes.after,
                &changes.committed,
                &changes.at_us,
                &notify,
            ],
        )?
        .get(0);
    let count = i64::try_from(prepared.len()).unwrap_or(i64::MAX);
    Ok(match last {
        Some(last) => (last - count + 1..=last).collect(),
        None => Vec::new(),
    })
}

/// [`insert_writes`] for a rare batch (lost attempts' records, tests): its statement is
/// prepared for it alone.
pub fn insert_writes_once(
    client: &mut impl GenericClient,
    prepared: &PreparedWrites<'_>,
    texts: &[impl AsRef<str>],
    lease_owner: Option<&str>,
    now_us: i64,
) -> Result<Vec<i64>> {
    insert_writes(
        client,
        &mut Prepared::default(),
        prepared,
        texts,
        lease_owner,
        false,
        now_us,
    )
}

/// A batch's records, column by column (the arrays of the insert).
#[derive(Default)]
struct RecordColumns<'a> {
    id: Vec<String>,
    kind: Vec<&'static str>,
    function: Vec<String>,
    status: Vec<&'static str>,
    started_at_us: Vec<i64>,
    duration_us: Vec<i64>,
    job_id: Vec<Option<String>>,
    enqueued_by: Vec<Option<String>>,
    body: Vec<&'a str>,
    search: Vec<String>,
}

impl<'a> RecordColumns<'a> {
    fn push(&mut self, record: &ExecutionRecord, body: &'a str, text: String) {
        self.id.push(record.id.to_string());
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

/// A batch's mutations, column by column; `record` is its record's position in the batch,
/// from 1.
#[derive(Default)]
struct MutationColumns<'a> {
    record: Vec<i32>,
    ord: Vec<i32>,
    tbl: Vec<&'a str>,
    pk: Vec<String>,
    op: Vec<&'static str>,
    before: Vec<Option<&'a str>>,
    after: Vec<Option<&'a str>>,
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
