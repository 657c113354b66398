//! Row changes on PostgreSQL, which has no pre-update hook: an `AFTER … FOR EACH ROW` trigger
//! on every app table stages each changed row's before and after images, and flux takes its
//! statement's staged rows right after it ran.
//!
//! - The trigger fires only when the transaction set `flux.capture` (flux's statements do), so
//!   psql's or another tool's writes cost one setting lookup and stage nothing.
//! - Staged rows are keyed by the transaction (`pg_current_xact_id()`), in an UNLOGGED table
//!   (they never outlive their transaction, so they need no WAL): no temporary table or other
//!   session state, so it works behind PgBouncer in transaction mode.
//! - Images are `row_to_json`, which keeps the columns' order (`to_jsonb` would sort them).
//! - The trigger function is SECURITY DEFINER (owned by flux's role) so that the sandbox role
//!   that runs user statements can stage rows without any right on the staging table.
//!
//! The sandbox: user statements run as a role flux creates per database (`<db>_flux_sql`),
//! not superuser, without rights on flux's tables (`_flux_*`) or the server's files and
//! programs, owning the tables it creates and granted the app tables it did not create.

use postgres::{SimpleQueryMessage, Transaction};
use serde_json::{Map, Value};
use std::collections::HashMap;

use super::user_sql::quote_identifier;
use crate::record::{Mutation, MutationOp};
use crate::store::Result;

const STAGING: &str = r#"
CREATE UNLOGGED TABLE IF NOT EXISTS _flux_staged (
    ord bigserial PRIMARY KEY,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    tbl text NOT NULL,
    op text NOT NULL,
    before text,
    after text
);
CREATE INDEX IF NOT EXISTS _flux_staged_xid ON _flux_staged (xid);
CREATE OR REPLACE FUNCTION _flux_capture() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO @SCHEMA@._flux_staged (tbl, op, after)
        VALUES (TG_TABLE_NAME, TG_OP, row_to_json(NEW)::text);
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO @SCHEMA@._flux_staged (tbl, op, before, after)
        VALUES (TG_TABLE_NAME, TG_OP, row_to_json(OLD)::text, row_to_json(NEW)::text);
    ELSE
        INSERT INTO @SCHEMA@._flux_staged (tbl, op, before)
        VALUES (TG_TABLE_NAME, TG_OP, row_to_json(OLD)::text);
    END IF;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION _flux_capture() FROM PUBLIC;
"#;

/// Held while adding triggers: any 64-bit key flux alone uses (`flux_cap`).
const REFRESH_LOCK: i64 = 0x666c_7578_5f63_6170;

/// The longest name PostgreSQL keeps.
const NAME_BYTES: usize = 63;

/// Creates the sandbox role, the staging table and the trigger function, and captures every
/// app table. Returns the role's name.
pub(super) fn install(tx: &mut Transaction<'_>) -> Result<String> {
    // Connections opening at once (two transactions begun together) would grant at once,
    // and PostgreSQL fails the second with "tuple concurrently updated".
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&REFRESH_LOCK])?;
    let row = tx.query_one(
        "SELECT current_database()::text, current_schema()::text, \
         (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)",
        &[],
    )?;
    let database: String = row.get(0);
    let schema: String = row.get(1);
    let superuser: bool = row.get(2);
    let mut role = format!("{database}_flux_sql");
    while role.len() > NAME_BYTES {
        role.pop();
    }
    let quoted = quote_identifier(&role);
    // Another database's flux may create a role of the same name at the same moment.
    tx.batch_execute(&format!(
        "DO $$ BEGIN CREATE ROLE {quoted} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;"
    ))?;
    if !superuser {
        // To own the sandbox's tables' triggers, flux's role acts as the sandbox role.
        tx.batch_execute(&format!("GRANT {quoted} TO CURRENT_USER"))?;
    }
    tx.batch_execute(&format!(
        "GRANT USAGE, CREATE ON SCHEMA {} TO {quoted}",
        quote_identifier(&schema)
    ))?;
    tx.batch_execute(&STAGING.replace("@SCHEMA@", &quote_identifier(&schema)))?;
    refresh(tx, &role)?;
    Ok(role)
}

/// Grants the sandbox role the app tables it lacks and puts the trigger on the tables without
/// it (flux's own tables excepted).
pub(super) fn refresh(tx: &mut Transaction<'_>, role: &str) -> Result<()> {
    // Two processes refreshing at once would both add the trigger, and the second fail.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&REFRESH_LOCK])?;
    let tables = tx.query(
        "SELECT c.relname::text, c.relkind = 'S', \
             CASE c.relkind WHEN 'S' THEN has_sequence_privilege($1, c.oid, 'USAGE,SELECT,UPDATE') \
             ELSE has_table_privilege($1, c.oid, 'SELECT,INSERT,UPDATE,DELETE') END, \
             c.relkind IN ('r', 'p') AND NOT EXISTS (SELECT 1 FROM pg_trigger t \
                 WHERE t.tgrelid = c.oid AND t.tgname = '_flux_capture') \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') \
             AND NOT c.relispartition AND c.relname NOT LIKE '\\_flux\\_%'",
        &[&role],
    )?;
    let quoted_role = quote_identifier(role);
    for row in tables {
        let table = quote_identifier(row.get::<_, &str>(0));
        let sequence: bool = row.get(1);
        let granted: bool = row.get(2);
        let uncaptured: bool = row.get(3);
        if !granted {
            let kind = if sequence { "SEQUENCE" } else { "TABLE" };
            tx.batch_execute(&format!("GRANT ALL ON {kind} {table} TO {quoted_role}"))?;
        }
        if uncaptured {
            tx.batch_execute(&format!(
                "CREATE TRIGGER _flux_capture AFTER INSERT OR UPDATE OR DELETE ON {table} \
                 FOR EACH ROW WHEN (pg_catalog.current_setting('flux.capture', true) = 'on') \
                 EXECUTE FUNCTION _flux_capture()"
            ))?;
        }
    }
    Ok(())
}

/// A staged row change: table, operation, and the images as JSON text.
pub(super) struct Staged {
    table: String,
    op: MutationOp,
    before: Option<String>,
    after: Option<String>,
}

/// Ends the statement's savepoint as flux's role again and takes the rows it staged, in the
/// order they changed (one round trip).
pub(super) fn take(tx: &mut Transaction<'_>) -> std::result::Result<Vec<Staged>, postgres::Error> {
    let messages = tx.simple_query(
        "RESET ROLE; SET LOCAL flux.capture = 'off'; SET LOCAL statement_timeout = 0; \
         RESET search_path; RELEASE SAVEPOINT flux_statement; \
         WITH taken AS (DELETE FROM _flux_staged WHERE xid = pg_current_xact_id_if_assigned() \
             RETURNING ord, tbl, op, before, after) \
         SELECT tbl, op, before, after FROM taken ORDER BY ord",
    )?;
    Ok(messages
        .iter()
        .filter_map(|message| match message {
            SimpleQueryMessage::Row(row) => Some(Staged {
                table: row.get(0).unwrap_or_default().to_string(),
                op: match row.get(1) {
                    Some("INSERT") => MutationOp::Insert,
                    Some("DELETE") => MutationOp::Delete,
                    _ => MutationOp::Update,
                },
                before: row.get(2).map(String::from),
                after: row.get(3).map(String::from),
            }),
            _ => None,
        })
        .collect())
}

/// The primary-key columns of the tables seen, in key order.
#[derive(Default)]
pub(super) struct Keys(HashMap<String, Vec<String>>);

impl Keys {
    pub(super) fn clear(&mut self) {
        self.0.clear();
    }

    /// The staged changes as flux's mutations (committed: the statement succeeded).
    pub(super) fn mutations(
        &mut self,
        tx: &mut Transaction<'_>,
        staged: Vec<Staged>,
    ) -> std::result::Result<Vec<Mutation>, postgres::Error> {
        let mut mutations = Vec::with_capacity(staged.len());
        for change in staged {
            let before = image(change.before.as_deref());
            let after = image(change.after.as_deref());
            let key = self.key(tx, &change.table)?;
            let pk = primary_key(key, after.as_ref().or(before.as_ref()));
            mutations.push(Mutation {
                table: change.table,
                pk,
                op: change.op,
                before,
                after,
                committed: true,
                span: None,
                at_us: 0,
            });
        }
        Ok(mutations)
    }

    fn key(
        &mut self,
        tx: &mut Transaction<'_>,
        table: &str,
    ) -> std::result::Result<&[String], postgres::Error> {
        if !self.0.contains_key(table) {
            let columns = tx
                .query(
                    "SELECT a.attname::text FROM pg_index i \
                     CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) \
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                     WHERE i.indrelid = to_regclass(quote_ident($1)) AND i.indisprimary \
                     ORDER BY k.n",
                    &[&table],
                )?
                .iter()
                .map(|row| row.get(0))
                .collect();
            self.0.insert(table.to_string(), columns);
        }
        Ok(self.0.get(table).map_or(&[][..], Vec::as_slice))
    }
}

fn image(json: Option<&str>) -> Option<Map<String, Value>> {
    json.and_then(|text| serde_json::from_str(text).ok())
}

/// The key's value in the row: one column's value, several as an array, null without a key.
fn primary_key(key: &[String], image: Option<&Map<String, Value>>) -> Value {
    let mut values: Vec<Value> = key
        .iter()
        .filter_map(|column| image.and_then(|row| row.get(column)).cloned())
        .collect();
    match values.len() {
        0 => Value::Null,
        1 => values.remove(0),
        _ => Value::Array(values),
    }
}
