//! The emails `ctx.email.send` captured, as `flux email list|show` reads them.

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

/// One captured email; `html` only when one email is read whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Email {
    /// Its number in the store, shown by `flux email list` and `flux trace`.
    pub id: i64,
    /// The execution that sent it.
    pub record_id: String,
    pub to: String,
    pub subject: String,
    pub template: String,
    pub sent_at_us: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

/// An email to store, as `ctx.email.send` captured it.
pub struct NewEmail {
    pub record_id: String,
    pub to: String,
    pub subject: String,
    pub template: String,
    pub html: String,
    pub created_at_us: i64,
}

/// Stores `email`; returns its number.
pub(super) fn insert(conn: &Connection, email: &NewEmail) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO _flux_emails (record_id, recipient, subject, template, html, created_at_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        rusqlite::params![
            email.record_id,
            email.to,
            email.subject,
            email.template,
            email.html,
            email.created_at_us
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

const COLUMNS: &str = "seq, record_id, recipient, subject, template, created_at_us";

fn email(row: &rusqlite::Row<'_>) -> rusqlite::Result<Email> {
    Ok(Email {
        id: row.get(0)?,
        record_id: row.get(1)?,
        to: row.get(2)?,
        subject: row.get(3)?,
        template: row.get(4)?,
        sent_at_us: row.get(5)?,
        html: None,
    })
}

/// The newest `limit` emails, newest first, without their bodies.
pub(super) fn list(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<Email>> {
    let mut statement = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM _flux_emails ORDER BY seq DESC LIMIT ?1"
    ))?;
    let rows = statement.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], email)?;
    rows.collect()
}

/// Email number `id`, with its body.
pub(super) fn find(conn: &Connection, id: i64) -> rusqlite::Result<Option<Email>> {
    conn.query_row(
        &format!("SELECT {COLUMNS}, html FROM _flux_emails WHERE seq = ?1"),
        [id],
        |row| {
            Ok(Email {
                html: Some(row.get(6)?),
                ..email(row)?
            })
        },
    )
    .optional()
}
