//! Pruning flux's own history (records with their mutations, emails, finished jobs) by age and
//! by size. Only flux's tables count against `retention.maxSize`, measured with SQLite's
//! `dbstat` table; the app's tables are never touched. Deleted pages go to SQLite's free list
//! and are reused by later writes, so the file stops growing rather than shrinking.

use rusqlite::{params, Connection};

use super::jobs::micros;
use super::{Result, WriteLock};
use crate::project::Retention;

/// Records deleted per transaction: the write lock is held for one chunk at a time, so
/// requests' writes interleave with pruning (100 records of ~5 KB with their mutations took
/// ~30 ms on a busy machine; 500 took ~130 ms).
const CHUNK: u64 = 100;

/// Pruning for size goes down to this share of `maxSize`, so that the next measure (which
/// reads every page of flux's tables) is needed only after the store has grown again.
const SIZE_TARGET_PERCENT: u64 = 90;

/// Deletes records older than the retention age, oldest first, with the finished jobs and
/// emails of their time. Returns how many records were removed.
pub fn prune(
    conn: &Connection,
    retention: &Retention,
    now_us: i64,
    lock: &WriteLock,
) -> Result<u64> {
    let cutoff = now_us.saturating_sub(micros(retention.max_age));
    delete_oldest(conn, lock, cutoff, u64::MAX)
}

/// What the last size measure found: the live bytes that are not flux's (the app's tables),
/// so that a cheap page count tells when flux's share may be over the limit again.
#[derive(Debug, Default)]
pub struct SizeWatch {
    app_bytes: Option<u64>,
}

/// Deletes the oldest records (never those younger than `min_age`) while flux's tables are
/// larger than `max_bytes`. Cheap when under the limit: a page count, and a full measure only
/// when the store grew past what the last one allowed. Returns how many records were removed.
pub fn prune_to_size(
    conn: &Connection,
    retention: &Retention,
    now_us: i64,
    lock: &WriteLock,
    watch: &mut SizeWatch,
) -> Result<u64> {
    let live = live_bytes(conn)?;
    if let Some(app) = watch.app_bytes {
        // Growth of the app's tables is counted as flux's here: at worst a measure too many.
        if live.saturating_sub(app) <= retention.max_bytes {
            return Ok(0);
        }
    }
    let flux = flux_bytes(conn)?;
    watch.app_bytes = Some(live.saturating_sub(flux));
    if flux <= retention.max_bytes {
        return Ok(0);
    }
    let records: i64 = conn.query_row("SELECT count(*) FROM _flux_records", [], |r| r.get(0))?;
    let records = u64::try_from(records).unwrap_or(0);
    if records == 0 {
        return Ok(0);
    }
    let target = retention.max_bytes / 100 * SIZE_TARGET_PERCENT;
    // Emails and finished jobs go with the records of their time, so the average record's
    // share of flux's size says how many records make up the excess.
    let per_record = (flux / records).max(1);
    let excess_records = (flux - target).div_ceil(per_record);
    let cutoff = now_us.saturating_sub(micros(retention.min_age));
    delete_oldest(conn, lock, cutoff, excess_records)
}

/// Deletes up to `limit` of the oldest records started before `cutoff_us`, a chunk per
/// transaction.
fn delete_oldest(conn: &Connection, lock: &WriteLock, cutoff_us: i64, limit: u64) -> Result<u64> {
    let mut removed = 0;
    while removed < limit {
        let chunk = CHUNK.min(limit - removed);
        let n = delete_chunk(conn, lock, cutoff_us, chunk)?;
        removed += n;
        // Copy each chunk's pages into the database as it goes (no one waits for this), so
        // the WAL does not grow by the whole pruning.
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        if n < chunk {
            break;
        }
    }
    Ok(removed)
}

fn delete_chunk(conn: &Connection, lock: &WriteLock, cutoff_us: i64, chunk: u64) -> Result<u64> {
    let seqs = "SELECT seq FROM _flux_records WHERE started_at_us < ?1 ORDER BY seq LIMIT ?2";
    let chunk = i64::try_from(chunk).unwrap_or(i64::MAX);
    let _guard = lock.lock();
    let tx = conn.unchecked_transaction()?;
    let oldest_kept: Option<i64> = tx.query_row(
        &format!("SELECT max(started_at_us) FROM _flux_records WHERE seq IN ({seqs})"),
        params![cutoff_us, chunk],
        |row| row.get(0),
    )?;
    tx.execute(
        &format!("DELETE FROM _flux_mutations WHERE record_seq IN ({seqs})"),
        params![cutoff_us, chunk],
    )?;
    // Search rows go with their records (keyed by the same seq).
    tx.execute(
        &format!("DELETE FROM _flux_search WHERE rowid IN ({seqs})"),
        params![cutoff_us, chunk],
    )?;
    let n = tx.execute(
        &format!("DELETE FROM _flux_records WHERE seq IN ({seqs})"),
        params![cutoff_us, chunk],
    )?;
    if let Some(cutoff) = oldest_kept {
        // Emails and finished jobs (done or cancelled) go with the records of their time;
        // waiting and dead jobs stay.
        tx.execute(
            "DELETE FROM _flux_emails WHERE created_at_us <= ?1",
            params![cutoff],
        )?;
        tx.execute(
            "DELETE FROM _flux_jobs WHERE rowid IN (SELECT rowid FROM _flux_jobs
             WHERE state IN ('done', 'cancelled') AND updated_at_us <= ?1 LIMIT ?2)",
            params![cutoff, chunk],
        )?;
    }
    tx.commit()?;
    Ok(n as u64)
}

/// Bytes in use by every table: freed pages are reused by later writes, so they do not count.
fn live_bytes(conn: &Connection) -> Result<u64> {
    let (pages, free, size): (i64, i64, i64) = conn.query_row(
        "SELECT (SELECT page_count FROM pragma_page_count), (SELECT freelist_count FROM pragma_freelist_count), (SELECT page_size FROM pragma_page_size)",
        [],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    Ok(u64::try_from((pages - free).max(0) * size).unwrap_or(0))
}

/// Bytes of the pages of flux's own tables and their indexes. Reads each of those pages.
pub fn flux_bytes(conn: &Connection) -> Result<u64> {
    let names: Vec<String> = conn
        .prepare_cached(
            r"SELECT name FROM sqlite_schema
              WHERE tbl_name LIKE '\_flux\_%' ESCAPE '\' AND type IN ('table', 'index') AND rootpage > 0",
        )?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut total = 0u64;
    let mut size = conn.prepare_cached(
        "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = ?1 AND aggregate = TRUE",
    )?;
    for name in names {
        let bytes: i64 = size.query_row(params![name], |row| row.get(0))?;
        total += u64::try_from(bytes).unwrap_or(0);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use std::time::Duration;

    #[test]
    fn old_records_go_first_and_recent_ones_stay() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("flux.db")).expect("open");
        let conn = store.connect().expect("connect");
        for (i, started) in [10_i64, 20, 1_000_000_000].iter().enumerate() {
            conn.execute(
                "INSERT INTO _flux_records (id, id_hi, kind, function, status, started_at_us, duration_us, body)
                 VALUES (?1, 0, 'http', 'f', 'ok', ?2, 1, '{}')",
                params![format!("{i:032x}"), started],
            )
            .expect("insert");
            let seq = conn.last_insert_rowid();
            crate::store::search::index(&conn, seq, &format!("record number {i}")).expect("index");
        }
        // Finished jobs of that time go with them (done or cancelled); dead ones stay.
        for (id, state) in [("a", "done"), ("b", "cancelled"), ("c", "dead")] {
            conn.execute(
                "INSERT INTO _flux_jobs (id, name, data, state, run_at_us, max_attempts,
                 enqueued_at_us, next_exec_id, updated_at_us) VALUES (?1, 'w', 'null', ?2, 0, 1, 0, '', 15)",
                params![id, state],
            )
            .expect("job");
        }
        let retention = Retention {
            max_age: Duration::from_micros(1_000),
            max_bytes: u64::MAX,
            min_age: Duration::ZERO,
        };
        assert_eq!(
            prune(&conn, &retention, 1_000_000_500, store.write_lock()).expect("prune"),
            2
        );
        let jobs_left: Vec<String> = conn
            .prepare("SELECT state FROM _flux_jobs ORDER BY id")
            .expect("prepare")
            .query_map([], |row| row.get(0))
            .expect("jobs")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(jobs_left, ["dead"]);
        let left: i64 = conn
            .query_row("SELECT count(*) FROM _flux_records", [], |r| r.get(0))
            .expect("count");
        assert_eq!(left, 1);
        // The pruned records' search rows went with them.
        let found: Vec<i64> = conn
            .prepare("SELECT rowid FROM _flux_search WHERE _flux_search MATCH '\"record number\"'")
            .expect("prepare")
            .query_map([], |row| row.get(0))
            .expect("search")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(found, [3]);
    }

    fn insert_record(conn: &Connection, i: usize, started_us: i64, body: &str) {
        conn.execute(
            "INSERT INTO _flux_records (id, id_hi, kind, function, status, started_at_us, duration_us, body)
             VALUES (?1, 0, 'http', 'f', 'ok', ?2, 1, ?3)",
            params![format!("{i:032x}"), started_us, body],
        )
        .expect("insert");
    }

    #[test]
    fn size_counts_flux_tables_only_and_keeps_the_newest_and_the_young() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("flux.db")).expect("open");
        let conn = store.connect().expect("connect");
        // An app table twice the limit: it must not count, nor be touched.
        conn.execute_batch(
            "CREATE TABLE big (v TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
             INSERT INTO big SELECT printf('%.1000c', 'a') FROM n;",
        )
        .expect("app table");
        let body = "r".repeat(1_000);
        let now = 1_000_000_000_000;
        // 3,000 old records, then 100 young ones (started within the minimum age).
        for i in 0..3_000 {
            insert_record(&conn, i, now - 3_600_000_000 + i as i64, &body);
        }
        for i in 3_000..3_100 {
            insert_record(&conn, i, now - 1_000, &body);
        }
        let retention = Retention {
            max_age: Duration::from_secs(365 * 24 * 3600),
            max_bytes: 1_000_000,
            min_age: Duration::from_secs(60),
        };
        let before = flux_bytes(&conn).expect("measure");
        assert!(before > 3_000_000, "{before}");
        let mut watch = SizeWatch::default();
        let removed =
            prune_to_size(&conn, &retention, now, store.write_lock(), &mut watch).expect("prune");
        assert!(removed > 0);
        let after = flux_bytes(&conn).expect("measure");
        assert!(after <= retention.max_bytes, "{after} bytes left");
        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).expect("count") };
        assert_eq!(count("SELECT count(*) FROM big"), 2_000);
        assert_eq!(
            count("SELECT count(*) FROM _flux_records WHERE started_at_us = 1000000000000 - 1000"),
            100
        );
        assert_eq!(count("SELECT max(seq) FROM _flux_records"), 3_100);

        // Everything left is young: over the limit or not, it stays.
        let young = Retention {
            max_bytes: 1_000_000,
            min_age: Duration::from_secs(7200),
            ..retention
        };
        for i in 3_100..6_100 {
            insert_record(&conn, i, now - 1_000, &body);
        }
        prune_to_size(&conn, &young, now, store.write_lock(), &mut watch).expect("prune");
        assert_eq!(
            count("SELECT count(*) FROM _flux_records WHERE started_at_us = 1000000000000 - 1000"),
            3_100,
            "young records were deleted"
        );
    }
}
