//! flux's own tables on PostgreSQL, created idempotently under an advisory lock (several
//! processes may open one database at once) and stamped with a schema version.
//!
//! They mirror SQLite's (`store/mod.rs`, `jobs.rs`, `search.rs`) with three differences:
//! - `seq` is not assigned by the insert but taken from `_flux_seq` at the end of the
//!   writing transaction (see [`super::records::insert_writes`]), so it is commit order.
//! - Ids are `COLLATE "C"` text: an id prefix is a range of the plain b-tree index whatever
//!   the database's collation (SQLite's extra `id_hi` column is not needed).
//! - The search text is a column of the record, indexed with pg_trgm's GIN operator class
//!   when the extension can be created (a substring `ILIKE` then reads the index); without
//!   it a search scans the records.
//!
//! JSON stays `text` (the record's body, a job's data, row images): `jsonb` would reorder
//! object keys, and users read their data back in the order they wrote it.

use postgres::Client;

use super::super::{Result, StoreError};

/// The version of the tables below; a database stamped with a later one was made by a newer
/// flux and is refused, an earlier one gets what is missing. 2: jobs' `committed_attempt`
/// and the index of waiting jobs. 3: jobs indexed by state only where a state is looked up
/// (waiting, running, dead or cancelled). 4: waiting jobs indexed by worker too.
pub const VERSION: i32 = 4;

/// Schema 3's indexes of jobs by state, which a database of version 2 gets (they lock
/// `_flux_jobs` alone, so they cannot deadlock with the other processes' writers, which take
/// `_flux_jobs` before `_flux_records`; writes to jobs wait while they build).
///
/// Every write of a job's row (its insert, its claim, its outcome) changes its state, so none
/// is a HOT update and each adds an entry to every index whose predicate the new row meets:
/// partial indexes by state keep a finished job out of all but its id's, its next execution's
/// and its time of update's. A lease renewal changes `lease_until_us` only, which no index
/// holds, so it stays a HOT update.
const JOBS_BY_STATE: &str = "
DROP INDEX IF EXISTS _flux_jobs_due;
-- A process's running jobs (renewals, its stop), and the running jobs whose lease ran out.
CREATE INDEX IF NOT EXISTS _flux_jobs_leased ON _flux_jobs (lease_owner)
    WHERE state = 'running';
CREATE INDEX IF NOT EXISTS _flux_jobs_given_up ON _flux_jobs (updated_at_us)
    WHERE state IN ('dead', 'cancelled');
";

/// Schema 4's index, all that a database of version 3 gets: claims of some workers' jobs
/// (`claims::claim_among`) read each worker's waiting jobs in `run_at` order from it. A job
/// enters it when it starts waiting (an enqueue, a retry), not when it is claimed or ends.
const WAITING_BY_WORKER: &str = "
CREATE INDEX IF NOT EXISTS _flux_jobs_waiting_by_worker ON _flux_jobs (name, run_at_us)
    WHERE state IN ('pending', 'scheduled');
";

/// Held while creating the tables: any 64-bit key flux alone uses.
const LOCK_KEY: i64 = 0x666c_7578_5f73_6368;

const TABLES: &str = r#"
CREATE TABLE IF NOT EXISTS _flux_schema (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    version integer NOT NULL
);
CREATE TABLE IF NOT EXISTS _flux_seq (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    n bigint NOT NULL
);
INSERT INTO _flux_seq (n) VALUES (0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS _flux_migrations (
    name text PRIMARY KEY,
    checksum text NOT NULL,
    applied_at text NOT NULL
        DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
);
CREATE TABLE IF NOT EXISTS _flux_records (
    seq bigint PRIMARY KEY,
    id text COLLATE "C" NOT NULL,
    kind text NOT NULL,
    function text NOT NULL,
    status text NOT NULL,
    started_at_us bigint NOT NULL,
    duration_us bigint NOT NULL,
    job_id text COLLATE "C",
    enqueued_by text COLLATE "C",
    body text NOT NULL,
    search text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS _flux_records_id ON _flux_records (id);
CREATE INDEX IF NOT EXISTS _flux_records_started ON _flux_records (started_at_us, seq);
CREATE INDEX IF NOT EXISTS _flux_records_cause ON _flux_records (enqueued_by)
    WHERE enqueued_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS _flux_records_job ON _flux_records (job_id) WHERE job_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS _flux_mutations (
    record_seq bigint NOT NULL,
    ord integer NOT NULL,
    record_id text COLLATE "C" NOT NULL,
    tbl text NOT NULL,
    pk text NOT NULL,
    op text NOT NULL,
    before text,
    after text,
    committed boolean NOT NULL,
    at_us bigint NOT NULL,
    PRIMARY KEY (record_seq, ord)
);
CREATE INDEX IF NOT EXISTS _flux_mutations_row ON _flux_mutations (tbl, pk);
CREATE TABLE IF NOT EXISTS _flux_emails (
    seq bigserial PRIMARY KEY,
    record_id text NOT NULL,
    recipient text NOT NULL,
    subject text NOT NULL,
    template text NOT NULL,
    html text NOT NULL,
    created_at_us bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS _flux_jobs (
    id text COLLATE "C" PRIMARY KEY,
    name text NOT NULL,
    data text NOT NULL,
    state text NOT NULL,
    run_at_us bigint NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL,
    enqueued_at_us bigint NOT NULL,
    enqueued_by text COLLATE "C",
    idempotency_key text,
    next_exec_id text COLLATE "C" NOT NULL,
    last_record text COLLATE "C",
    last_error text,
    replays integer NOT NULL DEFAULT 0,
    updated_at_us bigint NOT NULL,
    data_edited boolean NOT NULL DEFAULT false,
    lease_owner text,
    lease_until_us bigint,
    committed_attempt integer
);
ALTER TABLE _flux_jobs ADD COLUMN IF NOT EXISTS committed_attempt integer;
-- Claims read waiting jobs in run_at order from this one, without sorting the backlog.
CREATE INDEX IF NOT EXISTS _flux_jobs_waiting ON _flux_jobs (run_at_us)
    WHERE state IN ('pending', 'scheduled');
CREATE INDEX IF NOT EXISTS _flux_jobs_idempotency ON _flux_jobs (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS _flux_jobs_next ON _flux_jobs (next_exec_id);
CREATE INDEX IF NOT EXISTS _flux_jobs_updated ON _flux_jobs (updated_at_us);
CREATE TABLE IF NOT EXISTS _flux_tokens (
    id text COLLATE "C" PRIMARY KEY,
    name text NOT NULL,
    scope text NOT NULL,
    hash text NOT NULL UNIQUE,
    session_hash text NOT NULL UNIQUE,
    created_at_us bigint NOT NULL,
    last_used_at_us bigint,
    revoked_at_us bigint
);
CREATE TABLE IF NOT EXISTS _flux_blobs (
    hash text COLLATE "C" PRIMARY KEY,
    size bigint NOT NULL,
    data bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS _flux_versions (
    id text COLLATE "C" PRIMARY KEY,
    manifest text NOT NULL,
    files bigint NOT NULL,
    size bigint NOT NULL,
    created_at_us bigint NOT NULL,
    deployed_by text NOT NULL,
    message text,
    activated_at_us bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS _flux_partial_attempts (
    exec_id text COLLATE "C" PRIMARY KEY,
    job_id text COLLATE "C" NOT NULL,
    started_at_us bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS _flux_sandbox (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    password text NOT NULL,
    key text NOT NULL
);
"#;

/// flux's writes that user SQL's connections make too (an enqueue or an email inside a
/// `ctx.db.transaction`, a migration's note), as SECURITY DEFINER functions: the sandbox
/// role, which logs in for user SQL, has no right on flux's tables. Each refuses a caller
/// that cannot write flux's tables itself unless it passes `_flux_sandbox.key`, which flux
/// reads on its own connection and sends as a bind parameter (never in a statement's text,
/// which `pg_stat_activity` shows the role's other sessions): user SQL, on the same
/// connection, cannot call them. `@S@` is the schema, quoted; `@SL@` the same as a literal.
///
/// Those that look jobs up are planned at each call (`plan_cache_mode`): PL/pgSQL keeps a
/// session's plans, and after a few calls on an empty queue it kept a scan of the whole
/// jobs table.
const FUNCTIONS: &str = r#"
CREATE OR REPLACE FUNCTION @S@._flux_check_key(p_key text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT has_table_privilege(session_user, @SL@ || '._flux_jobs', 'INSERT')
       AND p_key IS DISTINCT FROM (SELECT k.key FROM @S@._flux_sandbox k) THEN
        RAISE EXCEPTION 'flux''s own functions are for flux: user SQL cannot call them'
            USING ERRCODE = '42501';
    END IF;
END $$;
REVOKE ALL ON FUNCTION @S@._flux_check_key(text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @S@._flux_enqueue(
    p_key text, p_id text, p_name text, p_data text, p_state text, p_run_at_us bigint,
    p_max_attempts integer, p_now_us bigint, p_enqueued_by text, p_idempotency_key text,
    p_exec_id text, p_window_start bigint)
RETURNS TABLE (id text, run_at_us bigint, next_exec_id text, duplicate boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan AS $$
#variable_conflict use_column
BEGIN
    PERFORM @S@._flux_check_key(p_key);
    IF p_idempotency_key IS NOT NULL THEN
        RETURN QUERY SELECT j.id::text, j.run_at_us, j.next_exec_id::text, true
            FROM @S@._flux_jobs j
            WHERE j.idempotency_key = p_idempotency_key AND j.name = p_name
            AND (j.state IN ('pending', 'scheduled', 'running')
                 OR j.enqueued_at_us >= p_window_start)
            ORDER BY j.enqueued_at_us DESC LIMIT 1;
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    INSERT INTO @S@._flux_jobs (id, name, data, state, run_at_us, max_attempts,
        enqueued_at_us, enqueued_by, idempotency_key, next_exec_id, updated_at_us)
    VALUES (p_id, p_name, p_data, p_state, p_run_at_us, p_max_attempts, p_now_us,
        p_enqueued_by, p_idempotency_key, p_exec_id, p_now_us);
    RETURN QUERY SELECT p_id, p_run_at_us, p_exec_id, false;
END $$;
REVOKE ALL ON FUNCTION @S@._flux_enqueue(text, text, text, text, text, bigint, integer, bigint,
    text, text, text, bigint) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @S@._flux_store_email(p_key text, p_record_id text,
    p_recipient text, p_subject text, p_template text, p_html text, p_created_at_us bigint)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    stored bigint;
BEGIN
    PERFORM @S@._flux_check_key(p_key);
    INSERT INTO @S@._flux_emails (record_id, recipient, subject, template, html, created_at_us)
    VALUES (p_record_id, p_recipient, p_subject, p_template, p_html, p_created_at_us)
    RETURNING seq INTO stored;
    RETURN stored;
END $$;
REVOKE ALL ON FUNCTION @S@._flux_store_email(text, text, text, text, text, text, bigint)
    FROM PUBLIC;

CREATE OR REPLACE FUNCTION @S@._flux_migration(p_key text, p_lock bigint, p_name text,
    p_checksum text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    found text;
BEGIN
    PERFORM @S@._flux_check_key(p_key);
    PERFORM pg_advisory_xact_lock(p_lock);
    SELECT m.checksum INTO found FROM @S@._flux_migrations m WHERE m.name = p_name;
    IF found IS NULL THEN
        INSERT INTO @S@._flux_migrations (name, checksum) VALUES (p_name, p_checksum);
    END IF;
    RETURN found;
END $$;
REVOKE ALL ON FUNCTION @S@._flux_migration(text, bigint, text, text) FROM PUBLIC;

-- An atomic job attempt's transaction, just before its COMMIT: whether `p_owner` still holds
-- the job that execution `p_exec_id` is the running attempt of, marking it as committed by
-- that attempt (locked until the COMMIT, so no process puts it back meanwhile).
CREATE OR REPLACE FUNCTION @S@._flux_commit_attempt(p_key text, p_exec_id text, p_owner text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan AS $$
BEGIN
    PERFORM @S@._flux_check_key(p_key);
    UPDATE @S@._flux_jobs j SET committed_attempt = j.attempts
        WHERE j.next_exec_id = p_exec_id AND j.state = 'running' AND j.lease_owner = p_owner;
    RETURN FOUND;
END $$;
REVOKE ALL ON FUNCTION @S@._flux_commit_attempt(text, text, text) FROM PUBLIC;
"#;

/// flux's functions owned by flux's role. `CREATE OR REPLACE` keeps an existing function's
/// owner: one that the sandbox role (which may create in the schema) made first under a
/// flux name would stay its own, and its owner could replace the body that flux then runs
/// with flux's rights. Run after creating them, in the same transaction.
pub(super) const OWN_FUNCTIONS: &str = r#"
DO $flux$ DECLARE f regprocedure; BEGIN
FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
    WHERE p.pronamespace = @SL@::regnamespace AND p.proname LIKE '\_flux\_%'
      AND p.proowner <> (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
LOOP
    EXECUTE pg_catalog.format('ALTER FUNCTION %s OWNER TO CURRENT_USER', f);
END LOOP;
END $flux$;
"#;

/// `sql` with `@S@` as `schema` quoted, and `@SL@` as that as a string literal.
pub(super) fn in_schema(sql: &str, schema: &str) -> String {
    let quoted = format!("\"{}\"", schema.replace('"', "\"\""));
    let literal = format!("'{}'", quoted.replace('\'', "''"));
    sql.replace("@SL@", &literal).replace("@S@", &quoted)
}

/// The trigram index, when pg_trgm is there (it ships in Debian's `postgresql` package, and
/// is a trusted extension: a database owner may create it).
const SEARCH_INDEX: &str = "CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS _flux_records_search ON _flux_records USING gin (search gin_trgm_ops);";

/// Creates what is missing and stamps the version; refuses a database of a newer flux.
/// Returns whether searches have the trigram index.
///
/// A database already at [`VERSION`] gets no DDL on its tables: other processes are using
/// them, and even an `ALTER TABLE … IF NOT EXISTS` or `CREATE INDEX IF NOT EXISTS` takes its
/// table's lock first, which deadlocked a process starting beside busy ones.
pub(super) fn create(client: &mut Client) -> Result<bool> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])?;
    let stamped: bool = tx
        .query_one("SELECT to_regclass('_flux_schema') IS NOT NULL", &[])?
        .get(0);
    let found: Option<i32> = if stamped {
        tx.query_opt("SELECT version FROM _flux_schema", &[])?
            .map(|row| row.get(0))
    } else {
        None
    };
    match found {
        Some(version) if version > VERSION => {
            return Err(StoreError::NewerSchema {
                found: version,
                known: VERSION,
            })
        }
        Some(version) if version == VERSION => {}
        Some(version @ (2 | 3)) => {
            if version == 2 {
                tx.batch_execute(JOBS_BY_STATE)?;
            }
            tx.batch_execute(WAITING_BY_WORKER)?;
            tx.execute("UPDATE _flux_schema SET version = $1", &[&VERSION])?;
        }
        _ => {
            tx.batch_execute(TABLES)?;
            tx.batch_execute(JOBS_BY_STATE)?;
            tx.batch_execute(WAITING_BY_WORKER)?;
            tx.execute("DELETE FROM _flux_schema", &[])?;
            tx.execute(
                "INSERT INTO _flux_schema (version) VALUES ($1)",
                &[&VERSION],
            )?;
        }
    }
    let schema: String = tx.query_one("SELECT current_schema()::text", &[])?.get(0);
    tx.batch_execute(&in_schema(FUNCTIONS, &schema))?;
    tx.batch_execute(&in_schema(super::records::WRITE_RECORDS, &schema))?;
    tx.batch_execute(&in_schema(OWN_FUNCTIONS, &schema))?;
    let has_index = |tx: &mut postgres::Transaction<'_>| -> Result<bool> {
        Ok(tx
            .query_one(
                "SELECT to_regclass('_flux_records_search') IS NOT NULL",
                &[],
            )?
            .get(0))
    };
    // In a savepoint: without the extension (or the right to create it) the rest stands.
    let indexed = if has_index(&mut tx)? {
        true
    } else {
        let mut savepoint = tx.savepoint("search_index")?;
        match savepoint.batch_execute(SEARCH_INDEX) {
            Ok(()) => savepoint.commit().map(|()| true)?,
            Err(_) => false,
        }
    };
    tx.commit()?;
    Ok(indexed)
}
