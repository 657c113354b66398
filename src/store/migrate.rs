//! The project's migrations (`migrations/*.sql`): which files to apply and in what order,
//! their bookkeeping (`_flux_migrations`: name, checksum, when), how a failure names its
//! file, line and column, and SQLite's apply. PostgreSQL's apply is `postgres/migrate.rs`,
//! with the same files, order and bookkeeping.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use super::dialect::{self, Dialect};
use super::sandbox::{self, Author};
use super::{Result, StoreError};

/// What `apply_migrations` did.
#[derive(Debug, Default)]
pub struct MigrationReport {
    pub applied: Vec<String>,
    /// Files already applied whose contents changed since; they are not re-run.
    pub changed: Vec<String>,
}

impl MigrationReport {
    /// Whether `file` is still to apply, given the checksum stored when it was applied (if
    /// it was); an applied file that was edited since is noted as changed, not re-run.
    pub(super) fn is_new(&mut self, file: &MigrationFile, applied: Option<String>) -> bool {
        match applied {
            None => true,
            Some(old) => {
                if old != file.checksum {
                    self.changed.push(file.name.clone());
                }
                false
            }
        }
    }
}

/// One `migrations/*.sql` file, read.
pub(super) struct MigrationFile {
    pub name: String,
    pub sql: String,
    pub checksum: String,
}

impl MigrationFile {
    /// The failure of this file's SQL on `dialect`: the engine's `message`, at the file's
    /// line and column when the engine gave a byte `offset` into the file, with the portable
    /// form when the failing line has a construct of the other dialect.
    pub(super) fn failure(
        &self,
        dialect: Dialect,
        message: String,
        offset: Option<usize>,
    ) -> StoreError {
        let mut file = format!("migrations/{}", self.name);
        let mut hint = None;
        if let Some(offset) =
            offset.filter(|&o| o <= self.sql.len() && self.sql.is_char_boundary(o))
        {
            let before = &self.sql[..offset];
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let line = before.matches('\n').count() + 1;
            let column = before[line_start..].chars().count() + 1;
            file = format!("{file}:{line}:{column}");
            let line_end = self.sql[offset..]
                .find('\n')
                .map_or(self.sql.len(), |i| offset + i);
            hint = dialect::hint(dialect, &self.sql[line_start..line_end]);
        }
        StoreError::Migration {
            file,
            message,
            hint,
        }
    }
}

/// `dir/*.sql` in file-name order (none when `dir` does not exist).
pub(super) fn migration_files(dir: &Path) -> Result<Vec<MigrationFile>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut paths: Vec<_> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let sql = std::fs::read_to_string(&path).map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
            Ok(MigrationFile {
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                checksum: blake3::hash(sql.as_bytes()).to_hex()[..16].to_string(),
                sql,
            })
        })
        .collect()
}

/// Applies `dir/*.sql` in file-name order, each once, each in its own transaction.
pub fn apply_migrations(conn: &mut Connection, dir: &Path) -> Result<MigrationReport> {
    let mut report = MigrationReport::default();
    for file in migration_files(dir)? {
        let known: Option<String> = conn
            .query_row(
                "SELECT checksum FROM _flux_migrations WHERE name = ?1",
                [&file.name],
                |row| row.get(0),
            )
            .optional()?;
        if !report.is_new(&file, known) {
            continue;
        }
        let fail = |e: rusqlite::Error| file.failure(Dialect::Sqlite, e.to_string(), None);
        let tx = conn.transaction().map_err(fail)?;
        // The project's SQL: the same sandbox as its functions' statements.
        let (applied, verdict) =
            sandbox::run_as(Author::Migration, None, || tx.execute_batch(&file.sql));
        applied.map_err(|e| match verdict.refused {
            Some(refused) => file.failure(Dialect::Sqlite, refused, None),
            None => {
                let (message, offset) = sqlite_error(e, &file.sql);
                file.failure(Dialect::Sqlite, message, offset)
            }
        })?;
        tx.execute(
            "INSERT INTO _flux_migrations (name, checksum) VALUES (?1, ?2)",
            params![file.name, file.checksum],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        report.applied.push(file.name);
    }
    Ok(report)
}

/// SQLite's message, and where in `sql` it points as a byte offset when it says: it gives
/// one into the rest of the batch from the failing statement on, a suffix of the file.
fn sqlite_error(error: rusqlite::Error, sql: &str) -> (String, Option<usize>) {
    match error {
        rusqlite::Error::SqlInputError {
            msg,
            sql: rest,
            offset,
            ..
        } if sql.ends_with(rest.as_str()) => {
            let offset = usize::try_from(offset)
                .ok()
                .map(|o| sql.len() - rest.len() + o);
            (msg, offset)
        }
        other => (other.to_string(), None),
    }
}
