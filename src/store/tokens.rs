//! Scoped access tokens (`_flux_tokens`): name, scope and the SHA-256 of the token and of its
//! dashboard session (see [`crate::token`]); never the token itself.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::token::Scope;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _flux_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    session_hash TEXT NOT NULL UNIQUE,
    created_at_us INTEGER NOT NULL,
    last_used_at_us INTEGER,
    revoked_at_us INTEGER
);
";

/// One token as stored, without anything secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRow {
    /// 16 hex characters; commands take any unambiguous prefix of 4 or more.
    pub id: String,
    pub name: String,
    pub scope: Scope,
    pub created_at_us: i64,
    /// Noted at most once a minute per server process.
    pub last_used_at_us: Option<i64>,
    /// When it stops (or stopped) working: now for a revocation, later for a rotation's grace.
    pub revoked_at_us: Option<i64>,
}

impl TokenRow {
    /// Whether it is accepted at `now_us`.
    pub fn is_live(&self, now_us: i64) -> bool {
        self.revoked_at_us.is_none_or(|at| now_us < at)
    }

    /// The row as [`revoke`] at `at_us` leaves it: an earlier end is kept.
    pub fn revoked_at(self, at_us: i64) -> TokenRow {
        TokenRow {
            revoked_at_us: Some(self.revoked_at_us.map_or(at_us, |at| at.min(at_us))),
            ..self
        }
    }
}

/// A token to store: its name, scope and hashes.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub scope: Scope,
    /// [`crate::token::hash`] of the token.
    pub hash: String,
    /// [`crate::token::hash`] of its [`crate::token::session_value`].
    pub session_hash: String,
}

/// Which hash a lookup is by: the token's (a header) or its session's (the dashboard's cookie).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKey {
    Token,
    Session,
}

/// What an id prefix names among the tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenLookup {
    Found(TokenRow),
    NotFound,
    /// Several tokens' ids start so: their ids.
    Ambiguous(Vec<String>),
}

pub(super) const COLUMNS: &str = "id, name, scope, created_at_us, last_used_at_us, revoked_at_us";

/// A stored scope, read back.
pub(super) fn stored_scope(scope: &str) -> Result<Scope, String> {
    Scope::parse(scope).ok_or_else(|| format!("unknown token scope '{scope}'"))
}

/// A new token's id: 16 hex characters.
pub(super) fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// What the tokens whose ids start with a prefix (a few of them) make of it.
pub(super) fn lookup(mut rows: Vec<TokenRow>) -> TokenLookup {
    match rows.len() {
        0 => TokenLookup::NotFound,
        1 => TokenLookup::Found(rows.remove(0)),
        _ => TokenLookup::Ambiguous(rows.into_iter().map(|row| row.id).collect()),
    }
}

fn token(row: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
    let scope: String = row.get(2)?;
    let scope = stored_scope(&scope).map_err(|message| {
        rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, message.into())
    })?;
    Ok(TokenRow {
        id: row.get(0)?,
        name: row.get(1)?,
        scope,
        created_at_us: row.get(3)?,
        last_used_at_us: row.get(4)?,
        revoked_at_us: row.get(5)?,
    })
}

/// Whether the store has the table (a store last opened by an older flux, read by a command).
fn has_table(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = '_flux_tokens')",
        [],
        |row| row.get(0),
    )
}

/// Every token, oldest first.
pub(super) fn list(conn: &Connection) -> rusqlite::Result<Vec<TokenRow>> {
    if !has_table(conn)? {
        return Ok(Vec::new());
    }
    conn.prepare(&format!(
        "SELECT {COLUMNS} FROM _flux_tokens ORDER BY created_at_us, id"
    ))?
    .query_map([], token)?
    .collect()
}

/// The token whose hash (or session's hash) is `hash`.
pub(super) fn by_hash(
    conn: &Connection,
    key: TokenKey,
    hash: &str,
) -> rusqlite::Result<Option<TokenRow>> {
    if !has_table(conn)? {
        return Ok(None);
    }
    let column = match key {
        TokenKey::Token => "hash",
        TokenKey::Session => "session_hash",
    };
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM _flux_tokens WHERE {column} = ?1"
    ))?
    .query_row([hash], token)
    .optional()
}

/// Stores a new token; returns its row.
pub(super) fn insert(conn: &Connection, new: &NewToken, now_us: i64) -> rusqlite::Result<TokenRow> {
    let id = new_id();
    conn.execute(
        "INSERT INTO _flux_tokens (id, name, scope, hash, session_hash, created_at_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id,
            new.name,
            new.scope.as_str(),
            new.hash,
            new.session_hash,
            now_us
        ],
    )?;
    Ok(TokenRow {
        id,
        name: new.name.clone(),
        scope: new.scope,
        created_at_us: now_us,
        last_used_at_us: None,
        revoked_at_us: None,
    })
}

/// The token whose id starts with `prefix` (lowercase hex).
pub(super) fn find(conn: &Connection, prefix: &str) -> rusqlite::Result<TokenLookup> {
    let rows: Vec<TokenRow> = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM _flux_tokens WHERE substr(id, 1, length(?1)) = ?1 LIMIT 5"
        ))?
        .query_map([prefix], token)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(lookup(rows))
}

/// Makes token `id` stop working at `at_us`, unless it already stops sooner.
pub(super) fn revoke(conn: &Connection, id: &str, at_us: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE _flux_tokens SET revoked_at_us = ?2
         WHERE id = ?1 AND (revoked_at_us IS NULL OR revoked_at_us > ?2)",
        params![id, at_us],
    )?;
    Ok(())
}

/// Notes that token `id` was used at `at_us`.
pub(super) fn touch(conn: &Connection, id: &str, at_us: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE _flux_tokens SET last_used_at_us = max(coalesce(last_used_at_us, 0), ?2)
         WHERE id = ?1",
        params![id, at_us],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().expect("db");
        conn.execute_batch(SCHEMA).expect("schema");
        conn
    }

    fn new(name: &str, hash: &str) -> NewToken {
        NewToken {
            name: name.into(),
            scope: Scope::Read,
            hash: hash.into(),
            session_hash: format!("s{hash}"),
        }
    }

    #[test]
    fn a_token_is_found_by_either_hash_and_its_id_prefix() {
        let conn = conn();
        let row = insert(&conn, &new("ci", "h1"), 10).expect("insert");
        assert_eq!(
            by_hash(&conn, TokenKey::Token, "h1").expect("by hash"),
            Some(row.clone())
        );
        assert_eq!(
            by_hash(&conn, TokenKey::Session, "sh1").expect("by session"),
            Some(row.clone())
        );
        assert_eq!(by_hash(&conn, TokenKey::Token, "sh1").expect("miss"), None);
        assert_eq!(
            find(&conn, &row.id[..4]).expect("find"),
            TokenLookup::Found(row.clone())
        );
        assert_eq!(list(&conn).expect("list"), [row]);
    }

    #[test]
    fn a_revocation_never_postpones_an_earlier_one() {
        let conn = conn();
        let row = insert(&conn, &new("ci", "h1"), 10).expect("insert");
        revoke(&conn, &row.id, 100).expect("grace");
        revoke(&conn, &row.id, 50).expect("now");
        revoke(&conn, &row.id, 200).expect("later");
        let stored = list(&conn).expect("list").remove(0);
        assert_eq!(stored.revoked_at_us, Some(50));
        // The row the API answers with says the same as the store.
        let answered = row.clone().revoked_at(100).revoked_at(50).revoked_at(200);
        assert_eq!(answered.revoked_at_us, stored.revoked_at_us);
        assert!(stored.is_live(49) && !stored.is_live(50));
        touch(&conn, &row.id, 70).expect("touch");
        touch(&conn, &row.id, 60).expect("older touch");
        assert_eq!(list(&conn).expect("list")[0].last_used_at_us, Some(70));
    }

    #[test]
    fn an_older_store_without_the_table_has_no_tokens() {
        let conn = Connection::open_in_memory().expect("db");
        assert!(list(&conn).expect("list").is_empty());
        assert_eq!(by_hash(&conn, TokenKey::Token, "h").expect("lookup"), None);
    }
}
