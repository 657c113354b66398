//! `/_flux/api/deploy…`: deployed versions over HTTP (`flux deploy`). A deploy asks which
//! blobs the store lacks, uploads those (each checked against its hash), then posts the
//! manifest, which makes the version and activates it. A server that runs versions
//! (`flux serve`) prepares each one (materialised, migrated) before the store marks it
//! active, and refuses the activation when that fails; `flux dev` only keeps them.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::access::Granted;
use super::{ambiguous, internal, with_store, with_writer, ApiError, AppState};
use crate::api::{Activated, BlobHashes, MissingBlobs, NewDeploy, Rollback, StoredBlob, Versions};
use crate::clock::now_us;
use crate::store::versions::{NewVersion, VersionLookup, VersionRow};
use crate::store::CallerWrites;
use crate::version::{self, Manifest};

/// Longest message a version may carry.
const MAX_MESSAGE: usize = 1000;

/// What a server that runs deployed versions does when one is to become active.
pub trait Activation: Send + Sync {
    /// Gets version `id` ready to run (its files in place, its migrations applied); an error
    /// (a failing migration: its file, line and the SQL error) refuses the activation.
    fn prepare(&self, id: &str, manifest: &Manifest) -> Result<(), String>;

    /// Runs version `id` from now on (the store has it active).
    fn switch(&self, id: &str);

    /// The version running; `None` before the first deploy.
    fn active(&self) -> Option<String>;
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

fn body<T>(body: Result<Json<T>, JsonRejection>, expected: &str) -> Result<T, ApiError> {
    body.map(|Json(body)| body)
        .map_err(|e| bad_request(format!("expected {expected}: {e}")))
}

fn check_hashes<'a>(hashes: impl IntoIterator<Item = &'a String>) -> Result<(), ApiError> {
    match hashes.into_iter().find(|hash| !version::is_hash(hash)) {
        Some(bad) => Err(bad_request(format!("'{bad}' is not a SHA-256 in hex"))),
        None => Ok(()),
    }
}

/// `POST /_flux/api/deploy/missing` `{ hashes }`: those the store has no blob of.
pub async fn missing(
    State(state): State<Arc<AppState>>,
    asked: Result<Json<BlobHashes>, JsonRejection>,
) -> Response {
    let result = async {
        let asked = body(asked, "{ hashes: [sha256, …] }")?;
        check_hashes(&asked.hashes)?;
        with_store(&state, move |store| {
            store.missing_blobs(&asked.hashes).map_err(internal)
        })
        .await
    }
    .await;
    match result {
        Ok(missing) => Json(MissingBlobs { missing }).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `PUT /_flux/api/deploy/blobs/<sha256>`: a file's bytes, kept only if they hash to it.
pub async fn put_blob(
    State(state): State<Arc<AppState>>,
    Path(hash): Path<String>,
    bytes: Bytes,
) -> Response {
    let result = async {
        check_hashes([&hash])?;
        let actual = version::hash_bytes(&bytes);
        if actual != hash {
            return Err(bad_request(format!(
                "the upload's SHA-256 is {actual}, not {hash}: it changed on the way"
            )));
        }
        with_writer(&state, move |tx| {
            tx.put_blob(&hash, &bytes).map_err(internal)?;
            Ok(hash)
        })
        .await
    }
    .await;
    match result {
        Ok(hash) => (StatusCode::CREATED, Json(StoredBlob { hash })).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The name a version's row gives its deployer: the scoped token's, or `admin`.
fn deployer(granted: Option<Extension<Granted>>) -> String {
    granted
        .and_then(|Extension(granted)| granted.token.map(|token| token.name))
        .unwrap_or_else(|| "admin".into())
}

/// Prepares version `id` on a server that runs versions, off the async threads.
async fn prepare(state: &AppState, id: &str, manifest: Manifest) -> Result<(), ApiError> {
    let Some(activation) = state.activation.clone() else {
        return Ok(());
    };
    let id = id.to_string();
    tokio::task::spawn_blocking(move || activation.prepare(&id, &manifest))
        .await
        .map_err(internal)?
        .map_err(|message| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message))
}

/// Switches a server that runs versions to `id`, off the async threads (it rescans the code).
async fn switch(state: &AppState, id: &str) {
    if let Some(activation) = state.activation.clone() {
        let id = id.to_string();
        let _ = tokio::task::spawn_blocking(move || activation.switch(&id)).await;
    }
}

/// The version an id prefix names, on the writer's transaction.
fn find(tx: &dyn CallerWrites, prefix: &str) -> Result<VersionRow, ApiError> {
    match tx.find_version(prefix).map_err(internal)? {
        VersionLookup::Found(row) => Ok(row),
        VersionLookup::NotFound => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no version {prefix}"),
        )),
        VersionLookup::Ambiguous(ids) => Err(ambiguous(prefix, ids)),
    }
}

/// `POST /_flux/api/deploy` `{ manifest, message? }`: the version, made active.
pub async fn deploy(
    State(state): State<Arc<AppState>>,
    granted: Option<Extension<Granted>>,
    asked: Result<Json<NewDeploy>, JsonRejection>,
) -> Response {
    let deployed_by = deployer(granted);
    let result = async {
        let asked = body(
            asked,
            "{ manifest: { files: [{ path, hash, size }] }, message? }",
        )?;
        let manifest = Manifest::new(asked.manifest.files);
        manifest.check_paths().map_err(bad_request)?;
        if asked
            .message
            .as_ref()
            .is_some_and(|m| m.len() > MAX_MESSAGE)
        {
            return Err(bad_request(format!(
                "a version's message is at most {MAX_MESSAGE} bytes"
            )));
        }
        let hashes: Vec<String> = manifest.files.iter().map(|f| f.hash.clone()).collect();
        let missing = with_store(&state, move |store| {
            store.missing_blobs(&hashes).map_err(internal)
        })
        .await?;
        if let Some(first) = missing.first() {
            return Err(bad_request(format!(
                "{} of the version's files were not uploaded (the first: {first}): \
                 PUT /_flux/api/deploy/blobs/<sha256> each",
                missing.len()
            )));
        }
        let id = manifest.id();
        let _one_at_a_time = state.deploying.lock().await;
        let new = NewVersion {
            id: id.clone(),
            manifest: serde_json::to_string(&manifest).map_err(internal)?,
            files: manifest.files.len() as i64,
            size: manifest.total_size() as i64,
            deployed_by,
            message: asked.message,
        };
        prepare(&state, &id, manifest).await?;
        let row = with_writer(&state, move |tx| {
            tx.create_version(&new, now_us()).map_err(internal)?;
            find(tx, &new.id)
        })
        .await?;
        switch(&state, &id).await;
        Ok(row)
    }
    .await;
    match result {
        Ok(row) => (
            StatusCode::CREATED,
            Json(Activated {
                version: VersionRow {
                    active: true,
                    ..row
                },
            }),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /_flux/api/deploy/versions`.
pub async fn versions(State(state): State<Arc<AppState>>) -> Response {
    match with_store(&state, |store| store.versions().map_err(internal)).await {
        Ok(versions) => Json(Versions { versions }).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /_flux/api/deploy/rollback` `{ version? }`: the named version (or the one active
/// before the active one) made active again.
pub async fn rollback(
    State(state): State<Arc<AppState>>,
    asked: Option<Json<Rollback>>,
) -> Response {
    let asked = asked.map(|Json(asked)| asked).unwrap_or_default();
    let result = async {
        let _one_at_a_time = state.deploying.lock().await;
        let prefix = match asked.version {
            Some(prefix) => prefix.to_ascii_lowercase(),
            None => {
                let versions =
                    with_store(&state, |store| store.versions().map_err(internal)).await?;
                match versions.get(1) {
                    Some(previous) => previous.id.clone(),
                    None => {
                        return Err(ApiError::new(
                            StatusCode::CONFLICT,
                            "there is no earlier version to go back to",
                        ))
                    }
                }
            }
        };
        let target = with_writer(&state, move |tx| find(tx, &prefix)).await?;
        let id = target.id.clone();
        let manifest = {
            let id = id.clone();
            with_store(&state, move |store| {
                store.version_manifest(&id).map_err(internal)
            })
            .await?
        };
        let manifest: Manifest = manifest
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(internal)?
            .unwrap_or_default();
        prepare(&state, &id, manifest).await?;
        let row = {
            let id = id.clone();
            with_writer(&state, move |tx| {
                tx.activate_version(&id, now_us()).map_err(internal)?;
                find(tx, &id)
            })
            .await?
        };
        switch(&state, &id).await;
        Ok(row)
    }
    .await;
    match result {
        Ok(row) => Json(Activated {
            version: VersionRow {
                active: true,
                ..row
            },
        })
        .into_response(),
        Err(e) => e.into_response(),
    }
}
