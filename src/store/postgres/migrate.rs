//! The project's migrations on PostgreSQL: the same files, order and bookkeeping as SQLite's
//! (`store/migrate.rs`), each file in its own transaction. Each transaction first takes a
//! transaction-level advisory lock (released by its COMMIT or ROLLBACK, so it works behind
//! PgBouncer in transaction mode, where a session lock could stay with a pooled
//! connection), then reads whether the file was applied: processes starting together apply
//! each file once, the others waiting and then seeing it done.

use std::path::Path;

use postgres::error::ErrorPosition;
use postgres::Client;

use super::super::dialect::Dialect;
use super::super::migrate::{migration_files, MigrationFile, MigrationReport};
use super::super::{Result, StoreError};

/// Held while applying a file: a 64-bit key flux alone uses ("flux_mig").
const LOCK_KEY: i64 = 0x666c_7578_5f6d_6967;

/// Applies `dir/*.sql` in file-name order, each once across every process sharing the
/// database; a failing file is rolled back whole and stops the run, earlier files stay.
pub(super) fn apply(client: &mut Client, dir: &Path) -> Result<MigrationReport> {
    let mut report = MigrationReport::default();
    for file in migration_files(dir)? {
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])?;
        let applied: Option<String> = tx
            .query_opt(
                "SELECT checksum FROM _flux_migrations WHERE name = $1",
                &[&file.name],
            )?
            .map(|row| row.get(0));
        if !report.is_new(&file, applied) {
            tx.commit()?;
            continue;
        }
        // Noted before the file runs: a file with its own BEGIN … COMMIT (as other tools'
        // migrations often have) commits flux's transaction, and with it the lock, at its
        // COMMIT; the note must be in that commit, or a waiting process would apply it again.
        tx.execute(
            "INSERT INTO _flux_migrations (name, checksum) VALUES ($1, $2)",
            &[&file.name, &file.checksum],
        )?;
        if let Err(e) = tx.batch_execute(&file.sql) {
            return Err(failure(&file, e));
        }
        tx.commit()?;
        report.applied.push(file.name);
    }
    Ok(report)
}

/// PostgreSQL's message and SQLSTATE at the file's line and column (it gives a 1-based
/// character position into the file, which was sent whole); a lost connection is not the
/// file's fault and stays a PostgreSQL error.
fn failure(file: &MigrationFile, error: postgres::Error) -> StoreError {
    let Some(db) = error.as_db_error() else {
        return StoreError::Postgres(error);
    };
    let offset = match db.position() {
        Some(ErrorPosition::Original(position)) => usize::try_from(*position)
            .ok()
            .and_then(|p| p.checked_sub(1))
            .map(|chars| {
                file.sql
                    .char_indices()
                    .nth(chars)
                    .map_or(file.sql.len(), |(byte, _)| byte)
            }),
        _ => None,
    };
    let message = format!("{} (SQLSTATE {})", db.message(), db.code().code());
    file.failure(Dialect::Postgres, message, offset)
}
