//! What `why` gathers around a record before explaining it: the execution that enqueued it,
//! the writer of a conflicting value, the app's schema, and the existence and recorded changes
//! of the rows the failure involves (as [`super::lookups`] asks). Read through a [`Lookup`]:
//! the CLI's asks the server (or reads the store), the server's reads its store. What cannot
//! be read (a pruned record, an older server without an endpoint) is left out: it only makes
//! the answer plainer.

use serde_json::Value;

use super::{lookups, unique_conflict, Related, RowPresence, Writer};
use crate::record::{ExecutionRecord, RowChange, TableSchema};
use crate::store::ChangeFilter;

/// The most recorded changes read per row.
const HISTORY_PER_ROW: usize = 50;

/// Where `why` reads what it gathers; `None` or empty for what cannot be read.
pub trait Lookup {
    /// The record of execution `id`.
    fn record(&self, id: &str) -> Option<ExecutionRecord>;
    /// Row changes matching `filter`.
    fn changes(&self, filter: &ChangeFilter) -> Vec<RowChange>;
    /// The app's tables.
    fn schema(&self) -> Vec<TableSchema>;
    /// Whether the app's `table` has a row whose `column` is `value`.
    fn row_exists(&self, table: &str, column: &str, value: &Value) -> Option<bool>;
}

pub fn gather(record: &ExecutionRecord, lookup: &dyn Lookup) -> Related {
    let mut related = Related {
        enqueued_by: record
            .links
            .enqueued_by
            .and_then(|id| lookup.record(&id.to_string())),
        conflicting_writer: conflicting_writer(record, lookup),
        schema: lookup.schema(),
        ..Default::default()
    };
    let wanted = lookups(record, &related);
    related.rows = wanted
        .presence
        .into_iter()
        .filter_map(|(table, column, value)| {
            let exists = lookup.row_exists(&table, &column, &value)?;
            Some(RowPresence {
                table,
                column,
                value,
                exists,
            })
        })
        .collect();
    related.row_history = wanted
        .history
        .into_iter()
        .flat_map(|(table, key)| {
            let filter = ChangeFilter {
                table,
                row: Some(match key {
                    Value::String(s) => s,
                    other => other.to_string(),
                }),
                limit: HISTORY_PER_ROW,
                ..Default::default()
            };
            lookup.changes(&filter)
        })
        .collect();
    related
}

/// For a uniqueness violation: the other execution that wrote the value already there.
fn conflicting_writer(record: &ExecutionRecord, lookup: &dyn Lookup) -> Option<Writer> {
    let (table, column, value) = unique_conflict(record)?;
    let filter = ChangeFilter {
        table,
        column_value: Some((column, value.to_string())),
        limit: 10,
        ..Default::default()
    };
    let change = lookup
        .changes(&filter)
        .into_iter()
        .find(|c| c.record_id != record.id.to_string())?;
    let writer = lookup.record(&change.record_id);
    Some(Writer {
        id: change.record_id,
        function: change.function,
        at_us: change.at_us,
        op: change.op,
        job_id: writer.as_ref().and_then(|w| w.links.job_id.clone()),
        attempt: writer.as_ref().and_then(|w| w.links.attempt),
    })
}
