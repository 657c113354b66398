//! Row changes on PostgreSQL, which has no pre-update hook: an `AFTER … FOR EACH ROW` trigger
//! on every app table stages each changed row's before and after images, and flux takes its
//! statement's staged rows right after it ran.
//!
//! - The trigger fires only when the transaction set `flux.capture` (flux's statements do), so
//!   psql's or another tool's writes cost one setting lookup and stage nothing.
//! - A statement's changes are staged in the transaction's own setting `flux.staged`
//!   (`set_config(…, true)`: undone with a rolled-back savepoint, gone at the transaction's
//!   end, no WAL and no table to clean), as `change,change,…`. Past [`SPILL_BYTES`] they move
//!   to a row of the UNLOGGED `_flux_spilled`, keyed by the transaction
//!   (`pg_current_xact_id()`), so a statement changing many rows does not copy an ever longer
//!   setting at each row. No temporary table or other session state: it works behind
//!   PgBouncer in transaction mode.
//! - Images are `row_to_json`, which keeps the columns' order (`to_jsonb` would sort them).
//! - The trigger function runs as the role that wrote (SECURITY INVOKER): the sandbox role may
//!   insert into `_flux_spilled`'s `changes` only, so the `xid` is always its own
//!   transaction's, and `row_to_json`, which calls a cast a user defined from their own type
//!   to json, runs with the user's rights, not flux's.
//! - Flux reads a statement's staged changes right after it, and takes the spilled ones with
//!   `_flux_take_spilled()`, a SECURITY DEFINER function that deletes and returns the calling
//!   transaction's rows only. User SQL may call it, or set `flux.staged`, too: it then hides
//!   or makes up its own transaction's changes in its record, which it can do anyway
//!   (`set_config('flux.capture', 'off', true)`, or dropping the trigger of a table it owns);
//!   capture records what functions did, it does not police them.
//! - `_flux_refresh()` (SECURITY DEFINER, so it can run in the user's transaction, which
//!   alone sees a table it just created) gives the sandbox role the app tables: the ones flux's
//!   role owns become the sandbox's (so a migration can alter them), the others are granted,
//!   and every table gets the trigger.

use postgres::{GenericClient, SimpleQueryMessage, Transaction};
use serde_json::{Map, Value};
use std::collections::HashMap;

use super::schema::in_schema;
use crate::record::{Mutation, MutationOp};
use crate::store::Result;

/// `@S@` is the schema, quoted; `@SL@` that as a literal; `@ROLE@` the sandbox role's name as
/// a literal; `@LOCK@` [`REFRESH_LOCK`]; `@SPILL@` [`SPILL_BYTES`].
const STAGING: &str = r#"
-- Only when missing: even `CREATE INDEX IF NOT EXISTS` takes the table's lock first, which
-- waits for (and deadlocked with) the other processes' captures.
DO $flux$ BEGIN
IF to_regclass(@SL@ || '._flux_spilled') IS NULL THEN
CREATE UNLOGGED TABLE @S@._flux_spilled (
    ord bigserial PRIMARY KEY,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    changes text NOT NULL
);
CREATE INDEX _flux_spilled_xid ON @S@._flux_spilled (xid);
END IF;
-- Earlier versions staged every row in a table.
IF to_regclass(@SL@ || '._flux_staged') IS NOT NULL THEN
DROP FUNCTION IF EXISTS @S@._flux_take_staged();
DROP TABLE @S@._flux_staged;
END IF;
END $flux$;
REVOKE ALL ON @S@._flux_spilled FROM PUBLIC;
GRANT INSERT (changes) ON @S@._flux_spilled TO @ROLEID@;
GRANT USAGE ON SEQUENCE @S@._flux_spilled_ord_seq TO @ROLEID@;
-- No `SET search_path` (it would cost a configuration change per row): every name is
-- qualified, and the function runs with the writer's rights only.
CREATE OR REPLACE FUNCTION @S@._flux_capture() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE
    staged text := pg_catalog.current_setting('flux.staged', true);
    change text := pg_catalog.json_build_array(TG_TABLE_NAME, TG_OP,
        CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN pg_catalog.row_to_json(OLD) END,
        CASE WHEN TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN pg_catalog.row_to_json(NEW) END
    )::text;
BEGIN
    IF staged IS NULL OR staged OPERATOR(pg_catalog.=) '' THEN
        staged := change;
    ELSE
        staged := staged OPERATOR(pg_catalog.||) ',' OPERATOR(pg_catalog.||) change;
    END IF;
    IF pg_catalog.octet_length(staged) OPERATOR(pg_catalog.>) @SPILL@ THEN
        INSERT INTO @S@._flux_spilled (changes) VALUES (staged);
        PERFORM pg_catalog.set_config('flux.spilled', 'on', true);
        staged := '';
    END IF;
    PERFORM pg_catalog.set_config('flux.staged', staged, true);
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION @S@._flux_capture() FROM PUBLIC;

-- PL/pgSQL keeps its plan for the session; a SQL function's body is planned at every call.
-- Without parameters, its plan is made once, from the statistics of then: planned on an
-- empty table it read every row left to vacuum at each take.
CREATE OR REPLACE FUNCTION @S@._flux_take_spilled() RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off AS $$
DECLARE
    taken text;
BEGIN
    WITH gone AS (
        DELETE FROM @S@._flux_spilled s WHERE s.xid = pg_current_xact_id_if_assigned()
        RETURNING s.ord, s.changes)
    SELECT string_agg(gone.changes, ',' ORDER BY gone.ord) INTO taken FROM gone;
    RETURN taken;
END $$;
REVOKE ALL ON FUNCTION @S@._flux_take_spilled() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @S@._flux_take_spilled() TO @ROLEID@;

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

/// A transaction's staged changes move from its setting to `_flux_spilled` past this many
/// bytes: each row's change copies the setting, so it stays short.
const SPILL_BYTES: usize = 8192;

/// Creates the staging table and the capture's functions in `schema` for the sandbox `role`,
/// and captures every app table.
pub(super) fn install(tx: &mut Transaction<'_>, schema: &str, role: &str) -> Result<()> {
    let sql = in_schema(STAGING, schema)
        .replace("@ROLEID@", &super::user_sql::quote_identifier(role))
        .replace("@ROLE@", &format!("'{}'", role.replace('\'', "''")))
        .replace("@LOCK@", &REFRESH_LOCK.to_string())
        .replace("@SPILL@", &SPILL_BYTES.to_string());
    tx.batch_execute(&sql)?;
    tx.batch_execute(&in_schema(super::schema::OWN_FUNCTIONS, schema))?;
    refresh(tx, schema)?;
    Ok(())
}

/// Gives the sandbox role the app tables it lacks and puts the trigger on the tables without
/// it (flux's own tables excepted), in `tx`'s transaction, whichever role it runs as.
pub(super) fn refresh(tx: &mut Transaction<'_>, schema: &str) -> Result<()> {
    tx.batch_execute(&in_schema("SELECT @S@._flux_refresh()", schema))?;
    Ok(())
}

/// A staged row change: table, operation, and the images.
pub(super) struct Staged {
    table: String,
    op: MutationOp,
    before: Option<Map<String, Value>>,
    after: Option<Map<String, Value>>,
}

/// Ends the statement's savepoint and takes the changes it staged, in the order they were
/// made (one round trip; `schema` is where flux's tables are).
pub(super) fn take(
    client: &mut impl GenericClient,
    schema: &str,
) -> std::result::Result<Vec<Staged>, postgres::Error> {
    take_then(
        client,
        schema,
        "@SETTLE@; RELEASE SAVEPOINT flux_statement; @TAKE@; \
         SET LOCAL flux.staged = ''; SET LOCAL flux.spilled = ''",
    )
}

/// Takes the changes a lone statement staged and commits its transaction, first giving the
/// sandbox the tables it may have created (`refresh`) (one round trip). Its settings need no
/// undoing: the commit ends them, and nothing else runs in its transaction.
pub(super) fn take_and_commit(
    client: &mut impl GenericClient,
    schema: &str,
    refresh: bool,
) -> std::result::Result<Vec<Staged>, postgres::Error> {
    let then = match refresh {
        true => "SELECT @S@._flux_refresh(); @TAKE@; COMMIT",
        false => "@TAKE@; COMMIT",
    };
    take_then(client, schema, then)
}

/// Runs `then` (see [`take_sql`]).
fn take_then(
    client: &mut impl GenericClient,
    schema: &str,
    then: &str,
) -> std::result::Result<Vec<Staged>, postgres::Error> {
    let messages = client.simple_query(&take_sql(schema, then))?;
    Ok(staged_in(&messages))
}

/// `sql` with `@SETTLE@` undoing a statement's settings (capture, timeout, search path) and
/// `@TAKE@` reading its staged changes (for [`staged_in`]; every name and operator qualified,
/// since the statement may have set its own `search_path`).
pub(super) fn take_sql(schema: &str, sql: &str) -> String {
    let settle = "SET LOCAL flux.capture = 'off'; SET LOCAL statement_timeout = 0; \
                  RESET search_path";
    let take = "SELECT CASE WHEN pg_catalog.current_setting('flux.spilled', true) \
                OPERATOR(pg_catalog.=) 'on' \
                THEN @S@._flux_take_spilled() END, \
                pg_catalog.current_setting('flux.staged', true)";
    in_schema(
        &sql.replace("@SETTLE@", settle).replace("@TAKE@", take),
        schema,
    )
}

/// The staged changes in a simple query's messages: the take's row, with the spilled and the
/// staged changes (the other statements' rows have one column or none).
pub(super) fn staged_in(messages: &[SimpleQueryMessage]) -> Vec<Staged> {
    let mut changes = String::new();
    for message in messages {
        if let SimpleQueryMessage::Row(row) = message {
            if row.len() != 2 {
                continue;
            }
            for part in [row.get(0), row.get(1)].into_iter().flatten() {
                if !part.is_empty() {
                    if !changes.is_empty() {
                        changes.push(',');
                    }
                    changes.push_str(part);
                }
            }
        }
    }
    staged(&changes)
}

/// The changes staged as `change,change,…`, each `[table, op, before, after]`. User SQL may
/// set the setting too (hiding or making up its own changes, as it could by writing with
/// `flux.capture` off): what does not parse is left out.
fn staged(changes: &str) -> Vec<Staged> {
    if changes.is_empty() {
        return Vec::new();
    }
    let Ok(Value::Array(entries)) = serde_json::from_str(&format!("[{changes}]")) else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|entry| {
            let Value::Array(fields) = entry else {
                return None;
            };
            let mut fields = fields.into_iter();
            let (Some(Value::String(table)), Some(Value::String(op))) =
                (fields.next(), fields.next())
            else {
                return None;
            };
            let mut image = || match fields.next() {
                Some(Value::Object(row)) => Some(row),
                _ => None,
            };
            let (before, after) = (image(), image());
            Some(Staged {
                table,
                op: match op.as_str() {
                    "INSERT" => MutationOp::Insert,
                    "DELETE" => MutationOp::Delete,
                    _ => MutationOp::Update,
                },
                before,
                after,
            })
        })
        .collect()
}

/// The primary-key columns of the tables seen, in key order.
#[derive(Default)]
pub(super) struct Keys(HashMap<String, Vec<String>>);

impl Keys {
    pub(super) fn clear(&mut self) {
        self.0.clear();
    }

    /// The staged changes as flux's mutations (committed: the statement succeeded), keyed by
    /// the primary keys of their tables in `schema` (null where a key could not be read: the
    /// statement's outcome stands either way).
    pub(super) fn mutations(
        &mut self,
        client: &mut impl GenericClient,
        schema: &str,
        staged: Vec<Staged>,
    ) -> Vec<Mutation> {
        let mut mutations = Vec::with_capacity(staged.len());
        for Staged {
            table,
            op,
            before,
            after,
        } in staged
        {
            let key = self.key(client, schema, &table).unwrap_or(&[]);
            let pk = primary_key(key, after.as_ref().or(before.as_ref()));
            mutations.push(Mutation {
                table,
                pk,
                op,
                before,
                after,
                committed: true,
                span: None,
                at_us: 0,
            });
        }
        mutations
    }

    /// The primary-key columns of `schema`'s `table`. Every name and operator is qualified:
    /// it may run after a statement that set its own `search_path` or made a temporary table
    /// of the same name, and what it finds is kept for the connection's later executions.
    pub(super) fn key(
        &mut self,
        client: &mut impl GenericClient,
        schema: &str,
        table: &str,
    ) -> std::result::Result<&[String], postgres::Error> {
        if !self.0.contains_key(table) {
            let columns = client
                .query(
                    "SELECT a.attname::pg_catalog.text FROM pg_catalog.pg_index i \
                     CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::pg_catalog.int2[]) \
                         WITH ORDINALITY AS k(attnum, n) \
                     JOIN pg_catalog.pg_attribute a \
                         ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid \
                         AND a.attnum OPERATOR(pg_catalog.=) k.attnum \
                     WHERE i.indrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(\
                         pg_catalog.format('%I.%I', $1::pg_catalog.text, $2::pg_catalog.text)) \
                     AND i.indisprimary ORDER BY k.n",
                    &[&schema, &table],
                )?
                .iter()
                .map(|row| row.get(0))
                .collect();
            self.0.insert(table.to_string(), columns);
        }
        Ok(self.0.get(table).map_or(&[][..], Vec::as_slice))
    }
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
