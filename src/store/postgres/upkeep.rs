//! Pruning flux's history on PostgreSQL, by age and by size, in chunks of one transaction
//! each, as SQLite's `retention` does. Deleted rows' space is reused after (auto)vacuum;
//! tables do not shrink.
//!
//! Every `flux serve` sharing the database runs this upkeep; each chunk's transaction first
//! tries a transaction-level advisory lock ([`PRUNE_LOCK`]) and a process that does not get it
//! stops its run there, so one process prunes at a time and none waits on another's
//! deletes (the lock ends with each chunk's commit, which also suits PgBouncer).

use postgres::Client;

use super::super::jobs::micros;
use super::super::{Pruning, Result};
use super::Pool;
use crate::project::Retention;
use std::sync::Arc;

/// Records deleted per transaction, as SQLite's.
const CHUNK: i64 = 100;

/// Held by the process pruning a chunk: a 64-bit key flux alone uses ("flux_prn").
pub const PRUNE_LOCK: i64 = 0x666c_7578_5f70_726e;

/// Pruning for size goes down to this share of `maxSize`.
const SIZE_TARGET_PERCENT: u64 = 90;

/// Upkeep on one connection of the store's pool, taken per call.
pub(super) struct PgPruning {
    pub(super) pool: Arc<Pool>,
}

impl Pruning for PgPruning {
    fn prune(&mut self, retention: &Retention, now_us: i64) -> Result<u64> {
        let cutoff = now_us.saturating_sub(micros(retention.max_age));
        let mut client = self.pool.get()?;
        // Spilled captures that no take removed (a transaction that wrote them itself, or
        // cleared its flag) once their transactions have ended. Asked of each transaction, not
        // of the snapshot's xmin, which any long transaction in the cluster holds back. An
        // xid from another cluster (a restored dump) is past this one's and would make
        // `pg_xact_status` fail: such rows are leftovers too.
        client.execute(
            "DELETE FROM _flux_spilled WHERE CASE
                 WHEN xid >= pg_snapshot_xmax(pg_current_snapshot()) THEN true
                 ELSE pg_xact_status(xid) IS DISTINCT FROM 'in progress' END",
            &[],
        )?;
        delete_oldest(&mut client, cutoff, u64::MAX)
    }

    /// The tables' files (`pg_total_relation_size`) bound flux's live bytes from above and
    /// cost nothing to read; only when they are over the limit are the live rows measured
    /// (`pg_column_size` of every row of the records and mutations: a scan), since space
    /// freed by pruning stays in the files.
    fn prune_to_size(&mut self, retention: &Retention, now_us: i64) -> Result<u64> {
        let mut client = self.pool.get()?;
        let files: i64 = client
            .query_one(
                r"SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
                  WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
                  AND c.relname LIKE '\_flux\_%'",
                &[],
            )?
            .get(0);
        if u64::try_from(files).unwrap_or(0) <= retention.max_bytes {
            return Ok(0);
        }
        let row = client.query_one(
            "SELECT (SELECT coalesce(sum(pg_column_size(r.*)), 0)::bigint FROM _flux_records r)
                  + (SELECT coalesce(sum(pg_column_size(m.*)), 0)::bigint FROM _flux_mutations m),
                    (SELECT count(*) FROM _flux_records)",
            &[],
        )?;
        let (live, records): (i64, i64) = (row.get(0), row.get(1));
        let (live, records) = (
            u64::try_from(live).unwrap_or(0),
            u64::try_from(records).unwrap_or(0),
        );
        if live <= retention.max_bytes || records == 0 {
            return Ok(0);
        }
        let target = retention.max_bytes / 100 * SIZE_TARGET_PERCENT;
        let per_record = (live / records).max(1);
        let excess = (live - target).div_ceil(per_record);
        let cutoff = now_us.saturating_sub(micros(retention.min_age));
        delete_oldest(&mut client, cutoff, excess)
    }
}

/// Deletes up to `limit` of the oldest records started before `cutoff_us`, with their
/// mutations, and the emails and finished jobs of their time; a chunk per transaction.
fn delete_oldest(client: &mut Client, cutoff_us: i64, limit: u64) -> Result<u64> {
    let mut removed = 0;
    while removed < limit {
        let chunk = CHUNK.min(i64::try_from(limit - removed).unwrap_or(CHUNK));
        let mut tx = client.transaction()?;
        let ours: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&PRUNE_LOCK])?
            .get(0);
        if !ours {
            // Another process is pruning the same oldest records: its run is this one's.
            break;
        }
        let row = tx.query_one(
            "SELECT coalesce(array_agg(seq), '{}'), max(started_at_us) FROM
             (SELECT seq, started_at_us FROM _flux_records WHERE started_at_us < $1
              ORDER BY seq LIMIT $2) oldest",
            &[&cutoff_us, &chunk],
        )?;
        let (seqs, oldest_kept): (Vec<i64>, Option<i64>) = (row.get(0), row.get(1));
        tx.execute(
            "DELETE FROM _flux_mutations WHERE record_seq = ANY($1)",
            &[&seqs],
        )?;
        tx.execute("DELETE FROM _flux_records WHERE seq = ANY($1)", &[&seqs])?;
        if let Some(cutoff) = oldest_kept {
            // Waiting and dead jobs stay.
            tx.execute(
                "DELETE FROM _flux_emails WHERE created_at_us <= $1",
                &[&cutoff],
            )?;
            tx.execute(
                "DELETE FROM _flux_jobs WHERE id IN (SELECT id FROM _flux_jobs
                 WHERE state IN ('done', 'cancelled') AND updated_at_us <= $1 LIMIT $2)",
                &[&cutoff, &chunk],
            )?;
        }
        tx.commit()?;
        let n = seqs.len() as u64;
        removed += n;
        if (n as i64) < chunk {
            break;
        }
    }
    Ok(removed)
}
