//! `/_flux/api/tokens…`: scoped tokens over HTTP (admin only, see `access.rs`). Writes run on
//! the store thread's transaction like the queue's; each revocation clears this server's
//! token cache, so it takes effect here at once.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::{ambiguous, error, internal, with_store, with_writer, ApiError, AppState};
use crate::api::{CreatedToken, NewToken, Revoked, Rotate, Tokens};
use crate::clock::now_us;
use crate::record::ExecId;
use crate::store::tokens::{self as stored, TokenLookup, TokenRow};
use crate::store::CallerWrites;
use crate::token::{self, Scope};

/// Longest name a token may have.
const MAX_NAME: usize = 100;

/// `GET /_flux/api/tokens`.
pub async fn list(State(state): State<Arc<AppState>>) -> Response {
    match with_store(&state, |store| store.tokens().map_err(internal)).await {
        Ok(tokens) => Json(Tokens { tokens }).into_response(),
        Err(e) => e.into_response(),
    }
}

/// A new token's text and what the store keeps of it.
fn make(scope: Scope, name: String) -> (String, stored::NewToken) {
    let text = token::generate(scope);
    let new = stored::NewToken {
        name,
        scope,
        hash: token::hash(&text),
        session_hash: token::hash(&token::session_value(&text)),
    };
    (text, new)
}

/// `POST /_flux/api/tokens` `{ scope, name? }`: the token, given this once.
pub async fn create(
    State(state): State<Arc<AppState>>,
    body: Result<Json<NewToken>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let asked = match body {
        Ok(Json(asked)) => asked,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("expected {{ scope: read|operate|deploy|admin, name? }}: {e}"),
            )
        }
    };
    let name = asked
        .name
        .unwrap_or_else(|| asked.scope.as_str().to_string());
    if name.trim().is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("a token's name is 1 to {MAX_NAME} printable characters"),
        );
    }
    let (text, new) = make(asked.scope, name);
    let result = with_writer(&state, move |tx| {
        tx.create_token(&new, now_us()).map_err(internal)
    })
    .await;
    match result {
        Ok(row) => (
            StatusCode::CREATED,
            Json(CreatedToken {
                token: text,
                row,
                replaces: None,
            }),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// The token a prefix names, on the writer's transaction.
fn find(tx: &dyn CallerWrites, prefix: &str) -> Result<TokenRow, ApiError> {
    match tx.find_token(prefix).map_err(internal)? {
        TokenLookup::Found(row) => Ok(row),
        TokenLookup::NotFound => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no token {prefix}"),
        )),
        TokenLookup::Ambiguous(ids) => Err(ambiguous(prefix, ids)),
    }
}

/// A token id prefix from the path: hex, 4 characters or more (as execution ids).
fn prefix(raw: &str) -> Result<String, ApiError> {
    ExecId::parse_prefix(raw).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))
}

/// `POST /_flux/api/tokens/<id>/revoke`: it stops working now.
pub async fn revoke(State(state): State<Arc<AppState>>, Path(raw): Path<String>) -> Response {
    let prefix = match prefix(&raw) {
        Ok(prefix) => prefix,
        Err(e) => return e.into_response(),
    };
    let result = with_writer(&state, move |tx| {
        let row = find(tx, &prefix)?;
        let now = now_us();
        tx.revoke_token(&row.id, now).map_err(internal)?;
        Ok(row.revoked_at(now))
    })
    .await;
    state.access.forget();
    match result {
        Ok(revoked) => Json(Revoked { revoked }).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /_flux/api/tokens/<id>/rotate` `{ grace? }`: a new token of the same scope and name;
/// the old one stops working after `grace` (at once without one).
pub async fn rotate(
    State(state): State<Arc<AppState>>,
    Path(raw): Path<String>,
    body: Option<Json<Rotate>>,
) -> Response {
    let prefix = match prefix(&raw) {
        Ok(prefix) => prefix,
        Err(e) => return e.into_response(),
    };
    let grace = match body.and_then(|Json(b)| b.grace) {
        None => std::time::Duration::ZERO,
        Some(text) => match crate::timefmt::parse_delay(&text) {
            Ok(grace) => grace,
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("grace {e}")),
        },
    };
    let result = with_writer(&state, move |tx| {
        let old = find(tx, &prefix)?;
        let now = now_us();
        if !old.is_live(now) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "token {} is revoked: create a new one with 'flux token create --scope {}'",
                    old.id, old.scope
                ),
            ));
        }
        let (text, new) = make(old.scope, old.name.clone());
        let row = tx.create_token(&new, now).map_err(internal)?;
        let until = now.saturating_add(i64::try_from(grace.as_micros()).unwrap_or(i64::MAX));
        tx.revoke_token(&old.id, until).map_err(internal)?;
        Ok(CreatedToken {
            token: text,
            row,
            replaces: Some(old.revoked_at(until)),
        })
    })
    .await;
    state.access.forget();
    match result {
        Ok(created) => (StatusCode::CREATED, Json(created)).into_response(),
        Err(e) => e.into_response(),
    }
}
