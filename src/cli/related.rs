//! `flux why`'s reads of what bears on a record (`why::gather`): from the server when it runs,
//! else from the project's store.

use serde_json::Value;

use super::source::read_or_store;
use super::trace::fetch_record;
use crate::api::{RowExists, Schema};
use crate::client::{encode, Target};
use crate::record::{ExecutionRecord, RowChange, TableSchema};
use crate::store::ChangeFilter;
use crate::why::{Lookup, Related};

pub fn gather(record: &ExecutionRecord, target: &Target) -> Related {
    crate::why::gather(record, &Remote(target))
}

/// A flux server, or the project's store when none answers.
struct Remote<'a>(&'a Target);

impl Lookup for Remote<'_> {
    fn record(&self, id: &str) -> Option<ExecutionRecord> {
        fetch_record(id, self.0).ok()
    }

    fn changes(&self, filter: &ChangeFilter) -> Vec<RowChange> {
        super::state::fetch(self.0, filter).unwrap_or_default()
    }

    fn schema(&self) -> Vec<TableSchema> {
        read_or_store(
            self.0,
            "/_flux/api/schema",
            |body: Schema<TableSchema>| body.tables,
            |store| store.schema(),
        )
        .unwrap_or_default()
    }

    fn row_exists(&self, table: &str, column: &str, value: &Value) -> Option<bool> {
        let path = format!(
            "/_flux/api/rows/{}?column={}&value={}",
            encode(table),
            encode(column),
            encode(&value.to_string())
        );
        read_or_store(
            self.0,
            &path,
            |body: RowExists| body.exists,
            |store| store.row_exists(table, column, value),
        )
        .ok()
    }
}
