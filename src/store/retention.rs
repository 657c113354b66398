use std::time::Duration;

use rusqlite::{params, Connection};

use super::{Result, WriteLock};

/// How much history the store keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retention {
    pub max_age: Duration,
    pub max_bytes: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_age: Duration::from_secs(7 * 24 * 3600),
            max_bytes: 1 << 30,
        }
    }
}

/// Rows deleted per transaction, so that request writes interleave with pruning.
const CHUNK: i64 = 2_000;

/// Deletes records older than the retention age, then the oldest records while the store is
/// over its size budget. Returns how many records were removed.
/// Finished jobs older than the retention age are deleted too.
pub fn prune(
    conn: &Connection,
    retention: &Retention,
    now_us: i64,
    lock: &WriteLock,
) -> Result<u64> {
    let cutoff = now_us - retention.max_age.as_micros() as i64;
    let mut removed = 0;
    loop {
        let n = delete_oldest(conn, lock, "started_at_us < ?1", cutoff)?;
        removed += n;
        if n < CHUNK as u64 {
            break;
        }
    }
    while store_bytes(conn)? > retention.max_bytes {
        let n = delete_oldest(conn, lock, "1 = ?1", 1)?;
        removed += n;
        if n == 0 {
            break;
        }
    }
    Ok(removed)
}

fn delete_oldest(conn: &Connection, lock: &WriteLock, condition: &str, arg: i64) -> Result<u64> {
    let seqs =
        format!("SELECT seq FROM _flux_records WHERE {condition} ORDER BY seq LIMIT {CHUNK}");
    let _guard = lock.lock();
    let tx = conn.unchecked_transaction()?;
    let oldest_kept: Option<i64> = tx.query_row(
        &format!("SELECT max(started_at_us) FROM _flux_records WHERE seq IN ({seqs})"),
        params![arg],
        |row| row.get(0),
    )?;
    tx.execute(
        &format!("DELETE FROM _flux_mutations WHERE record_seq IN ({seqs})"),
        params![arg],
    )?;
    let n = tx.execute(
        &format!("DELETE FROM _flux_records WHERE seq IN ({seqs})"),
        params![arg],
    )?;
    if let Some(cutoff) = oldest_kept {
        // Emails and finished jobs go with the records of their time; waiting and dead jobs stay.
        tx.execute(
            "DELETE FROM _flux_emails WHERE created_at_us <= ?1",
            params![cutoff],
        )?;
        tx.execute(
            "DELETE FROM _flux_jobs WHERE rowid IN (SELECT rowid FROM _flux_jobs
             WHERE state = 'done' AND updated_at_us <= ?1 LIMIT ?2)",
            params![cutoff, CHUNK],
        )?;
    }
    tx.commit()?;
    Ok(n as u64)
}

/// Bytes used by live pages: freed pages are reused by later writes, so they are not counted.
fn store_bytes(conn: &Connection) -> Result<u64> {
    let (pages, free, size): (i64, i64, i64) = conn.query_row(
        "SELECT (SELECT page_count FROM pragma_page_count), (SELECT freelist_count FROM pragma_freelist_count), (SELECT page_size FROM pragma_page_size)",
        [],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    Ok(((pages - free).max(0) * size) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

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
        }
        let retention = Retention {
            max_age: Duration::from_micros(1_000),
            max_bytes: u64::MAX,
        };
        assert_eq!(
            prune(&conn, &retention, 1_000_000_500, store.write_lock()).expect("prune"),
            2
        );
        let left: i64 = conn
            .query_row("SELECT count(*) FROM _flux_records", [], |r| r.get(0))
            .expect("count");
        assert_eq!(left, 1);
    }
}
