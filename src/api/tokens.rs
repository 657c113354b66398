//! The token bodies: `/_flux/api/tokens`, `/_flux/api/tokens/<id>/revoke|rotate`. The rows are
//! the storage model's (`T`), as in the queue's bodies.

use serde::{Deserialize, Serialize};

use crate::token::Scope;

/// `POST /_flux/api/tokens`: a token to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub scope: Scope,
    /// What it is for (`ci`, `grafana`); by default its scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `POST /_flux/api/tokens/<id>/rotate`: how long the old token keeps working (`10m`);
/// none: it stops at once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace: Option<String>,
}

/// A token just made: its text, given this once, and its row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedToken<T> {
    pub token: String,
    #[serde(flatten)]
    pub row: T,
    /// For a rotation: the old token's row, with when it stops working. (No `default`: it
    /// would ask `T: Default`; a missing `Option` reads as `None` anyway.)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<T>,
}

/// `GET /_flux/api/tokens`: every token, oldest first, without secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tokens<T> {
    pub tokens: Vec<T>,
}

/// `POST /_flux/api/tokens/<id>/revoke`: the token's row, now revoked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revoked<T> {
    pub revoked: T,
}
