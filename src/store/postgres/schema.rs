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
/// flux and is refused.
pub const VERSION: i32 = 1;

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
    lease_until_us bigint
);
CREATE INDEX IF NOT EXISTS _flux_jobs_due ON _flux_jobs (state, run_at_us);
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
"#;

/// The trigram index, when pg_trgm is there (it ships in Debian's `postgresql` package, and
/// is a trusted extension: a database owner may create it).
const SEARCH_INDEX: &str = "CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS _flux_records_search ON _flux_records USING gin (search gin_trgm_ops);";

/// Creates what is missing and stamps the version; refuses a database of a newer flux.
/// Returns whether searches have the trigram index.
pub(super) fn create(client: &mut Client) -> Result<bool> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])?;
    tx.batch_execute(TABLES)?;
    let found: Option<i32> = tx
        .query_opt("SELECT version FROM _flux_schema", &[])?
        .map(|row| row.get(0));
    match found {
        Some(version) if version > VERSION => {
            return Err(StoreError::NewerSchema {
                found: version,
                known: VERSION,
            })
        }
        Some(_) => {}
        None => {
            tx.execute(
                "INSERT INTO _flux_schema (version) VALUES ($1)",
                &[&VERSION],
            )?;
        }
    }
    // In a savepoint: without the extension (or the right to create it) the rest stands.
    let indexed = {
        let mut savepoint = tx.savepoint("search_index")?;
        match savepoint.batch_execute(SEARCH_INDEX) {
            Ok(()) => savepoint.commit().map(|()| true)?,
            Err(_) => false,
        }
    };
    tx.commit()?;
    Ok(indexed)
}
