//! The project's migrations on PostgreSQL: the same files, order and bookkeeping as SQLite's
//! (`store/migrate.rs`), each file in its own transaction. Each transaction first takes a
//! transaction-level advisory lock (released by its COMMIT or ROLLBACK, so it works behind
//! PgBouncer in transaction mode, where a session lock could stay with a pooled
//! connection), then reads whether the file was applied: processes starting together apply
//! each file once, the others waiting and then seeing it done.
//!
//! Files run as the sandbox role, logged in as it, as functions' SQL does: a migration cannot
//! touch flux's tables, and the tables it creates are the role's. Its bookkeeping (the lock,
//! the note in `_flux_migrations`) is `_flux_migration`, a SECURITY DEFINER function the
//! sandbox's connection calls with flux's key; after the file, `_flux_refresh` captures the
//! tables it created.

use std::path::Path;

use postgres::error::{ErrorPosition, SqlState};
use postgres::Client;

use super::super::dialect::Dialect;
use super::super::migrate::{migration_files, MigrationFile, MigrationReport};
use super::super::{Result, StoreError};
use super::capture;
use super::sandbox::Sandbox;

/// Held while applying a file: a 64-bit key flux alone uses ("flux_mig").
const LOCK_KEY: i64 = 0x666c_7578_5f6d_6967;

/// Applies `dir/*.sql` in file-name order, each once across every process sharing the
/// database; a failing file is rolled back whole and stops the run, earlier files stay.
/// `client` is logged in as `sandbox`'s role.
pub(super) fn apply(client: &mut Client, sandbox: &Sandbox, dir: &Path) -> Result<MigrationReport> {
    let mut report = MigrationReport::default();
    let key: &str = sandbox.key();
    for file in migration_files(dir)? {
        let mut tx = client.transaction()?;
        // Takes the lock, reads the note, and notes a new file before it runs: a file with
        // its own BEGIN … COMMIT (as other tools' migrations often have) commits flux's
        // transaction, and with it the lock, at its COMMIT; the note must be in that commit,
        // or a waiting process would apply it again.
        let applied: Option<String> = tx
            .query_one(
                "SELECT _flux_migration($1, $2, $3, $4)",
                &[&key, &LOCK_KEY, &file.name, &file.checksum],
            )?
            .get(0);
        if !report.is_new(&file, applied) {
            tx.commit()?;
            continue;
        }
        if let Err(e) = tx.batch_execute(&file.sql) {
            return Err(failure(&file, e));
        }
        capture::refresh(&mut tx, sandbox.schema())?;
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
        // A refused right has no position: point at the first use of the object it names
        // (`permission denied for table _flux_records`), a flux table most often.
        _ if *db.code() == SqlState::INSUFFICIENT_PRIVILEGE => db
            .message()
            .rsplit(' ')
            .next()
            .filter(|name| !name.is_empty())
            .and_then(|name| find_word(&file.sql, name)),
        _ => None,
    };
    let message = format!("{} (SQLSTATE {})", db.message(), db.code().code());
    file.failure(Dialect::Postgres, message, offset)
}

/// The byte offset of `word`'s first use in `sql` as a whole word, ignoring case.
fn find_word(sql: &str, word: &str) -> Option<usize> {
    let lower = sql.to_ascii_lowercase();
    let word = word.trim_matches('"').to_ascii_lowercase();
    if word.is_empty() {
        return None;
    }
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    lower.match_indices(&word).map(|(at, _)| at).find(|&at| {
        let before = lower[..at].chars().next_back();
        let after = lower[at + word.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}
