//! Captured emails on PostgreSQL, as `flux email list|show` reads them.

use postgres::GenericClient;

use super::super::{Email, NewEmail, Result};

const COLUMNS: &str = "seq, record_id, recipient, subject, template, created_at_us";

/// Stores `email`; returns its number. Through `_flux_store_email` (`schema.rs`), which the
/// sandbox's connection may call with `key` inside a user's transaction.
pub(super) fn insert(
    client: &mut impl GenericClient,
    key: Option<&str>,
    email: &NewEmail,
) -> Result<i64> {
    let row = client.query_one(
        "SELECT _flux_store_email($1, $2, $3, $4, $5, $6, $7)",
        &[
            &key,
            &email.record_id,
            &email.to,
            &email.subject,
            &email.template,
            &email.html,
            &email.created_at_us,
        ],
    )?;
    Ok(row.get(0))
}

fn email(row: &postgres::Row) -> Email {
    Email {
        id: row.get(0),
        record_id: row.get(1),
        to: row.get(2),
        subject: row.get(3),
        template: row.get(4),
        sent_at_us: row.get(5),
        html: None,
    }
}

pub(super) fn list(client: &mut impl GenericClient, limit: usize) -> Result<Vec<Email>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(client
        .query(
            &format!("SELECT {COLUMNS} FROM _flux_emails ORDER BY seq DESC LIMIT $1"),
            &[&limit],
        )?
        .iter()
        .map(email)
        .collect())
}

pub(super) fn find(client: &mut impl GenericClient, id: i64) -> Result<Option<Email>> {
    Ok(client
        .query_opt(
            &format!("SELECT {COLUMNS}, html FROM _flux_emails WHERE seq = $1"),
            &[&id],
        )?
        .map(|row| Email {
            html: Some(row.get(6)),
            ..email(&row)
        }))
}
