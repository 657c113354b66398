//! Recorded changes to rows, as read back by `flux state`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One change to one row, with the execution that made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowChange {
    pub record_id: String,
    /// The function of that execution (unknown once its record is pruned).
    pub function: Option<String>,
    pub table: String,
    pub pk: Value,
    pub op: String,
    pub before: Option<Map<String, Value>>,
    pub after: Option<Map<String, Value>>,
    pub committed: bool,
    /// Microseconds since the epoch.
    pub at_us: i64,
}

/// For each column of a row as it stands: the committed change that set its current value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Blame {
    pub column: String,
    pub value: Value,
    pub record_id: String,
    pub function: Option<String>,
    pub at_us: i64,
}
