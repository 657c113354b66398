//! Scoped access tokens on PostgreSQL (`_flux_tokens`, as [`super::super::tokens`] keeps them
//! on SQLite): reads for the guard and `flux token list`, writes on the caller's transaction.

use postgres::GenericClient;

use super::super::tokens::{
    lookup, new_id, stored_scope, NewToken, TokenKey, TokenLookup, TokenRow, COLUMNS,
};
use super::super::{Result, StoreError};

fn token(row: &postgres::Row) -> Result<TokenRow> {
    let scope: String = row.try_get(2)?;
    Ok(TokenRow {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        scope: stored_scope(&scope).map_err(|message| StoreError::BadRow {
            table: "_flux_tokens",
            message,
        })?,
        created_at_us: row.try_get(3)?,
        last_used_at_us: row.try_get(4)?,
        revoked_at_us: row.try_get(5)?,
    })
}

/// Every token, oldest first.
pub(super) fn list(client: &mut impl GenericClient) -> Result<Vec<TokenRow>> {
    client
        .query(
            &format!("SELECT {COLUMNS} FROM _flux_tokens ORDER BY created_at_us, id"),
            &[],
        )?
        .iter()
        .map(token)
        .collect()
}

/// The token whose hash (or session's hash) is `hash`.
pub(super) fn by_hash(
    client: &mut impl GenericClient,
    key: TokenKey,
    hash: &str,
) -> Result<Option<TokenRow>> {
    let column = match key {
        TokenKey::Token => "hash",
        TokenKey::Session => "session_hash",
    };
    client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM _flux_tokens WHERE {column} = $1"),
            &[&hash],
        )?
        .as_ref()
        .map(token)
        .transpose()
}

/// Stores a new token; returns its row.
pub(super) fn insert(
    client: &mut impl GenericClient,
    new: &NewToken,
    now_us: i64,
) -> Result<TokenRow> {
    let id = new_id();
    client.execute(
        "INSERT INTO _flux_tokens (id, name, scope, hash, session_hash, created_at_us)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &id,
            &new.name,
            &new.scope.as_str(),
            &new.hash,
            &new.session_hash,
            &now_us,
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
pub(super) fn find(client: &mut impl GenericClient, prefix: &str) -> Result<TokenLookup> {
    let rows = client.query(
        &format!("SELECT {COLUMNS} FROM _flux_tokens WHERE starts_with(id, $1) LIMIT 5"),
        &[&prefix],
    )?;
    Ok(lookup(rows.iter().map(token).collect::<Result<_>>()?))
}

/// Makes token `id` stop working at `at_us`, unless it already stops sooner.
pub(super) fn revoke(client: &mut impl GenericClient, id: &str, at_us: i64) -> Result<()> {
    client.execute(
        "UPDATE _flux_tokens SET revoked_at_us = $2
         WHERE id = $1 AND (revoked_at_us IS NULL OR revoked_at_us > $2)",
        &[&id, &at_us],
    )?;
    Ok(())
}

/// Notes that token `id` was used at `at_us`.
pub(super) fn touch(client: &mut impl GenericClient, id: &str, at_us: i64) -> Result<()> {
    client.execute(
        "UPDATE _flux_tokens SET last_used_at_us = greatest(coalesce(last_used_at_us, 0), $2)
         WHERE id = $1",
        &[&id, &at_us],
    )?;
    Ok(())
}
