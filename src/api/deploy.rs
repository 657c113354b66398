//! The deploy bodies: `/_flux/api/deploy…` (which blobs the server lacks, the manifest that
//! makes a version, the versions, a rollback). The rows are the storage model's (`T`).

use serde::{Deserialize, Serialize};

use crate::version::Manifest;

/// `POST /_flux/api/deploy/missing`: the hashes of a version's files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobHashes {
    pub hashes: Vec<String>,
}

/// Its answer: the hashes whose blob the server lacks (to upload with
/// `PUT /_flux/api/deploy/blobs/<hash>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingBlobs {
    pub missing: Vec<String>,
}

/// `POST /_flux/api/deploy`: a version to make and activate, all its blobs uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDeploy {
    pub manifest: Manifest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `POST /_flux/api/deploy/rollback`: the version to make active again (an id prefix); none:
/// the one active before the active one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// The version a deploy or a rollback made active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activated<T> {
    pub version: T,
}

/// `GET /_flux/api/deploy/versions`: the active one first, then by when each was active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versions<T> {
    pub versions: Vec<T>,
}

/// `PUT /_flux/api/deploy/blobs/<hash>`'s answer: the blob is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBlob {
    pub hash: String,
}
