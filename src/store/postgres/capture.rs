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
//! - The trigger function runs as the role that wrote (SECURITY INVOKER): the sandbox role may
//!   insert into the staging table's `tbl`, `op`, `before` and `after` columns only, so the
//!   `xid` is always its own transaction's, and `row_to_json`, which calls a cast a user
//!   defined from their own type to json, runs with the user's rights, not flux's.
//! - Flux takes a statement's staged rows with `_flux_take_staged()`, a SECURITY DEFINER
//!   function that deletes and returns the calling transaction's rows only. User SQL may call
//!   it too: it then hides its own transaction's changes from its record, which it can do
//!   anyway (`set_config('flux.capture', 'off', true)`, or dropping the trigger of a table it
//!   owns); capture records what functions did, it does not police them.
//! - `_flux_refresh()` (SECURITY DEFINER, so it can run in the user's transaction, which
//!   alone sees a table it just created) gives the sandbox role the app tables: the ones flux's
//!   role owns become the sandbox's (so a migration can alter them), the others are granted,
//!   and every table gets the trigger.

use postgres::{SimpleQueryMessage, Transaction};
use serde_json::{Map, Value};
use std::collections::HashMap;

use super::schema::in_schema;
use crate::record::{Mutation, MutationOp};
use crate::store::Result;

/// `@S@` is the schema, quoted; `@SL@` that as a literal; `@ROLE@` the sandbox role's name as
/// a literal; `@LOCK@` [`REFRESH_LOCK`].
const STAGING: &str = r#"
-- Only when missing: even `CREATE INDEX IF NOT EXISTS` takes the table's lock first, which
-- waits for (and deadlocked with) the other processes' captures.
DO $flux$ BEGIN
IF to_regclass(@SL@ || '._flux_staged') IS NULL THEN
CREATE UNLOGGED TABLE @S@._flux_staged (
    ord bigserial PRIMARY KEY,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    tbl text NOT NULL,
    op text NOT NULL,
    before text,
    after text
);
CREATE INDEX _flux_staged_xid ON @S@._flux_staged (xid);
END IF;
END $flux$;
REVOKE ALL ON @S@._flux_staged FROM PUBLIC;
GRANT INSERT (tbl, op, before, after) ON @S@._flux_staged TO @ROLEID@;
GRANT USAGE ON SEQUENCE @S@._flux_staged_ord_seq TO @ROLEID@;
CREATE OR REPLACE FUNCTION @S@._flux_capture() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO @S@._flux_staged (tbl, op, after)
        VALUES (TG_TABLE_NAME, TG_OP, row_to_json(NEW)::text);
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO @S@._flux_staged (tbl, op, before, after)
        VALUES (TG_TABLE_NAME, TG_OP, row_to_json(OLD)::text, row_to_json(NEW)::text);
    ELSE
        INSERT INTO @S@._flux_staged (tbl, op, before)
        VALUES (TG_TABLE_NAME, TG_OP, row_to_json(OLD)::text);
    END IF;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION @S@._flux_capture() FROM PUBLIC;

-- PL/pgSQL keeps its plan for the session; a SQL function's body is planned at every call.
CREATE OR REPLACE FUNCTION @S@._flux_take_staged()
RETURNS TABLE (tbl text, op text, before text, after text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY WITH taken AS (
        DELETE FROM @S@._flux_staged s WHERE s.xid = pg_current_xact_id_if_assigned()
        RETURNING s.ord, s.tbl, s.op, s.before, s.after)
    SELECT taken.tbl, taken.op, taken.before, taken.after FROM taken ORDER BY taken.ord;
END $$;
REVOKE ALL ON FUNCTION @S@._flux_take_staged() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @S@._flux_take_staged() TO @ROLEID@;

CREATE OR REPLACE FUNCTION @S@._flux_refresh() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t record;
BEGIN
    -- Two transactions refreshing at once would both add a trigger, and the second fail.
    PERFORM pg_advisory_xact_lock(@LOCK@);
    FOR t IN
        SELECT c.oid::regclass AS name, c.relkind,
            c.relkind IN ('r', 'p') AND c.relowner = (SELECT r.oid FROM pg_roles r
                WHERE r.rolname = current_user) AS ours,
            CASE c.relkind WHEN 'S' THEN has_sequence_privilege(@ROLE@, c.oid, 'USAGE,SELECT,UPDATE')
                ELSE has_table_privilege(@ROLE@, c.oid, 'SELECT,INSERT,UPDATE,DELETE') END AS granted,
            c.relkind IN ('r', 'p') AND NOT EXISTS (SELECT 1 FROM pg_trigger g
                WHERE g.tgrelid = c.oid AND g.tgname = '_flux_capture') AS uncaptured
        FROM pg_class c
        WHERE c.relnamespace = @SL@::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
            AND NOT c.relispartition AND c.relname NOT LIKE '\_flux\_%'
    LOOP
        IF t.ours THEN
            EXECUTE format('ALTER TABLE %s OWNER TO %I', t.name, @ROLE@);
        ELSIF NOT t.granted THEN
            EXECUTE format('GRANT ALL ON %s %s TO %I',
                CASE t.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, t.name, @ROLE@);
        END IF;
        IF t.uncaptured THEN
            EXECUTE format('CREATE TRIGGER _flux_capture AFTER INSERT OR UPDATE OR DELETE ON %s '
                'FOR EACH ROW WHEN (pg_catalog.current_setting(''flux.capture'', true) = ''on'') '
                'EXECUTE FUNCTION @S@._flux_capture()', t.name);
        END IF;
    END LOOP;
END $$;
REVOKE ALL ON FUNCTION @S@._flux_refresh() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @S@._flux_refresh() TO @ROLEID@;
"#;

/// Held while adding triggers: any 64-bit key flux alone uses (`flux_cap`).
const REFRESH_LOCK: i64 = 0x666c_7578_5f63_6170;

/// Creates the staging table and the capture's functions in `schema` for the sandbox `role`,
/// and captures every app table.
pub(super) fn install(tx: &mut Transaction<'_>, schema: &str, role: &str) -> Result<()> {
    let sql = in_schema(STAGING, schema)
        .replace("@ROLEID@", &super::user_sql::quote_identifier(role))
        .replace("@ROLE@", &format!("'{}'", role.replace('\'', "''")))
        .replace("@LOCK@", &REFRESH_LOCK.to_string());
    tx.batch_execute(&sql)?;
    refresh(tx, schema)?;
    Ok(())
}

/// Gives the sandbox role the app tables it lacks and puts the trigger on the tables without
/// it (flux's own tables excepted), in `tx`'s transaction, whichever role it runs as.
pub(super) fn refresh(tx: &mut Transaction<'_>, schema: &str) -> Result<()> {
    tx.batch_execute(&in_schema("SELECT @S@._flux_refresh()", schema))?;
    Ok(())
}

/// A staged row change: table, operation, and the images as JSON text.
pub(super) struct Staged {
    table: String,
    op: MutationOp,
    before: Option<String>,
    after: Option<String>,
}

/// Ends the statement's savepoint and takes the rows it staged, in the order they changed
/// (one round trip; `schema` is where flux's tables are).
pub(super) fn take(
    tx: &mut Transaction<'_>,
    schema: &str,
) -> std::result::Result<Vec<Staged>, postgres::Error> {
    let messages = tx.simple_query(&in_schema(
        "SET LOCAL flux.capture = 'off'; SET LOCAL statement_timeout = 0; \
         RESET search_path; RELEASE SAVEPOINT flux_statement; \
         SELECT tbl, op, before, after FROM @S@._flux_take_staged()",
        schema,
    ))?;
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

    pub(super) fn key(
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
