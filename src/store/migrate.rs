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
        applied.map_err(|e| StoreError::Migration {
            file: format!("migrations/{name}"),
            message: verdict.refused.unwrap_or_else(|| e.to_string()),
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
