//! The role user SQL logs in as on PostgreSQL (`<database>_flux_sql`): functions' `ctx.db`
//! statements, their transactions and the project's migrations run on connections whose
//! *session* user is this role, so no statement can get back to flux's own role (`SET ROLE`,
//! `set_config('role', …)`, `RESET ROLE` in a `DO` block and `SET SESSION AUTHORIZATION` are
//! all checked against the session user).
//!
//! At each start flux (with CREATEROLE) creates the role where missing, checks that it holds
//! no power beyond the app's tables (not a superuser, no server files or programs, not a member
//! of flux's role), and gives it LOGIN with the password kept in `_flux_sandbox` (flux's role
//! alone reads it; generated once per database, so that every process sharing the database
//! logs in with the same one). It connects with flux's own URL (host, port, database,
//! options) but this user and password; a refusal (pg_hba.conf) is a typed error naming the
//! line to add.
//!
//! flux's own writes inside a user's transaction go through SECURITY DEFINER functions
//! (`schema.rs`, `capture.rs`) with `_flux_sandbox.key` as a bind parameter.

use std::sync::Arc;

use postgres::{Client, NoTls, Transaction};

use super::pool::Pool;
use super::user_sql::quote_identifier;
use super::{capture, connect_error};
use crate::store::{Result, StoreError};

/// Held while installing the role: `ALTER ROLE` from two processes at once would fail.
const INSTALL_LOCK: i64 = 0x666c_7578_5f73_6278;

/// The longest name PostgreSQL keeps.
const NAME_BYTES: usize = 63;

/// Connections to the sandbox role kept for flux's reads of app tables (`row_exists`).
const READERS: usize = 2;

/// The sandbox role, installed, and how to log in as it.
pub struct Sandbox {
    config: postgres::Config,
    role: String,
    schema: String,
    key: Arc<str>,
    location: String,
    database: String,
    readers: Pool,
}

impl Sandbox {
    /// Creates the role where missing, refuses one with powers beyond the app's tables, gives
    /// it LOGIN, its password and search path, and creates the capture's table and functions.
    /// `client` is flux's own; `config` its URL's.
    pub(super) fn install(
        client: &mut Client,
        config: &postgres::Config,
        location: &str,
    ) -> Result<Sandbox> {
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INSTALL_LOCK])?;
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
        refuse_privileged(&mut tx, &role)?;
        if !superuser {
            // To own the triggers on the sandbox's tables and hand it flux's role's app
            // tables, flux's role is a member of the sandbox role (never the other way).
            tx.batch_execute(&format!("GRANT {quoted} TO CURRENT_USER"))?;
        }
        tx.batch_execute(&format!(
            "GRANT USAGE, CREATE ON SCHEMA {} TO {quoted}",
            quote_identifier(&schema)
        ))?;
        let connect: bool = tx
            .query_one(
                "SELECT has_database_privilege($1, current_database(), 'CONNECT')",
                &[&role],
            )?
            .get(0);
        if !connect {
            tx.batch_execute(&format!(
                "GRANT CONNECT ON DATABASE {} TO {quoted}",
                quote_identifier(&database)
            ))?;
        }
        let secret = |_| format!("{:032x}", rand::random::<u128>());
        tx.execute(
            "INSERT INTO _flux_sandbox (password, key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&secret(0), &secret(1)],
        )?;
        let row = tx.query_one("SELECT password, key FROM _flux_sandbox", &[])?;
        let (password, key): (String, String) = (row.get(0), row.get(1));
        // As a SCRAM verifier (ALTER ROLE takes no parameters): the password itself never
        // reaches the server's logs or `pg_stat_activity`.
        let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
        tx.batch_execute(&format!(
            "ALTER ROLE {quoted} WITH LOGIN PASSWORD '{}'; \
             ALTER ROLE {quoted} IN DATABASE {} SET search_path TO {}",
            verifier.replace('\'', "''"),
            quote_identifier(&database),
            quote_identifier(&schema)
        ))?;
        tx.batch_execute(&format!(
            "GRANT EXECUTE ON FUNCTION _flux_enqueue(text, text, text, text, text, bigint, \
             integer, bigint, text, text, text, bigint), \
             _flux_store_email(text, text, text, text, text, text, bigint), \
             _flux_migration(text, bigint, text, text), \
             _flux_commit_attempt(text, text, text) TO {quoted}"
        ))?;
        capture::install(&mut tx, &schema, &role)?;
        tx.commit()?;
        let mut config = config.clone();
        config.user(&role).password(&password);
        let sandbox = Sandbox {
            readers: Pool::new(config.clone(), READERS),
            config,
            role,
            schema,
            key: key.into(),
            location: location.to_string(),
            database,
        };
        // Tried now, so that a pg_hba.conf refusing it stops flux at start with its hint.
        drop(sandbox.connect()?);
        Ok(sandbox)
    }

    /// A new connection logged in as the sandbox role.
    pub fn connect(&self) -> Result<Client> {
        self.config
            .connect(NoTls)
            .map_err(|error| self.login_error(StoreError::Postgres(error)))
    }

    /// Runs a read of flux's on the app's tables on a connection of the sandbox's small pool:
    /// a view or a policy on them may call the user's functions, which must not run as flux.
    pub(super) fn read<T>(&self, work: impl FnMut(&mut Client) -> Result<T>) -> Result<T> {
        self.readers.read(work)
    }

    fn login_error(&self, error: StoreError) -> StoreError {
        match connect_error(error, &self.location) {
            StoreError::PgRefused { message, code, .. } => StoreError::PgSandboxLogin {
                role: self.role.clone(),
                database: self.database.clone(),
                message,
                code,
            },
            other => other,
        }
    }

    /// The role's name.
    pub fn role(&self) -> &str {
        &self.role
    }

    /// The schema of flux's tables and the app's.
    pub(super) fn schema(&self) -> &str {
        &self.schema
    }

    /// What flux passes its own SECURITY DEFINER functions from the sandbox's connections.
    pub(super) fn key(&self) -> &Arc<str> {
        &self.key
    }
}

/// Refuses a sandbox role that can do more than use the app's tables (someone granted it
/// more): user SQL runs as it.
fn refuse_privileged(tx: &mut Transaction<'_>, role: &str) -> Result<()> {
    let row = tx.query_one(
        "SELECT r.rolsuper OR r.rolcreaterole OR r.rolbypassrls OR r.rolreplication,
                pg_has_role(r.oid, 'pg_read_server_files', 'MEMBER')
                    OR pg_has_role(r.oid, 'pg_write_server_files', 'MEMBER'),
                pg_has_role(r.oid, 'pg_execute_server_program', 'MEMBER'),
                COALESCE(pg_has_role(r.oid, to_regrole('pg_read_all_data'), 'MEMBER'), false)
                    OR COALESCE(pg_has_role(r.oid, to_regrole('pg_write_all_data'), 'MEMBER'),
                        false)
                    OR pg_has_role(r.oid, current_user, 'MEMBER')
         FROM pg_roles r WHERE r.rolname = $1",
        &[&role],
    )?;
    let power = if row.get::<_, bool>(0) {
        Some("is a superuser or may create roles, bypass row security or replicate")
    } else if row.get::<_, bool>(1) {
        Some("may read or write the server's files")
    } else if row.get::<_, bool>(2) {
        Some("may run programs on the server")
    } else if row.get::<_, bool>(3) {
        Some("may read or write flux's own tables")
    } else {
        None
    };
    match power {
        Some(power) => Err(StoreError::PgPrivileged {
            role: role.to_string(),
            power,
        }),
        None => Ok(()),
    }
}
