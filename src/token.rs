//! Access tokens for `/_flux/`: what each scope may do, and a scoped token's text and hash.
//!
//! A scoped token is `flux_<scope>_<43 characters>`: the prefix makes a leaked one easy to
//! find (`grep -r flux_operate_`), the rest is 256 random bits (base64url). Only its SHA-256
//! is stored. A slow hash (bcrypt, Argon2) protects guessable passwords; these are random and
//! as long as the hash itself, so nobody can search for one, and one fast hash per request
//! costs nothing. The server's own token (`--token`, `FLUX_TOKEN`, or one made up beyond
//! loopback) is the admin token; it is not stored.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// What a token may do. `Read` is below every other; `Operate` and `Deploy` each add their
/// own writes; `Admin` may do everything, managing tokens included.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Operate,
    Deploy,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Operate, Scope::Deploy, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Operate => "operate",
            Scope::Deploy => "deploy",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether a token of this scope may do what `needed` is required for.
    pub fn allows(self, needed: Scope) -> bool {
        self == needed || self == Scope::Admin || needed == Scope::Read
    }

    /// What the scope is for, in a few words (help texts and refusals).
    pub fn describe(self) -> &'static str {
        match self {
            Scope::Read => "records, tail, why/trace, state, queue stats and lists, emails",
            Scope::Operate => "read, plus queue actions: enqueue, cancel, replay, pause, resume",
            Scope::Deploy => "read, plus deploying a new version (flux deploy)",
            Scope::Admin => "everything, managing tokens included",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every scoped token starts so.
pub const PREFIX: &str = "flux_";

/// Random bytes in a token's secret part.
const SECRET_BYTES: usize = 32;

/// A new token of `scope`: its text, shown once.
pub fn generate(scope: Scope) -> String {
    let secret: [u8; SECRET_BYTES] = rand::random();
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    format!("{PREFIX}{}_{encoded}", scope.as_str())
}

/// The scope a token's text claims, when it has the form of a scoped token. The claim is
/// only a hint for people: the stored row decides.
pub fn claimed_scope(token: &str) -> Option<Scope> {
    let rest = token.strip_prefix(PREFIX)?;
    let (scope, secret) = rest.split_once('_')?;
    let scope = Scope::parse(scope)?;
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(secret)
        .ok()?;
    (decoded.len() == SECRET_BYTES).then_some(scope)
}

/// The hash a token is stored and looked up by (lowercase hex SHA-256).
pub fn hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// The dashboard's session for a token: derived from it (so the cookie shows nothing of the
/// token the CLI's users type), and stored hashed like the token, for scoped ones.
pub fn session_value(token: &str) -> String {
    hex(&blake3::derive_key(
        "flux dashboard session 2026-12",
        token.as_bytes(),
    ))
}

/// Bytes as lowercase hex (also a deployed version's hashes).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_token_names_its_scope_and_is_long_and_random() {
        for scope in Scope::ALL {
            let token = generate(scope);
            assert!(token.starts_with(&format!("flux_{scope}_")), "{token}");
            assert_eq!(claimed_scope(&token), Some(scope));
            assert_ne!(generate(scope), token);
            assert_eq!(hash(&token).len(), 64);
        }
        assert_eq!(claimed_scope("flux_read_short"), None);
        assert_eq!(claimed_scope("flux_root_AAAA"), None);
        assert_eq!(claimed_scope("s3cret"), None);
    }

    #[test]
    fn admin_allows_everything_and_read_is_in_every_scope() {
        for scope in Scope::ALL {
            assert!(Scope::Admin.allows(scope));
            assert!(scope.allows(Scope::Read));
            assert!(scope.allows(scope));
        }
        assert!(!Scope::Read.allows(Scope::Operate));
        assert!(!Scope::Operate.allows(Scope::Deploy));
        assert!(!Scope::Deploy.allows(Scope::Operate));
        assert!(!Scope::Operate.allows(Scope::Admin));
    }
}
