//! `/_flux/api/emails`: the emails `ctx.email.send` captured.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::{error, internal, with_store, ApiError, AppState};
use crate::api::Emails;

/// At most this many in one answer: the list is for a person to read.
pub const MAX_LIMIT: usize = 1_000;

/// `GET /_flux/api/emails?limit=N` (default 20).
pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Some(key) = params.keys().find(|k| *k != "limit") {
        return error(
            StatusCode::BAD_REQUEST,
            format!("unknown parameter {key} (use limit)"),
        );
    }
    let limit = match params.get("limit").map(|l| l.parse::<usize>()) {
        None => 20,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("limit must be a number from 1 to {MAX_LIMIT}"),
            )
        }
    };
    match with_store(&state, move |store| store.emails(limit).map_err(internal)).await {
        Ok(emails) => Json(Emails { emails }).into_response(),
        Err(error) => error.into_response(),
    }
}

/// `GET /_flux/api/emails/<id>`: one email with its HTML.
pub async fn show(State(state): State<Arc<AppState>>, Path(raw): Path<String>) -> Response {
    let Ok(id) = raw.parse::<i64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("'{raw}' is not an email number (flux email list shows them)"),
        );
    };
    let result = with_store(&state, move |store| {
        store.email(id).map_err(internal)?.ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no email {id} (flux email list shows the captured ones)"),
            )
        })
    })
    .await;
    match result {
        Ok(email) => Json(email).into_response(),
        Err(error) => error.into_response(),
    }
}
