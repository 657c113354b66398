//! Mutation capture: every row a statement changes, raw SQL included, from SQLite's
//! pre-update hook, with its before and after images.
//!
//! The hook is installed through the FFI rather than rusqlite's `preupdate_hook` feature: that
//! feature (rusqlite 0.43, libsqlite3-sys 0.40) turns on `buildtime_bindgen`, which needs
//! libclang on every machine that builds flux; the bundled bindings already have the hook.

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
}

#[derive(Default)]
struct Buffer {
    /// Changes of the running statement.
    changes: Vec<RawChange>,
}

/// Owns the pre-update hook of one connection and the changes it saw. The connection runs one
/// statement at a time for one execution, so each statement's changes are that execution's.
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
    /// Installs the hook on `conn`. Call [`Capture::uninstall`] before dropping `conn`.
    pub fn install(conn: &mut Connection) -> Capture {
        let buffer = Arc::new(Mutex::new(Buffer::default()));
        // SAFETY: the pointer stays valid while the hook is installed: `Capture` keeps the Arc
        // alive and `uninstall` removes the hook before the Arc can be dropped.
        unsafe {
            ffi::sqlite3_preupdate_hook(
                conn.handle(),
                Some(preupdate_hook),
                Arc::as_ptr(&buffer) as *mut c_void,
            );
        }
        Capture {
            buffer,
            columns: HashMap::new(),
        }
    }

    pub fn uninstall(&self, conn: &mut Connection) {
        unsafe {
            ffi::sqlite3_preupdate_hook(conn.handle(), None, std::ptr::null_mut());
        }
    }

    /// Forgets changes made outside a captured statement (the store's own writes).
    pub fn begin_statement(&self) {
        lock(&self.buffer).changes.clear();
    }

    /// The changes of the statement that just ran, attributed to `span` at `at_us`, with column
    /// names resolved through `conn`. `kept` is false when the statement failed: SQLite undid
    /// its changes.
    pub fn finish_statement(
        &mut self,
        conn: &Connection,
        span: Option<u32>,
        at_us: u64,
        kept: bool,
    ) -> Vec<Mutation> {
        let changes = std::mem::take(&mut lock(&self.buffer).changes);
        changes
            .into_iter()
            .map(|change| self.resolve(conn, change, kept, span, at_us))
            .collect()
    }

    fn resolve(
        &mut self,
        conn: &Connection,
        change: RawChange,
        committed: bool,
        span: Option<u32>,
        at_us: u64,
    ) -> Mutation {
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
            span,
            at_us,
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
    lock(buffer).changes.push(RawChange {
        table: table.into_owned(),
        op,
        rowid,
        old,
        new,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Connection, Capture) {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.execute_batch("CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT)")
            .expect("schema");
        let capture = Capture::install(&mut conn);
        (conn, capture)
    }

    #[test]
    fn each_statement_yields_its_changes_with_both_images() {
        let (mut conn, mut capture) = setup();
        capture.begin_statement();
        conn.execute("INSERT INTO users VALUES ('u_1', 'a@b.c')", [])
            .expect("insert");
        let inserted = capture.finish_statement(&conn, Some(1), 5, true);
        capture.begin_statement();
        conn.execute("UPDATE users SET email = 'x@y.z'", [])
            .expect("update");
        let updated = capture.finish_statement(&conn, Some(2), 9, true);
        assert_eq!(inserted.len(), 1);
        assert_eq!(inserted[0].op, MutationOp::Insert);
        assert_eq!(inserted[0].pk, Value::from("u_1"));
        assert!(inserted[0].committed);
        assert_eq!(updated.len(), 1);
        assert_eq!(updated[0].before.as_ref().unwrap()["email"], "a@b.c");
        assert_eq!(updated[0].after.as_ref().unwrap()["email"], "x@y.z");
        assert_eq!(updated[0].span, Some(2));
        capture.uninstall(&mut conn);
    }

    #[test]
    fn a_failed_statement_reports_its_undone_changes_and_writes_between_are_ignored() {
        let (mut conn, mut capture) = setup();
        conn.execute("INSERT INTO users VALUES ('u_0', 'not captured')", [])
            .expect("insert");
        capture.begin_statement();
        let failed = conn.execute("INSERT INTO users VALUES ('u_2', 'b'), ('u_2', 'c')", []);
        assert!(failed.is_err());
        let changes = capture.finish_statement(&conn, None, 0, false);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].pk, Value::from("u_2"));
        assert!(!changes[0].committed);
        capture.uninstall(&mut conn);
    }
}
