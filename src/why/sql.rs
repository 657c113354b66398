//! Database failures: a statement SQLite refused (a constraint, a syntax error, a table or
//! column that does not exist), a row looked up by key that was not there, and the rows an
//! execution read that another execution had changed before it failed (causal reach).
//!
//! Everything here is pure: what the store knows (the schema, whether a row exists, a row's
//! recorded changes) arrives in [`Related`], gathered beforehand as [`lookups`] asks.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::{Blame, Finding, Related};
use crate::record::{
    attr, inspect, short_text, ExecutionRecord, Kind, MutationOp, RowChange, Span, SpanKind,
    SpanStatus, Status, TableSchema,
};

/// The most rows whose history `flux why` reads for one execution.
const MAX_ROWS: usize = 20;

/// `SELECT … FROM <table> WHERE <column> = $n`: a lookup of one row by a key.
pub(super) fn key_lookup(sql: &str) -> Option<(String, String, usize)> {
    static PATTERN: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(
            r#"(?is)^\s*select\b.*?\bfrom\s+"?(\w+)"?\s+where\s+"?(\w+)"?\s*=\s*\$(\d+)\s*(limit\s+1\s*)?;?\s*$"#,
        )
        .ok()
    });
    let captures = PATTERN.as_ref()?.captures(sql)?;
    Some((
        captures[1].to_string(),
        captures[2].to_string(),
        captures[3].parse().ok()?,
    ))
}

/// `users` → `user`, for suggestions that name one row.
fn singular(table: &str) -> &str {
    table
        .strip_suffix('s')
        .filter(|s| !s.is_empty())
        .unwrap_or(table)
}

/// A key as a user types it (`flux state history users --id u_99`): text unquoted.
fn key_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn regex(pattern: &'static LazyLock<Option<Regex>>) -> Option<&'static Regex> {
    pattern.as_ref()
}

/// What a statement does to which table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Insert,
    Update,
    Delete,
    Select,
}

/// The statement's verb and main table: `INSERT INTO t`, `UPDATE t`, `DELETE FROM t`,
/// `SELECT … FROM t`.
fn target(sql: &str) -> Option<(Verb, String)> {
    static PATTERN: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(
            r#"(?is)^\s*(?:(insert|replace)\b.*?\binto|(update)(?:\s+or\s+\w+)?|(delete)\s+from|(select)\b.*?\bfrom)\s+"?(\w+)"?"#,
        )
        .ok()
    });
    let captures = regex(&PATTERN)?.captures(sql)?;
    let verb = if captures.get(1).is_some() {
        Verb::Insert
    } else if captures.get(2).is_some() {
        Verb::Update
    } else if captures.get(3).is_some() {
        Verb::Delete
    } else {
        Verb::Select
    };
    Some((verb, captures[5].to_string()))
}

/// The value a statement's SQL gives at `text`: a parameter (`$2`, `?`) or a plain literal.
fn value_of(text: &str, params: &[Value], position: usize) -> Option<Value> {
    let text = text.trim();
    if let Some(n) = text.strip_prefix('$').or_else(|| text.strip_prefix('?')) {
        let index = if n.is_empty() {
            position
        } else {
            n.parse::<usize>().ok()?.checked_sub(1)?
        };
        return params.get(index).cloned();
    }
    if text.eq_ignore_ascii_case("null") {
        return Some(Value::Null);
    }
    if let Some(s) = text.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return Some(Value::String(s.replace("''", "'")));
    }
    serde_json::from_str::<serde_json::Number>(text)
        .ok()
        .map(Value::Number)
}

/// The columns a statement writes and the values it gives them, in order:
/// `INSERT INTO t (a, b) VALUES ($1, $2)` and `UPDATE t SET a = $1, b = 2`. Values that are
/// expressions are left out; `None` when the statement writes no listed columns.
fn written(sql: &str, params: &[Value]) -> Option<Vec<(String, Option<Value>)>> {
    static INSERT: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(
            r#"(?is)\binto\s+"?\w+"?\s*\(([^)]*)\)\s*values\s*\((.*?)\)\s*(returning\b.*)?;?\s*$"#,
        )
        .ok()
    });
    static UPDATE: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r#"(?is)^\s*update(?:\s+or\s+\w+)?\s+"?\w+"?\s+set\s+(.*?)(\bwhere\b.*|\breturning\b.*)?;?\s*$"#).ok()
    });
    let unquote = |c: &str| c.trim().trim_matches('"').to_string();
    let mut positional = 0;
    let mut next_value = |text: &str| {
        let value = value_of(text, params, positional);
        if text.trim() == "?" {
            positional += 1;
        }
        value
    };
    if let Some(captures) = regex(&INSERT).and_then(|r| r.captures(sql)) {
        let values: Vec<&str> = captures[2].split(',').collect();
        let columns: Vec<&str> = captures[1].split(',').collect();
        if values.len() != columns.len() {
            return Some(columns.iter().map(|c| (unquote(c), None)).collect());
        }
        return Some(
            columns
                .iter()
                .zip(values)
                .map(|(c, v)| (unquote(c), next_value(v)))
                .collect(),
        );
    }
    let captures = regex(&UPDATE)?.captures(sql)?;
    Some(
        captures[1]
            .split(',')
            .filter_map(|assignment| {
                let (column, value) = assignment.split_once('=')?;
                Some((unquote(column), next_value(value)))
            })
            .collect(),
    )
}

/// The value a statement wrote to `column`, when it says.
fn written_value(span: &Span, column: &str) -> Option<Value> {
    let params = params(span);
    written(span.str_attr(attr::SQL)?, params)?
        .into_iter()
        .find(|(c, _)| c == column)?
        .1
}

fn params(span: &Span) -> &[Value] {
    span.attrs
        .get(attr::PARAMS)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The statement that failed: a `ctx.db` call whose span records SQLite's error.
fn failed_statement(record: &ExecutionRecord) -> Option<(&Span, &str)> {
    record.spans.iter().find_map(|span| {
        let statement = matches!(span.name, SpanKind::DbQuery | SpanKind::DbInsert { .. });
        if !statement || span.parent.is_none() || span.status != SpanStatus::Error {
            return None;
        }
        Some((span, span.error.as_deref()?))
    })
}

fn table<'a>(related: &'a Related, name: &str) -> Option<&'a TableSchema> {
    related.schema.iter().find(|t| t.name == name)
}

/// The table's one primary-key column, when it has exactly one (`id` when the schema is
/// unknown, as in most apps).
fn primary_key<'a>(related: &'a Related, name: &str) -> Option<&'a str> {
    match table(related, name) {
        Some(t) if t.primary_key.len() == 1 => Some(t.primary_key[0].as_str()),
        Some(_) => None,
        None => Some("id"),
    }
}

/// A row an execution read, by its table's primary key.
#[derive(Debug, Clone, PartialEq)]
struct RowRead {
    table: String,
    key: Value,
    /// When it was read, microseconds since the epoch.
    at_us: i64,
    found: bool,
}

/// The rows the execution's queries read: key lookups (found or not), and the keys other
/// queries recorded as returned ([`attr::KEYS`]).
fn rows_read(record: &ExecutionRecord, related: &Related) -> Vec<RowRead> {
    let mut rows: Vec<RowRead> = Vec::new();
    for span in &record.spans {
        if span.name != SpanKind::DbQuery || span.status != SpanStatus::Ok {
            continue;
        }
        let Some(sql) = span.str_attr(attr::SQL) else {
            continue;
        };
        let at_us = record.started_at_us + span.start_us as i64;
        let mut push = |table: &str, key: Value, found: bool| {
            if rows.len() < MAX_ROWS && !rows.iter().any(|r| r.table == table && r.key == key) {
                rows.push(RowRead {
                    table: table.to_string(),
                    key,
                    at_us,
                    found,
                });
            }
        };
        if let Some((table, column, n)) = key_lookup(sql) {
            let value = n.checked_sub(1).and_then(|i| params(span).get(i));
            if let (Some(value), Some(pk)) = (value, primary_key(related, &table)) {
                if pk == column {
                    push(&table, value.clone(), span.u64_attr(attr::ROWS) != Some(0));
                }
            }
        }
        let keys = span.attrs.get(attr::KEYS).and_then(Value::as_array);
        if let (Some(keys), Some((Verb::Select, table))) = (keys, target(sql)) {
            for key in keys {
                push(&table, key.clone(), true);
            }
        }
    }
    rows
}

/// What `flux why` needs to know from the store about this record, beyond the record: rows
/// whose existence decides a foreign-key failure, and rows whose recorded changes may explain
/// the failure. Computed from the record and the schema ([`Related::schema`]).
#[derive(Debug, Default, PartialEq)]
pub struct Lookups {
    /// `(table, column, value)`: does such a row exist?
    pub presence: Vec<(String, String, Value)>,
    /// `(table, primary key)`: the row's recorded changes.
    pub history: Vec<(String, Value)>,
}

pub fn lookups(record: &ExecutionRecord, related: &Related) -> Lookups {
    let mut lookups = Lookups::default();
    if let Some((span, message)) = failed_statement(record) {
        if message.starts_with(FOREIGN_KEY) {
            for reference in references(span, related) {
                if let Reference::Parent {
                    table,
                    column,
                    value,
                    ..
                } = &reference
                {
                    if primary_key(related, table) == Some(column.as_str()) {
                        lookups.history.push((table.clone(), value.clone()));
                    }
                }
                let (table, column, value) = reference.row();
                lookups
                    .presence
                    .push((table.to_string(), column.to_string(), value.clone()));
            }
        }
    }
    lookups.history.extend(
        rows_read(record, related)
            .into_iter()
            .map(|row| (row.table, row.key)),
    );
    lookups.history.truncate(MAX_ROWS);
    lookups
}

/// A row a failed foreign key may be about.
#[derive(Debug, Clone, PartialEq)]
enum Reference {
    /// The statement wrote `child.from = value`, which needs `table.column = value`.
    Parent {
        child: String,
        from: String,
        table: String,
        column: String,
        value: Value,
    },
    /// The statement deleted `parent` rows whose `column = value`, which `table.from` may
    /// still reference.
    Child {
        parent: String,
        table: String,
        from: String,
        value: Value,
    },
}

impl Reference {
    /// The row whose existence decides it.
    fn row(&self) -> (&str, &str, &Value) {
        match self {
            Reference::Parent {
                table,
                column,
                value,
                ..
            } => (table, column, value),
            Reference::Child {
                table, from, value, ..
            } => (table, from, value),
        }
    }

    fn exists(&self, related: &Related) -> Option<bool> {
        let (table, column, value) = self.row();
        related
            .rows
            .iter()
            .find(|r| r.table == table && r.column == column && &r.value == value)
            .map(|r| r.exists)
    }
}

/// The rows a statement's foreign keys involve: the parents of what it wrote, or the children
/// of what it deleted.
fn references(span: &Span, related: &Related) -> Vec<Reference> {
    let Some(sql) = span.str_attr(attr::SQL) else {
        return Vec::new();
    };
    match target(sql) {
        Some((Verb::Insert | Verb::Update, child)) => {
            let Some(schema) = table(related, &child) else {
                return Vec::new();
            };
            schema
                .foreign_keys
                .iter()
                .filter_map(|fk| {
                    let value = written_value(span, &fk.from).filter(|v| !v.is_null())?;
                    Some(Reference::Parent {
                        child: child.clone(),
                        from: fk.from.clone(),
                        table: fk.table.clone(),
                        column: fk.to.clone(),
                        value,
                    })
                })
                .collect()
        }
        Some((Verb::Delete, parent)) => {
            static WHERE: LazyLock<Option<Regex>> = LazyLock::new(|| {
                Regex::new(r#"(?is)\bwhere\s+"?(\w+)"?\s*=\s*(\$\d+|\?\d*|'[^']*'|-?[0-9.]+)\s*(returning\b.*)?;?\s*$"#).ok()
            });
            let Some(captures) = regex(&WHERE).and_then(|r| r.captures(sql)) else {
                return Vec::new();
            };
            let Some(value) = value_of(&captures[2], params(span), 0) else {
                return Vec::new();
            };
            let column = &captures[1];
            related
                .schema
                .iter()
                .flat_map(|t| t.foreign_keys.iter().map(move |fk| (t, fk)))
                .filter(|(_, fk)| fk.table == parent && fk.to == column)
                .map(|(t, fk)| Reference::Child {
                    parent: parent.clone(),
                    table: t.name.clone(),
                    from: fk.from.clone(),
                    value: value.clone(),
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

/// The last committed change to a row before `before_us`, made by another execution.
fn last_change<'a>(
    related: &'a Related,
    record: &ExecutionRecord,
    table: &str,
    key: &Value,
    before_us: i64,
) -> Option<&'a RowChange> {
    let own = record.id.to_string();
    related
        .row_history
        .iter()
        .filter(|c| {
            c.table == table
                && &c.pk == key
                && c.committed
                && c.at_us <= before_us
                && c.record_id != own
        })
        .max_by_key(|c| c.at_us)
}

/// `deleted users 42`, `updated users 42: status 'active' → 'banned'`.
fn did(change: &RowChange) -> String {
    let row = format!("{} {}", change.table, key_text(&change.pk));
    match change.op.as_str() {
        "delete" => format!("deleted {row}"),
        "insert" => format!("inserted {row}"),
        _ => {
            let changed: Vec<String> = changed_columns(change)
                .iter()
                .take(3)
                .map(|(column, before, after)| {
                    format!("{column} {} → {}", inspect(before), inspect(after))
                })
                .collect();
            if changed.is_empty() {
                format!("updated {row}")
            } else {
                format!("updated {row}: {}", changed.join(", "))
            }
        }
    }
}

/// The columns an update changed: `(column, before, after)`.
fn changed_columns(change: &RowChange) -> Vec<(&str, &Value, &Value)> {
    let (Some(before), Some(after)) = (&change.before, &change.after) else {
        return Vec::new();
    };
    after
        .iter()
        .filter_map(|(column, value)| {
            let old = before.get(column).unwrap_or(&Value::Null);
            (old != value).then_some((column.as_str(), old, value))
        })
        .collect()
}

fn blame(change: &RowChange, did: String) -> Blame {
    Blame {
        id: change.record_id.clone(),
        function: change.function.clone(),
        at_us: Some(change.at_us),
        did,
    }
}

/// The short id of an execution, as lines name it: `req:1a2b3c4d`.
fn short(id: &str) -> String {
    format!("req:{}", short_text(id))
}

/// A query for one row by key found nothing, and the execution then failed. When the store
/// recorded another execution deleting that row before the read, that execution is blamed.
pub(super) fn row_not_found(record: &ExecutionRecord, related: &Related) -> Option<Finding> {
    let (span, table, column, value) = record.spans.iter().find_map(|span| {
        if span.name != SpanKind::DbQuery || span.status != SpanStatus::Ok {
            return None;
        }
        if span.u64_attr(attr::ROWS) != Some(0) {
            return None;
        }
        let sql = span.str_attr(attr::SQL)?;
        let (table, column, n) = key_lookup(sql)?;
        let value = params(span).get(n.checked_sub(1)?)?.clone();
        Some((span, table, column, value))
    })?;
    let read_at = record.started_at_us + span.start_us as i64;
    let deleted = last_change(related, record, &table, &value, read_at)
        .filter(|c| c.op == MutationOp::Delete.as_str());
    let suggestion = (record.kind == Kind::Job)
        .then(|| row_not_found_suggestion(record, span, &table, &value, related));
    Some(Finding {
        cause: "row-not-found",
        root_cause: format!(
            "Row not found: {table} WHERE {column} = {}",
            inspect(&value)
        ),
        location: span.location.clone(),
        call_chain: Vec::new(),
        blamed: deleted.map(|c| blame(c, did(c))),
        suggestion,
    })
}

fn row_not_found_suggestion(
    record: &ExecutionRecord,
    span: &Span,
    table: &str,
    key: &Value,
    related: &Related,
) -> String {
    let seed = format!(
        "→ Check that {} row is committed before enqueueing job\n(consider using AFTER INSERT trigger or transactional enqueue)",
        singular(table)
    );
    let Some(enqueuer) = &related.enqueued_by else {
        return seed;
    };
    let insert = enqueuer
        .mutations
        .iter()
        .find(|m| m.table == table && m.op == MutationOp::Insert && &m.pk == key);
    let who = format!("req:{}", enqueuer.id.short());
    match insert {
        Some(m) if !m.committed => format!(
            "→ {who}, which enqueued this job, inserted the {} row but rolled it back\n(enqueue inside the same ctx.db.transaction, so the job exists only if the row does)",
            singular(table)
        ),
        Some(m) => {
            let inserted_at = enqueuer.started_at_us + m.at_us as i64;
            let read_at = record.started_at_us + span.start_us as i64;
            if inserted_at > read_at {
                format!("→ {who} inserted the {} row after this job read it: commit it before enqueueing\n(consider using AFTER INSERT trigger or transactional enqueue)", singular(table))
            } else {
                seed
            }
        }
        None => seed,
    }
}

const NOT_NULL: &str = "NOT NULL constraint failed: ";
const CHECK: &str = "CHECK constraint failed: ";
const FOREIGN_KEY: &str = "FOREIGN KEY constraint failed";
const UNIQUE: &str = "UNIQUE constraint failed: ";

/// For a failed `UNIQUE constraint failed: users.email`: the table, the column and the value
/// the statement tried to write, so the row already holding it can be looked up.
pub fn unique_conflict(record: &ExecutionRecord) -> Option<(String, String, Value)> {
    let (span, error) = failed_statement(record)?;
    let target = error.strip_prefix(UNIQUE)?.split(',').next()?.trim();
    let (table, column) = target.split_once('.')?;
    Some((
        table.to_string(),
        column.to_string(),
        written_value(span, column)?,
    ))
}

/// A statement SQLite refused: a constraint, its syntax, a table or column it names.
pub(super) fn statement_failed(record: &ExecutionRecord, related: &Related) -> Option<Finding> {
    let (span, message) = failed_statement(record)?;
    let mut finding = if let Some(target) = message.strip_prefix(NOT_NULL) {
        not_null(span, target)
    } else if let Some(constraint) = message.strip_prefix(CHECK) {
        check(span, constraint, related)
    } else if message.starts_with(FOREIGN_KEY) {
        foreign_key(span, related)
    } else if message.starts_with(UNIQUE) {
        unique(record, message, related)
    } else if message.contains("constraint failed") {
        // A kind flux has no advice for (a trigger's RAISE, say): the message is the cause.
        violation("constraint-violation", message, None)
    } else {
        schema_error(span, message, related)?
    };
    finding.location = span.location.clone();
    Some(finding)
}

fn violation(cause: &'static str, message: &str, suggestion: Option<String>) -> Finding {
    Finding {
        cause,
        root_cause: format!("Constraint violation: {message}"),
        location: None,
        call_chain: Vec::new(),
        blamed: None,
        suggestion,
    }
}

/// `NOT NULL constraint failed: users.name`: the statement left the column out or gave it null.
fn not_null(span: &Span, target: &str) -> Finding {
    let column = target.split_once('.').map_or(target, |(_, c)| c);
    let written = span
        .str_attr(attr::SQL)
        .and_then(|sql| written(sql, params(span)));
    let default = "or give the column a default in a migration";
    let suggestion = match written {
        Some(columns) if !columns.iter().any(|(c, _)| c == column) => {
            let given: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
            let given = if given.is_empty() {
                "no columns".to_string()
            } else {
                given.join(", ")
            };
            format!(
                "→ Pass a value for {target}: the statement gave only {given} (a value that is undefined is left out), {default}"
            )
        }
        Some(_) => format!("→ {target} was given null: pass a value for it, {default}"),
        None => format!("→ Pass a value for {target}, {default}"),
    };
    violation("not-null", &format!("{NOT_NULL}{target}"), Some(suggestion))
}

/// The expression of `CONSTRAINT <name> CHECK (…)` in a `CREATE TABLE` statement.
fn check_expression(sql: &str, name: &str) -> Option<String> {
    let pattern = format!(
        r#"(?is)\bconstraint\s+["`\[]?{}["`\]]?\s+check\s*\("#,
        regex::escape(name)
    );
    let start = Regex::new(&pattern).ok()?.find(sql)?.end();
    let mut depth = 1;
    for (i, c) in sql[start..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(sql[start..start + i].trim().to_string());
                }
            }
            _ => {}
        }
    }
    None
}

/// `CHECK constraint failed: <name or expression>`: which check, and the values the statement
/// wrote to the columns it tests.
fn check(span: &Span, constraint: &str, related: &Related) -> Finding {
    let written_to = span.str_attr(attr::SQL).and_then(target).map(|(_, t)| t);
    let schema = written_to.as_deref().and_then(|t| table(related, t));
    let named = schema.and_then(|t| check_expression(&t.sql, constraint));
    let (expression, root_cause) = match &named {
        Some(expression) => (
            expression.as_str(),
            format!("{CHECK}{constraint} ({expression})"),
        ),
        None => (constraint, format!("{CHECK}{constraint}")),
    };
    let words: Vec<&str> = expression
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let written = span
        .str_attr(attr::SQL)
        .and_then(|sql| written(sql, params(span)))
        .unwrap_or_default();
    let values: Vec<String> = written
        .iter()
        .filter(|(column, _)| words.contains(&column.as_str()))
        .filter_map(|(column, value)| Some(format!("{column} = {}", inspect(value.as_ref()?))))
        .collect();
    let suggestion = if values.is_empty() {
        format!("→ The row breaks CHECK ({expression}): check the values before writing them")
    } else {
        format!(
            "→ {} breaks CHECK ({expression}): check the value before writing it",
            values.join(", ")
        )
    };
    let mut finding = violation("check", &root_cause, Some(suggestion));
    finding.root_cause = format!("Constraint violation: {root_cause}");
    finding
}

/// `FOREIGN KEY constraint failed` (SQLite names nothing): the parent row a write needed that
/// is not there, and who deleted it; or, for a delete, the child rows still referencing it.
fn foreign_key(span: &Span, related: &Related) -> Finding {
    let references = references(span, related);
    let missing = references
        .iter()
        .find(|r| matches!(r, Reference::Parent { .. }) && r.exists(related) == Some(false));
    let held = references
        .iter()
        .filter(|r| matches!(r, Reference::Child { .. }) && r.exists(related) == Some(true))
        .collect::<Vec<_>>();
    if let Some(Reference::Parent {
        child,
        from,
        table,
        column,
        value,
    }) = missing
    {
        let deleted = related
            .row_history
            .iter()
            .filter(|c| &c.table == table && &c.pk == value && c.committed)
            .max_by_key(|c| c.at_us)
            .filter(|c| c.op == MutationOp::Delete.as_str());
        let suggestion = match deleted {
            Some(change) => format!(
                "→ {} ({}) deleted that {} row: check that it exists before writing {child}, or delete its {child} with it (ON DELETE CASCADE)",
                short(&change.record_id),
                change.function.as_deref().unwrap_or("?"),
                singular(table)
            ),
            None => format!(
                "→ Write the {} row first (in the same ctx.db.transaction), or check that it exists before writing {child}.{from}",
                singular(table)
            ),
        };
        let mut finding = violation(
            "foreign-key",
            &format!(
                "{FOREIGN_KEY}: no {table} row with {column} = {} ({child}.{from})",
                inspect(value)
            ),
            Some(suggestion),
        );
        finding.blamed = deleted.map(|c| blame(c, did(c)));
        return finding;
    }
    if let Some(Reference::Child { parent, value, .. }) = held.first() {
        let children: Vec<String> = held
            .iter()
            .filter_map(|r| match r {
                Reference::Child { table, from, .. } => Some(format!("{table}.{from}")),
                Reference::Parent { .. } => None,
            })
            .collect();
        let tables: Vec<&str> = held
            .iter()
            .filter_map(|r| match r {
                Reference::Child { table, .. } => Some(table.as_str()),
                Reference::Parent { .. } => None,
            })
            .collect();
        return violation(
            "foreign-key",
            &format!(
                "{FOREIGN_KEY}: {} still reference{} {parent} {}",
                children.join(", "),
                if children.len() == 1 { "s" } else { "" },
                key_text(value)
            ),
            Some(format!(
                "→ Delete (or reassign) the {} rows that reference it first, in the same ctx.db.transaction, or declare the foreign key ON DELETE CASCADE",
                tables.join(" and ")
            )),
        );
    }
    // Which row is missing is not known: name what the table references, when known.
    let links: Vec<String> = span
        .str_attr(attr::SQL)
        .and_then(target)
        .and_then(|(_, t)| table(related, &t))
        .map(|t| {
            t.foreign_keys
                .iter()
                .map(|fk| format!("{}.{} → {}.{}", t.name, fk.from, fk.table, fk.to))
                .collect()
        })
        .unwrap_or_default();
    let suggestion = (!links.is_empty()).then(|| {
        format!(
            "→ A value written has no parent row, or a row deleted still has children: {}",
            links.join(", ")
        )
    });
    violation("foreign-key", FOREIGN_KEY, suggestion)
}

/// `UNIQUE constraint failed: users.email`: who already wrote the value; when that was an
/// earlier attempt of this same job, the retry collided with its own partial writes.
fn unique(record: &ExecutionRecord, message: &str, related: &Related) -> Finding {
    let conflict = unique_conflict(record);
    let Some((writer, (table, column, value))) = related.conflicting_writer.as_ref().zip(conflict)
    else {
        return violation(
            "unique",
            message,
            Some("→ Another write already holds this value: look the row up with 'flux state history'".into()),
        );
    };
    let op = if writer.op == "update" {
        "updated"
    } else {
        "inserted"
    };
    let blamed = Some(Blame {
        id: writer.id.clone(),
        function: writer.function.clone(),
        at_us: Some(writer.at_us),
        did: format!("{op} {table}.{column} = {}", inspect(&value)),
    });
    let same_job = writer.job_id.is_some() && writer.job_id == record.links.job_id;
    if same_job {
        let attempt = writer.attempt.map_or_else(
            || "An earlier attempt".to_string(),
            |n| format!("Attempt {n}"),
        );
        let mut finding = violation(
            "retry-collision",
            message,
            Some(format!(
                "→ {attempt} of this job ({}) wrote {table}.{column} = {} before it failed, and a failed attempt's writes stay: make the job idempotent (INSERT … ON CONFLICT DO NOTHING, look the row up first, or do its writes in one ctx.db.transaction so that a failed attempt leaves nothing)",
                short(&writer.id),
                inspect(&value)
            )),
        );
        finding.blamed = blamed;
        return finding;
    }
    let mut finding = violation(
        "unique",
        message,
        Some(format!(
            "→ {} ({}) already wrote {table}.{column} = {}: look for an existing row first, or use INSERT … ON CONFLICT",
            short(&writer.id),
            writer.function.as_deref().unwrap_or("?"),
            inspect(&value)
        )),
    );
    finding.blamed = blamed;
    finding
}

/// The closest of `names` to `wanted`, when one is close enough to be a typo.
fn closest<'a>(wanted: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wanted = wanted.to_lowercase();
    names
        .into_iter()
        .map(|name| {
            (
                strsim::damerau_levenshtein(&wanted, &name.to_lowercase()),
                name,
            )
        })
        .filter(|(distance, name)| *distance <= 2.max(name.len() / 4) && *distance < name.len())
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// A statement SQLite could not compile: its syntax, or a table or column it names.
fn schema_error(span: &Span, message: &str, related: &Related) -> Option<Finding> {
    static SYNTAX: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r#"^near "(.*?)": syntax error"#).ok());
    static OFFSET: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"at offset (\d+)\s*$").ok());
    static TABLE: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"^no such table: (\S+)").ok());
    static COLUMN: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"^(?:no such column: (\S+)|table (\S+) has no column named (\S+))").ok()
    });
    let sql = span.str_attr(attr::SQL).unwrap_or("");
    let finding = |cause, root_cause: String, suggestion: Option<String>| Finding {
        cause,
        root_cause,
        location: None,
        call_chain: Vec::new(),
        blamed: None,
        suggestion,
    };
    if let Some(captures) = regex(&SYNTAX).and_then(|r| r.captures(message)) {
        let token = &captures[1];
        let offset = regex(&OFFSET)
            .and_then(|r| r.captures(message))
            .and_then(|c| c[1].parse::<usize>().ok());
        // A caret under the token, when the statement is one line.
        let pointer = offset
            .filter(|_| !sql.contains('\n'))
            .and_then(|o| sql.get(..o))
            .map(|before| format!("\n  {}^", " ".repeat(before.chars().count())))
            .unwrap_or_default();
        return Some(finding(
            "sql-syntax",
            format!("SQL syntax error near \"{token}\""),
            Some(format!("→ Fix the SQL near \"{token}\":\n  {sql}{pointer}")),
        ));
    }
    if message.starts_with("incomplete input") {
        return Some(finding(
            "sql-syntax",
            "SQL syntax error: the statement is incomplete".into(),
            Some(format!("→ Finish the statement:\n  {sql}")),
        ));
    }
    if let Some(captures) = regex(&TABLE).and_then(|r| r.captures(message)) {
        let name = captures[1].trim_start_matches("main.");
        let tables = related.schema.iter().map(|t| t.name.as_str());
        let suggestion = match closest(name, tables) {
            Some(close) => format!("→ Did you mean {close}?"),
            None => format!(
                "→ No table {name} exists: create it in a migration (migrations/*.sql, applied in name order when flux dev starts or sees the file)"
            ),
        };
        return Some(finding(
            "no-such-table",
            format!("No such table: {name}"),
            Some(suggestion),
        ));
    }
    let captures = regex(&COLUMN)?.captures(message)?;
    let (named_table, column) = match (captures.get(1), captures.get(2), captures.get(3)) {
        (Some(column), _, _) => (None, column.as_str()),
        (None, Some(table), Some(column)) => (Some(table.as_str()), column.as_str()),
        _ => return None,
    };
    // `u.nme`: the alias is not a table name; the column is what was misspelt.
    let bare = column.rsplit('.').next().unwrap_or(column);
    let in_table = named_table
        .map(str::to_string)
        .or_else(|| target(sql).map(|(_, t)| t));
    let schema = in_table.as_deref().and_then(|t| table(related, t));
    let suggestion = schema.map(|t| {
        let columns = t.columns.join(", ");
        match closest(bare, t.columns.iter().map(String::as_str)) {
            Some(close) => format!(
                "→ {} has no column {bare}: did you mean {close}? (its columns: {columns})",
                t.name
            ),
            None => format!(
                "→ {} has no column {bare} (its columns: {columns}): fix the name, or add the column in a migration",
                t.name
            ),
        }
    });
    Some(finding(
        "no-such-column",
        format!("No such column: {column}"),
        suggestion,
    ))
}

/// Causal reach: the execution threw after reading a row another execution had changed. The
/// change whose new value (or column) the error names is blamed, or the only such change. A
/// failed statement or upstream call is a cause of its own, and blames no reader.
pub(super) fn reach(record: &ExecutionRecord, related: &Related) -> Option<Blame> {
    let upstream_failed = record.spans.iter().any(|s| {
        s.name == SpanKind::Fetch
            && (s.status != SpanStatus::Ok || s.u64_attr(attr::STATUS).is_some_and(|c| c >= 400))
    });
    if record.status != Status::Error || failed_statement(record).is_some() || upstream_failed {
        return None;
    }
    let message = record
        .error
        .as_ref()
        .map(|e| e.message.to_lowercase())
        .unwrap_or_default();
    let changes: Vec<&RowChange> = rows_read(record, related)
        .iter()
        .filter(|row| row.found)
        .filter_map(|row| last_change(related, record, &row.table, &row.key, row.at_us))
        .filter(|change| change.op == MutationOp::Update.as_str())
        .collect();
    let named = changes.iter().find(|change| {
        changed_columns(change).iter().any(|(column, _, after)| {
            let value = match after {
                Value::String(s) => s.to_lowercase(),
                other => other.to_string(),
            };
            (!value.is_empty() && message.contains(&value)) || message.contains(*column)
        })
    });
    let change = match (named, changes.as_slice()) {
        (Some(change), _) => change,
        (None, [only]) => only,
        _ => return None,
    };
    Some(blame(change, did(change)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statements_name_their_table_and_written_values() {
        assert_eq!(
            target(r#"INSERT INTO "users" ("id", "name") VALUES ($1, $2) RETURNING *"#),
            Some((Verb::Insert, "users".into()))
        );
        assert_eq!(
            target("update users set status = $1 where id = $2"),
            Some((Verb::Update, "users".into()))
        );
        assert_eq!(
            target("DELETE FROM users WHERE id = ?"),
            Some((Verb::Delete, "users".into()))
        );
        assert_eq!(
            target("SELECT a.x FROM orders a JOIN users u ON u.id = a.user_id"),
            Some((Verb::Select, "orders".into()))
        );
        let params = [json!("u_1"), json!(-3)];
        assert_eq!(
            written(
                r#"INSERT INTO "users" ("id", "age") VALUES ($1, $2) RETURNING *"#,
                &params
            ),
            Some(vec![
                ("id".into(), Some(json!("u_1"))),
                ("age".into(), Some(json!(-3)))
            ])
        );
        assert_eq!(
            written("INSERT INTO t (a, b, c) VALUES (?, 'it''s', 4)", &params),
            Some(vec![
                ("a".into(), Some(json!("u_1"))),
                ("b".into(), Some(json!("it's"))),
                ("c".into(), Some(json!(4)))
            ])
        );
        assert_eq!(
            written("UPDATE t SET a = $2, b = null WHERE id = $1", &params),
            Some(vec![
                ("a".into(), Some(json!(-3))),
                ("b".into(), Some(Value::Null))
            ])
        );
        assert_eq!(written("SELECT 1", &params), None);
    }

    #[test]
    fn key_lookups_are_recognised() {
        assert_eq!(
            key_lookup("SELECT name FROM users WHERE id = $1"),
            Some(("users".into(), "id".into(), 1))
        );
        assert_eq!(
            key_lookup("select * from \"orders\" where \"ref\" = $2 limit 1"),
            Some(("orders".into(), "ref".into(), 2))
        );
        assert_eq!(key_lookup("SELECT * FROM users WHERE age > $1"), None);
    }

    #[test]
    fn a_named_check_is_found_in_its_table() {
        let sql = "CREATE TABLE p (id INTEGER, price INTEGER, CONSTRAINT \"price_positive\" CHECK (price > 0 AND (price < 100)))";
        assert_eq!(
            check_expression(sql, "price_positive").as_deref(),
            Some("price > 0 AND (price < 100)")
        );
        assert_eq!(check_expression(sql, "other"), None);
    }

    #[test]
    fn close_names_are_typos_far_ones_are_not() {
        assert_eq!(closest("nme", ["id", "name", "email"]), Some("name"));
        assert_eq!(closest("user", ["orders", "users"]), Some("users"));
        assert_eq!(closest("invoices", ["orders", "users"]), None);
        assert_eq!(closest("x", ["id"]), None);
    }

    fn read_then_threw(extra: Vec<Span>) -> ExecutionRecord {
        let mut record = crate::record::sample(Kind::Http, "checkout", Status::Error);
        record.error = Some(crate::record::ErrorInfo {
            name: "Error".into(),
            message: "order 7 is shipped".into(),
            stack: None,
            location: Some("checkout.ts:3".into()),
            frames: Vec::new(),
            source: Vec::new(),
        });
        let attrs = json!({ "sql": "SELECT * FROM orders WHERE state = $1", "params": ["x"], "rows": 1, "keys": [7] });
        record.spans = vec![Span {
            id: 1,
            parent: Some(0),
            name: SpanKind::DbQuery,
            start_us: 10,
            duration_us: 5,
            status: SpanStatus::Ok,
            location: Some("checkout.ts:2".into()),
            attrs: attrs.as_object().cloned().unwrap_or_default(),
            error: None,
        }];
        record.spans.extend(extra);
        record
    }

    fn shipped(at_us: i64) -> RowChange {
        RowChange {
            record_id: "cd".repeat(16),
            function: Some("ship".into()),
            table: "orders".into(),
            pk: json!(7),
            op: "update".into(),
            before: json!({ "id": 7, "state": "paid" }).as_object().cloned(),
            after: json!({ "id": 7, "state": "shipped" }).as_object().cloned(),
            committed: true,
            at_us,
        }
    }

    #[test]
    fn a_row_read_and_changed_before_the_read_is_blamed_for_a_throw() {
        let record = read_then_threw(Vec::new());
        let related = Related {
            row_history: vec![shipped(999_000)],
            ..Default::default()
        };
        assert_eq!(
            lookups(&record, &related).history,
            [("orders".to_string(), json!(7))]
        );
        let blamed = reach(&record, &related).expect("blamed");
        assert_eq!(blamed.did, "updated orders 7: state 'paid' → 'shipped'");
        // A change after the read did not cause what the execution saw.
        let later = Related {
            row_history: vec![shipped(2_000_000)],
            ..Default::default()
        };
        assert_eq!(reach(&record, &later), None);
        // A failed upstream call is the cause, whatever was read.
        let fetch = Span {
            id: 2,
            name: SpanKind::Fetch,
            attrs: json!({ "status": 503 })
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..record.spans[0].clone()
        };
        assert_eq!(reach(&read_then_threw(vec![fetch]), &related), None);
    }

    #[test]
    fn an_update_is_told_by_the_values_it_changed() {
        let change = RowChange {
            record_id: "ab".repeat(16),
            function: Some("ban_user".into()),
            table: "users".into(),
            pk: json!(42),
            op: "update".into(),
            before: json!({ "id": 42, "status": "active" }).as_object().cloned(),
            after: json!({ "id": 42, "status": "banned" }).as_object().cloned(),
            committed: true,
            at_us: 0,
        };
        assert_eq!(did(&change), "updated users 42: status 'active' → 'banned'");
        let deleted = RowChange {
            op: "delete".into(),
            pk: json!("u_99"),
            ..change
        };
        assert_eq!(did(&deleted), "deleted users u_99");
    }
}
