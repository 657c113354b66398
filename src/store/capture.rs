//! Mutation capture: every row an execution changes, raw SQL included, from SQLite's
//! pre-update hook, marked committed or rolled back by the commit and rollback hooks.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{ffi, Connection};
use serde_json::{Map, Value};

use crate::record::{Mutation, MutationOp};

/// A change seen by the hook, before column names are attached (the hook may not query).
struct RawChange {
    table: String,
    op: MutationOp,
    rowid: i64,
    old: Option<Vec<Value>>,
    new: Option<Vec<Value>>,
    span: Option<u32>,
    at_us: u64,
    statement: u64,
}

#[derive(Default)]
struct Buffer {
    /// Changes of the open transaction, not yet committed or rolled back.
    pending: Vec<RawChange>,
    /// Changes whose fate is known, in order.
    settled: Vec<(RawChange, bool)>,
    span: Option<u32>,
    at_us: u64,
    statement: u64,
}

impl Buffer {
    fn settle_pending(&mut self, committed: bool) {
        let pending = std::mem::take(&mut self.pending);
        self.settled
            .extend(pending.into_iter().map(|change| (change, committed)));
    }
}

/// Owns the hooks of one connection and the changes they saw.
pub struct Capture {
    buffer: Arc<Mutex<Buffer>>,
    columns: HashMap<String, TableColumns>,
}

#[derive(Clone)]
struct TableColumns {
    names: Vec<String>,
    pk: Vec<usize>,
}

fn lock(buffer: &Mutex<Buffer>) -> MutexGuard<'_, Buffer> {
    // A panic while holding the lock leaves plain data behind; keep using it.
    buffer
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Capture {
    /// Installs the hooks on `conn`. Call [`Capture::uninstall`] before dropping `conn`.
    pub fn install(conn: &mut Connection) -> rusqlite::Result<Capture> {
        let buffer = Arc::new(Mutex::new(Buffer::default()));
        let on_commit = Arc::clone(&buffer);
        conn.commit_hook(Some(move || {
            lock(&on_commit).settle_pending(true);
            false
        }))?;
        let on_rollback = Arc::clone(&buffer);
        conn.rollback_hook(Some(move || lock(&on_rollback).settle_pending(false)))?;
        // SAFETY: the pointer stays valid while the hook is installed: `Capture` keeps the Arc
        // alive and `uninstall` removes the hook before the Arc can be dropped.
        unsafe {
            ffi::sqlite3_preupdate_hook(
                conn.handle(),
                Some(preupdate_hook),
                Arc::as_ptr(&buffer) as *mut c_void,
            );
        }
        Ok(Capture {
            buffer,
            columns: HashMap::new(),
        })
    }

    pub fn uninstall(&self, conn: &mut Connection) {
        unsafe {
            ffi::sqlite3_preupdate_hook(conn.handle(), None, std::ptr::null_mut());
        }
        let _ = conn.commit_hook(None::<fn() -> bool>);
        let _ = conn.rollback_hook(None::<fn()>);
    }

    /// Attributes the changes of the next statement to `span`, at `at_us`.
    pub fn begin_statement(&self, span: Option<u32>, at_us: u64) {
        let mut buffer = lock(&self.buffer);
        buffer.span = span;
        buffer.at_us = at_us;
        buffer.statement += 1;
    }

    /// A failed statement's own changes were undone by SQLite.
    pub fn statement_failed(&self) {
        let mut buffer = lock(&self.buffer);
        let statement = buffer.statement;
        let (undone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut buffer.pending)
            .into_iter()
            .partition(|c| c.statement == statement);
        buffer.pending = kept;
        buffer
            .settled
            .extend(undone.into_iter().map(|c| (c, false)));
    }

    /// Takes every settled change, with column names resolved through `conn`.
    pub fn take(&mut self, conn: &Connection) -> Vec<Mutation> {
        let settled = std::mem::take(&mut lock(&self.buffer).settled);
        settled
            .into_iter()
            .map(|(change, committed)| self.resolve(conn, change, committed))
            .collect()
    }

    fn resolve(&mut self, conn: &Connection, change: RawChange, committed: bool) -> Mutation {
        let width = change
            .old
            .as_ref()
            .or(change.new.as_ref())
            .map_or(0, Vec::len);
        let columns = self.table_columns(conn, &change.table, width);
        let image = |values: Option<Vec<Value>>| {
            values.map(|values| {
                values
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (column_name(&columns, i), v))
                    .collect::<Map<String, Value>>()
            })
        };
        let before = image(change.old);
        let after = image(change.new);
        let pk = primary_key(&columns, after.as_ref().or(before.as_ref()), change.rowid);
        Mutation {
            table: change.table,
            pk,
            op: change.op,
            before,
            after,
            committed,
            span: change.span,
            at_us: change.at_us,
        }
    }

    fn table_columns(&mut self, conn: &Connection, table: &str, width: usize) -> TableColumns {
        if let Some(cached) = self.columns.get(table) {
            if cached.names.len() == width {
                return cached.clone();
            }
        }
        let columns = read_table_columns(conn, table).unwrap_or(TableColumns {
            names: Vec::new(),
            pk: Vec::new(),
        });
        self.columns.insert(table.to_string(), columns.clone());
        columns
    }
}

fn column_name(columns: &TableColumns, index: usize) -> String {
    columns
        .names
        .get(index)
        .cloned()
        .unwrap_or_else(|| format!("column{index}"))
}

fn primary_key(columns: &TableColumns, image: Option<&Map<String, Value>>, rowid: i64) -> Value {
    let values: Vec<Value> = columns
        .pk
        .iter()
        .filter_map(|&i| {
            image
                .and_then(|row| row.get(&column_name(columns, i)))
                .cloned()
        })
        .collect();
    match values.len() {
        0 => Value::from(rowid),
        1 => values.into_iter().next().unwrap_or(Value::Null),
        _ => Value::Array(values),
    }
}

fn read_table_columns(conn: &Connection, table: &str) -> rusqlite::Result<TableColumns> {
    let mut stmt = conn.prepare("SELECT name, pk FROM pragma_table_info(?1) ORDER BY cid")?;
    let rows = stmt.query_map([table], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
    })?;
    let mut names = Vec::new();
    let mut pk = Vec::new();
    for (i, row) in rows.enumerate() {
        let (name, pk_order) = row?;
        if pk_order > 0 {
            pk.push((pk_order, i));
        }
        names.push(name);
    }
    pk.sort();
    Ok(TableColumns {
        names,
        pk: pk.into_iter().map(|(_, i)| i).collect(),
    })
}

/// Converts a SQLite value to JSON; blobs become `{ "$blob": "<hex>" }`.
unsafe fn value_to_json(value: *mut ffi::sqlite3_value) -> Value {
    match ffi::sqlite3_value_type(value) {
        ffi::SQLITE_INTEGER => Value::from(ffi::sqlite3_value_int64(value)),
        ffi::SQLITE_FLOAT => serde_json::Number::from_f64(ffi::sqlite3_value_double(value))
            .map_or(Value::Null, Value::Number),
        ffi::SQLITE_TEXT => {
            let text = ffi::sqlite3_value_text(value);
            let len = ffi::sqlite3_value_bytes(value) as usize;
            if text.is_null() {
                return Value::Null;
            }
            let bytes = std::slice::from_raw_parts(text, len);
            Value::String(String::from_utf8_lossy(bytes).into_owned())
        }
        ffi::SQLITE_BLOB => {
            let blob = ffi::sqlite3_value_blob(value) as *const u8;
            let len = ffi::sqlite3_value_bytes(value) as usize;
            let bytes = if blob.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(blob, len)
            };
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            serde_json::json!({ "$blob": hex })
        }
        _ => Value::Null,
    }
}

unsafe fn row_image(
    db: *mut ffi::sqlite3,
    read: unsafe extern "C" fn(*mut ffi::sqlite3, c_int, *mut *mut ffi::sqlite3_value) -> c_int,
) -> Vec<Value> {
    let count = ffi::sqlite3_preupdate_count(db);
    (0..count)
        .map(|i| {
            let mut value = std::ptr::null_mut();
            if read(db, i, &mut value) == ffi::SQLITE_OK && !value.is_null() {
                value_to_json(value)
            } else {
                Value::Null
            }
        })
        .collect()
}

unsafe extern "C" fn preupdate_hook(
    user_data: *mut c_void,
    db: *mut ffi::sqlite3,
    op: c_int,
    db_name: *const c_char,
    table: *const c_char,
    old_rowid: ffi::sqlite3_int64,
    new_rowid: ffi::sqlite3_int64,
) {
    if user_data.is_null() || table.is_null() || db_name.is_null() {
        return;
    }
    if CStr::from_ptr(db_name).to_bytes() != b"main" {
        return;
    }
    let table = CStr::from_ptr(table).to_string_lossy();
    if table.starts_with("_flux_") || table.starts_with("sqlite_") {
        return;
    }
    let (op, old, new, rowid) = match op {
        ffi::SQLITE_INSERT => (
            MutationOp::Insert,
            None,
            Some(row_image(db, ffi::sqlite3_preupdate_new)),
            new_rowid,
        ),
        ffi::SQLITE_DELETE => (
            MutationOp::Delete,
            Some(row_image(db, ffi::sqlite3_preupdate_old)),
            None,
            old_rowid,
        ),
        ffi::SQLITE_UPDATE => (
            MutationOp::Update,
            Some(row_image(db, ffi::sqlite3_preupdate_old)),
            Some(row_image(db, ffi::sqlite3_preupdate_new)),
            new_rowid,
        ),
        _ => return,
    };
    let buffer = &*(user_data as *const Mutex<Buffer>);
    let mut buffer = lock(buffer);
    let change = RawChange {
        table: table.into_owned(),
        op,
        rowid,
        old,
        new,
        span: buffer.span,
        at_us: buffer.at_us,
        statement: buffer.statement,
    };
    buffer.pending.push(change);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Connection, Capture) {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.execute_batch("CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT)")
            .expect("schema");
        let capture = Capture::install(&mut conn).expect("install");
        (conn, capture)
    }

    #[test]
    fn autocommitted_changes_are_committed_with_both_images() {
        let (mut conn, mut capture) = setup();
        capture.begin_statement(Some(1), 5);
        conn.execute("INSERT INTO users VALUES ('u_1', 'a@b.c')", [])
            .expect("insert");
        capture.begin_statement(Some(2), 9);
        conn.execute("UPDATE users SET email = 'x@y.z'", [])
            .expect("update");
        let changes = capture.take(&conn);
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].op, MutationOp::Insert);
        assert_eq!(changes[0].pk, Value::from("u_1"));
        assert!(changes[0].committed);
        assert_eq!(changes[1].before.as_ref().unwrap()["email"], "a@b.c");
        assert_eq!(changes[1].after.as_ref().unwrap()["email"], "x@y.z");
        assert_eq!(changes[1].span, Some(2));
        capture.uninstall(&mut conn);
    }

    #[test]
    fn rolled_back_transactions_and_failed_statements_are_marked() {
        let (mut conn, mut capture) = setup();
        conn.execute_batch("BEGIN").expect("begin");
        capture.begin_statement(None, 0);
        conn.execute("INSERT INTO users VALUES ('u_1', 'a')", [])
            .expect("insert");
        conn.execute_batch("ROLLBACK").expect("rollback");
        capture.begin_statement(None, 0);
        let failed = conn.execute("INSERT INTO users VALUES ('u_2', 'b'), ('u_2', 'c')", []);
        assert!(failed.is_err());
        capture.statement_failed();
        let changes = capture.take(&conn);
        assert!(changes.iter().all(|c| !c.committed), "{changes:?}");
        assert!(!changes.is_empty());
        capture.uninstall(&mut conn);
    }
}
