//! The app's tables as `flux why` reads them: columns, keys and constraints.

use serde::{Deserialize, Serialize};

/// One of the app's tables (flux's own `_flux_*` tables are never listed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableSchema {
    pub name: String,
    /// The `CREATE TABLE` statement, as SQLite keeps it (where named CHECK constraints are).
    #[serde(default)]
    pub sql: String,
    #[serde(default)]
    pub columns: Vec<String>,
    /// The primary key's columns, in key order (empty for a rowid table without one).
    #[serde(default)]
    pub primary_key: Vec<String>,
    #[serde(default)]
    pub foreign_keys: Vec<ForeignKey>,
}

/// `from` in this table references `table.to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub from: String,
    pub table: String,
    pub to: String,
}
