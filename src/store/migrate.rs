use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use super::sandbox::{self, Author};
use super::{Result, StoreError};

/// What `apply_migrations` did.
#[derive(Debug, Default)]
pub struct MigrationReport {
    pub applied: Vec<String>,
    /// Files already applied whose contents changed since; they are not re-run.
    pub changed: Vec<String>,
}

/// Applies `dir/*.sql` in file-name order, each once, each in its own transaction.
pub fn apply_migrations(conn: &mut Connection, dir: &Path) -> Result<MigrationReport> {
    let mut report = MigrationReport::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
        Err(source) => {
            return Err(StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut files: Vec<_> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let sql = std::fs::read_to_string(&file).map_err(|source| StoreError::Io {
            path: file.clone(),
            source,
        })?;
        let checksum = blake3::hash(sql.as_bytes()).to_hex()[..16].to_string();
        let known: Option<String> = conn
            .query_row(
                "SELECT checksum FROM _flux_migrations WHERE name = ?1",
                [&name],
                |row| row.get(0),
            )
            .optional()?;
        match known {
            Some(old) if old == checksum => continue,
            Some(_) => {
                report.changed.push(name);
                continue;
            }
            None => {}
        }
        let fail = |e: rusqlite::Error| StoreError::Migration {
            file: format!("migrations/{name}"),
            message: e.to_string(),
        };
        let tx = conn.transaction().map_err(fail)?;
        // The project's SQL: the same sandbox as its functions' statements.
        let (applied, verdict) =
            sandbox::run_as(Author::Migration, None, || tx.execute_batch(&sql));
        applied.map_err(|e| {
            let (line, message) = where_failed(&sql, &e);
            StoreError::Migration {
                file: format!(
                    "migrations/{name}{}",
                    line.map(|l| format!(":{l}")).unwrap_or_default()
                ),
                message: verdict.refused.unwrap_or(message),
            }
        })?;
        tx.execute(
            "INSERT INTO _flux_migrations (name, checksum) VALUES (?1, ?2)",
            params![name, checksum],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        report.applied.push(name);
    }
    Ok(report)
}

/// The line of `sql` (a migration's text) a batch's error points at, when SQLite says where
/// (a statement it could not compile), and its message without the SQL it quotes. The SQL
/// rusqlite reports is the rest of the batch from the failing statement on.
fn where_failed(sql: &str, error: &rusqlite::Error) -> (Option<usize>, String) {
    match error {
        rusqlite::Error::SqlInputError {
            msg,
            sql: rest,
            offset,
            ..
        } => {
            let at = usize::try_from(*offset)
                .ok()
                .filter(|_| sql.ends_with(rest.as_str()))
                .map(|offset| sql.len() - rest.len() + offset)
                .and_then(|at| sql.get(..at))
                .map(|before| before.matches('\n').count() + 1);
            (at, msg.clone())
        }
        other => (None, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_sqlite_cannot_compile_is_named_by_its_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("001_bad.sql"),
            "-- two tables\nCREATE TABLE fine (id TEXT);\n\nCREATE TABLEE oops (id TEXT);\n",
        )
        .expect("write");
        let mut conn = Connection::open_in_memory().expect("db");
        conn.execute_batch(super::super::SCHEMA).expect("schema");
        let error = apply_migrations(&mut conn, dir.path()).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "migration migrations/001_bad.sql:4 failed: near \"TABLEE\": syntax error"
        );
    }
}
