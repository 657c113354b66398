//! Deployed versions (`flux deploy`): file contents by SHA-256 (`_flux_blobs`) and versions
//! (`_flux_versions`: the manifest as JSON, who deployed it, when, and when it was last made
//! active; the active version is the one made active last).

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _flux_blobs (
    hash TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS _flux_versions (
    id TEXT PRIMARY KEY,
    manifest TEXT NOT NULL,
    files INTEGER NOT NULL,
    size INTEGER NOT NULL,
    created_at_us INTEGER NOT NULL,
    deployed_by TEXT NOT NULL,
    message TEXT,
    activated_at_us INTEGER NOT NULL
);
";

/// One version as stored, without its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRow {
    /// SHA-256 of its manifest, 64 hex characters (shown as 12).
    pub id: String,
    pub files: i64,
    pub size: i64,
    pub created_at_us: i64,
    /// The name of the token it was deployed with (`admin` for the server's own).
    pub deployed_by: String,
    pub message: Option<String>,
    /// When it last became the active version.
    pub activated_at_us: i64,
    /// Whether it is the active version (the one activated last).
    #[serde(default)]
    pub active: bool,
}

/// A version to store.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub id: String,
    /// The manifest as JSON.
    pub manifest: String,
    pub files: i64,
    pub size: i64,
    pub deployed_by: String,
    pub message: Option<String>,
}

/// What a version id prefix names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionLookup {
    Found(VersionRow),
    NotFound,
    Ambiguous(Vec<String>),
}

pub(super) const COLUMNS: &str =
    "id, files, size, created_at_us, deployed_by, message, activated_at_us";

/// Rows made from the newest activation down: the first is the active one.
pub(super) fn marked(mut rows: Vec<VersionRow>) -> Vec<VersionRow> {
    if let Some(first) = rows.first_mut() {
        first.active = true;
    }
    rows
}

pub(super) fn lookup(mut rows: Vec<VersionRow>) -> VersionLookup {
    match rows.len() {
        0 => VersionLookup::NotFound,
        1 => VersionLookup::Found(rows.remove(0)),
        _ => VersionLookup::Ambiguous(rows.into_iter().map(|row| row.id).collect()),
    }
}

fn version(row: &rusqlite::Row<'_>) -> rusqlite::Result<VersionRow> {
    Ok(VersionRow {
        id: row.get(0)?,
        files: row.get(1)?,
        size: row.get(2)?,
        created_at_us: row.get(3)?,
        deployed_by: row.get(4)?,
        message: row.get(5)?,
        activated_at_us: row.get(6)?,
        active: false,
    })
}

fn has_table(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = '_flux_versions')",
        [],
        |row| row.get(0),
    )
}

/// Every version, the active one first, then by when each was last active.
pub(super) fn list(conn: &Connection) -> rusqlite::Result<Vec<VersionRow>> {
    if !has_table(conn)? {
        return Ok(Vec::new());
    }
    let rows = conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM _flux_versions ORDER BY activated_at_us DESC, id"
        ))?
        .query_map([], version)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(marked(rows))
}

/// The active version and its manifest (JSON).
pub(super) fn active(conn: &Connection) -> rusqlite::Result<Option<(VersionRow, String)>> {
    if !has_table(conn)? {
        return Ok(None);
    }
    conn.query_row(
        &format!(
            "SELECT {COLUMNS}, manifest FROM _flux_versions ORDER BY activated_at_us DESC, id LIMIT 1"
        ),
        [],
        |row| {
            let mut active = version(row)?;
            active.active = true;
            Ok((active, row.get(7)?))
        },
    )
    .optional()
}

pub(super) fn manifest(conn: &Connection, id: &str) -> rusqlite::Result<Option<String>> {
    if !has_table(conn)? {
        return Ok(None);
    }
    conn.query_row(
        "SELECT manifest FROM _flux_versions WHERE id = ?1",
        [id],
        |row| row.get(0),
    )
    .optional()
}

/// The hashes among `hashes` that have no blob.
pub(super) fn missing_blobs(conn: &Connection, hashes: &[String]) -> rusqlite::Result<Vec<String>> {
    if !has_table(conn)? {
        return Ok(hashes.to_vec());
    }
    let mut statement = conn.prepare_cached("SELECT 1 FROM _flux_blobs WHERE hash = ?1")?;
    let mut missing = Vec::new();
    for hash in hashes {
        if !statement.exists([hash])? {
            missing.push(hash.clone());
        }
    }
    Ok(missing)
}

pub(super) fn blob(conn: &Connection, hash: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    if !has_table(conn)? {
        return Ok(None);
    }
    conn.query_row(
        "SELECT data FROM _flux_blobs WHERE hash = ?1",
        [hash],
        |row| row.get(0),
    )
    .optional()
}

pub(super) fn put_blob(conn: &Connection, hash: &str, data: &[u8]) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO _flux_blobs (hash, size, data) VALUES (?1, ?2, ?3)",
        params![hash, data.len() as i64, data],
    )?;
    Ok(())
}

/// Stores `new` (a version deployed again keeps its first row) and makes it active.
pub(super) fn insert(conn: &Connection, new: &NewVersion, now_us: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO _flux_versions
            (id, manifest, files, size, created_at_us, deployed_by, message, activated_at_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?5)",
        params![
            new.id,
            new.manifest,
            new.files,
            new.size,
            now_us,
            new.deployed_by,
            new.message
        ],
    )?;
    activate(conn, &new.id, now_us)
}

/// Makes version `id` the active one.
pub(super) fn activate(conn: &Connection, id: &str, now_us: i64) -> rusqlite::Result<()> {
    // Later than any activation so far, even with a clock that stepped back.
    conn.execute(
        "UPDATE _flux_versions SET activated_at_us =
            max(?2, (SELECT coalesce(max(activated_at_us), 0) + 1 FROM _flux_versions WHERE id <> ?1))
         WHERE id = ?1",
        params![id, now_us],
    )?;
    Ok(())
}

/// The version whose id starts with `prefix`.
pub(super) fn find(conn: &Connection, prefix: &str) -> rusqlite::Result<VersionLookup> {
    let rows: Vec<VersionRow> = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM _flux_versions WHERE substr(id, 1, length(?1)) = ?1 LIMIT 5"
        ))?
        .query_map([prefix], version)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(lookup(rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(id: &str) -> NewVersion {
        NewVersion {
            id: id.into(),
            manifest: "{\"files\":[]}".into(),
            files: 0,
            size: 0,
            deployed_by: "ci".into(),
            message: None,
        }
    }

    #[test]
    fn the_version_activated_last_is_active() {
        let conn = Connection::open_in_memory().expect("db");
        assert!(active(&conn).expect("no table").is_none());
        conn.execute_batch(SCHEMA).expect("schema");
        insert(&conn, &new("aa"), 10).expect("first");
        insert(&conn, &new("bb"), 5).expect("second, clock stepped back");
        assert_eq!(
            active(&conn).expect("active").map(|(v, _)| v.id).as_deref(),
            Some("bb")
        );
        activate(&conn, "aa", 6).expect("rollback");
        let listed = list(&conn).expect("list");
        assert_eq!(listed[0].id, "aa");
        assert!(listed[0].active && !listed[1].active);
        assert_eq!(missing_blobs(&conn, &["h".into()]).expect("missing"), ["h"]);
        put_blob(&conn, "h", b"x").expect("blob");
        assert!(missing_blobs(&conn, &["h".into()])
            .expect("none")
            .is_empty());
    }
}
