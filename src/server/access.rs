//! Who may do what under `/_flux/`: the scope each route needs ([`ROUTES`], the one table),
//! and the scope a request's token or dashboard session carries ([`Access::grant`]).
//!
//! With no server token (loopback, no `--token`) nothing is checked: every caller may do
//! everything, and a token sent anyway is ignored. With one, the server's token is the admin
//! token, and scoped tokens (`flux token create`) are looked up by their hash in the store.
//! Lookups are cached for [`CACHE_TTL`]: a revocation made through this server clears the
//! cache at once; one made by another process sharing the store is seen within the TTL.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, Method};
use subtle::ConstantTimeEq;

use crate::clock::now_us;
use crate::store::tokens::{TokenKey, TokenRow};
use crate::token::{self, Scope};

/// One route under `/_flux/` and the scope it needs; `None`: anyone (the dashboard's page,
/// code and token form, which hold none of the project's data).
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// `GET` (HEAD too), `POST`, `PUT`, or `*` for any method.
    pub method: &'static str,
    /// As the router declares it.
    pub path: &'static str,
    pub scope: Option<Scope>,
}

const fn route(method: &'static str, path: &'static str, scope: Option<Scope>) -> Route {
    Route {
        method,
        path,
        scope,
    }
}

const READ: Option<Scope> = Some(Scope::Read);
const OPERATE: Option<Scope> = Some(Scope::Operate);
const DEPLOY: Option<Scope> = Some(Scope::Deploy);
const ADMIN: Option<Scope> = Some(Scope::Admin);

/// Every `/_flux/` route the router declares, with the scope it needs. A method and route not
/// listed here needs [`Scope::Admin`].
pub const ROUTES: &[Route] = &[
    route("GET", "/_flux/api/health", READ),
    route("GET", "/_flux/api/records", READ),
    route("GET", "/_flux/api/records/{prefix}", READ),
    route("GET", "/_flux/api/stats/minutes", READ),
    route("GET", "/_flux/api/state/{table}", READ),
    route("GET", "/_flux/api/schema", READ),
    route("GET", "/_flux/api/rows/{table}", READ),
    route("GET", "/_flux/api/tail", READ),
    route("GET", "/_flux/api/jobs", READ),
    route("POST", "/_flux/api/jobs", OPERATE),
    route("GET", "/_flux/api/jobs/{prefix}", READ),
    route("POST", "/_flux/api/jobs/{prefix}/cancel", OPERATE),
    route("GET", "/_flux/api/emails", READ),
    route("GET", "/_flux/api/emails/{id}", READ),
    route("GET", "/_flux/api/queue/stats", READ),
    route("POST", "/_flux/api/queue/pause", OPERATE),
    route("POST", "/_flux/api/queue/resume", OPERATE),
    route("GET", "/_flux/api/dead-letter", READ),
    route("POST", "/_flux/api/dead-letter/replay", OPERATE),
    route("POST", "/_flux/api/dead-letter/{prefix}/replay", OPERATE),
    route("POST", "/_flux/api/deploy", DEPLOY),
    route("POST", "/_flux/api/deploy/missing", DEPLOY),
    route("PUT", "/_flux/api/deploy/blobs/{hash}", DEPLOY),
    route("GET", "/_flux/api/deploy/versions", READ),
    route("POST", "/_flux/api/deploy/rollback", DEPLOY),
    route("GET", "/_flux/api/tokens", ADMIN),
    route("POST", "/_flux/api/tokens", ADMIN),
    route("POST", "/_flux/api/tokens/{prefix}/revoke", ADMIN),
    route("POST", "/_flux/api/tokens/{prefix}/rotate", ADMIN),
    route("GET", "/_flux", None),
    route("GET", "/_flux/", None),
    route("GET", "/_flux/assets/{file}", None),
    route("POST", "/_flux/login", None),
    route("GET", "/_flux/email/{id}", READ),
    route("GET", "/_flux/source/{*file}", READ),
    // Anything else under /_flux/ answers 404, to anyone who may read.
    route("*", "/_flux/{*rest}", READ),
];

/// The scope `method` on the route the router matched (`matched`) needs; `None`: public.
pub fn needed(method: &Method, matched: &str) -> Option<Scope> {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    ROUTES
        .iter()
        .find(|r| r.path == matched && (r.method == method || r.method == "*"))
        .map_or(ADMIN, |r| r.scope)
}

/// What a request may do, once its credentials were checked; put in its extensions.
#[derive(Debug, Clone)]
pub struct Granted {
    pub scope: Scope,
    /// The scoped token it came with; `None` for the admin token or no token needed.
    pub token: Option<TokenRow>,
}

impl Granted {
    pub fn everything() -> Granted {
        Granted {
            scope: Scope::Admin,
            token: None,
        }
    }
}

/// Why a request's credentials were not taken (401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    Missing,
    Wrong,
    Revoked,
}

impl Denied {
    pub fn message(&self) -> &'static str {
        match self {
            Denied::Missing => {
                "unauthorised: this flux server needs a token (Authorization: Bearer …)"
            }
            Denied::Wrong => "unauthorised: this is not a token of this flux server",
            Denied::Revoked => "unauthorised: this token was revoked ('flux token list' says when)",
        }
    }
}

/// The 403 message for a caller of `scope` on a route that needs `needed`.
pub fn refusal(scope: Scope, needed: Scope, method: &Method, path: &str) -> String {
    format!(
        "forbidden: {method} {path} needs a token of scope '{needed}' ({}); this one's scope is \
         '{scope}'",
        needed.describe()
    )
}

/// How long a looked-up token is believed before the store is asked again.
pub const CACHE_TTL: Duration = Duration::from_secs(5);

/// Tokens cached at most: past it the cache starts over (lookups of wrong tokens are not kept).
const CACHE_LIMIT: usize = 1024;

/// A scoped token's last use is written at most this often (per server process).
const NOTE_USE_EVERY_US: i64 = 60_000_000;

/// The server's token and its cache of scoped tokens.
pub struct Access {
    /// The admin token; `None`: nothing is checked.
    pub admin: Option<String>,
    /// The dashboard session cookie the admin token gives, derived once rather than per request.
    admin_session: Option<String>,
    cache: Mutex<HashMap<(KeyKind, String), (TokenRow, Instant)>>,
}

/// [`TokenKey`] as a map key.
type KeyKind = u8;

fn kind(key: TokenKey) -> KeyKind {
    match key {
        TokenKey::Token => 0,
        TokenKey::Session => 1,
    }
}

/// A credential a request presents.
enum Presented<'a> {
    Header(&'a str),
    Session(&'a str),
}

impl Access {
    pub fn new(admin: Option<String>) -> Access {
        Access {
            admin_session: admin.as_deref().map(token::session_value),
            admin,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// What the request may do, asking `lookup` (the store, off the async threads) about a
    /// scoped token not cached.
    pub async fn grant<F, Fut>(&self, headers: &HeaderMap, lookup: F) -> Result<Granted, Denied>
    where
        F: FnOnce(TokenKey, String) -> Fut,
        Fut: std::future::Future<Output = Option<TokenRow>>,
    {
        let (Some(admin), Some(admin_session)) = (&self.admin, &self.admin_session) else {
            return Ok(Granted::everything());
        };
        let (key, value) = match presented(headers) {
            Some(Presented::Header(given)) => {
                if bool::from(given.as_bytes().ct_eq(admin.as_bytes())) {
                    return Ok(Granted::everything());
                }
                // Only text of a scoped token's form is worth a lookup.
                if token::claimed_scope(given).is_none() {
                    return Err(Denied::Wrong);
                }
                (TokenKey::Token, given)
            }
            Some(Presented::Session(cookie)) => {
                if bool::from(cookie.as_bytes().ct_eq(admin_session.as_bytes())) {
                    return Ok(Granted::everything());
                }
                (TokenKey::Session, cookie)
            }
            None => return Err(Denied::Missing),
        };
        let hash = token::hash(value);
        let row = match self.cached(key, &hash, Instant::now()) {
            Some(row) => row,
            None => {
                let row = lookup(key, hash.clone()).await.ok_or(Denied::Wrong)?;
                self.remember(key, hash, row.clone());
                row
            }
        };
        if !row.is_live(now_us()) {
            return Err(Denied::Revoked);
        }
        Ok(Granted {
            scope: row.scope,
            token: Some(row),
        })
    }

    /// The row looked up less than [`CACHE_TTL`] before `now`: after that the store is asked
    /// again, which bounds how long a revocation by another process goes unseen.
    fn cached(&self, key: TokenKey, hash: &str, now: Instant) -> Option<TokenRow> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let (row, at) = cache.get(&(kind(key), hash.to_string()))?;
        (now.saturating_duration_since(*at) < CACHE_TTL).then(|| row.clone())
    }

    fn remember(&self, key: TokenKey, hash: String, row: TokenRow) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert((kind(key), hash), (row, Instant::now()));
    }

    /// Forgets every cached token: after a revocation or rotation through this server, so it
    /// takes effect at once here.
    pub fn forget(&self) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Whether `row`'s use now should be written (at most once a minute); if so, the cache
    /// takes the new time, so requests meanwhile do not write it again.
    pub fn note_use(&self, row: &TokenRow, now_us: i64) -> bool {
        if row
            .last_used_at_us
            .is_some_and(|at| now_us - at < NOTE_USE_EVERY_US)
        {
            return false;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        for (cached, _) in cache.values_mut().filter(|(r, _)| r.id == row.id) {
            cached.last_used_at_us = Some(now_us);
        }
        true
    }
}

/// The token from `Authorization: Bearer …` (any case of the scheme) or `x-flux-token`, else
/// the dashboard's session cookie (see `dashboard::session_cookie`).
fn presented(headers: &HeaderMap) -> Option<Presented<'_>> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .and_then(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()));
    let given = bearer.or_else(|| headers.get("x-flux-token").and_then(|v| v.to_str().ok()));
    // A header that is there but says nothing is a wrong token, never no token.
    if headers.contains_key(header::AUTHORIZATION) || headers.contains_key("x-flux-token") {
        return Some(Presented::Header(given.unwrap_or("")));
    }
    super::dashboard::session_cookie(headers).map(Presented::Session)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::test_headers as headers;

    fn row(scope: Scope, revoked_at_us: Option<i64>) -> TokenRow {
        TokenRow {
            id: "0123456789abcdef".into(),
            name: "ci".into(),
            scope,
            created_at_us: 0,
            last_used_at_us: None,
            revoked_at_us,
        }
    }

    fn grant(
        access: &Access,
        pairs: &[(&'static str, &str)],
        found: Option<TokenRow>,
    ) -> Result<Granted, Denied> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        runtime.block_on(access.grant(&headers(pairs), |_, _| async move { found }))
    }

    #[test]
    fn every_route_names_a_method_the_router_uses_once() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(["GET", "POST", "PUT", "*"].contains(&r.method), "{r:?}");
            assert!(r.path.starts_with("/_flux"), "{r:?}");
            assert!(seen.insert((r.method, r.path)), "listed twice: {r:?}");
        }
        assert_eq!(needed(&Method::HEAD, "/_flux/api/records"), READ);
        assert_eq!(needed(&Method::DELETE, "/_flux/api/records"), ADMIN);
        assert_eq!(needed(&Method::POST, "/_flux/api/jobs"), OPERATE);
        assert_eq!(needed(&Method::GET, "/_flux/"), None);
    }

    #[test]
    fn the_admin_token_grants_everything_and_others_are_looked_up() {
        let access = Access::new(Some("s3cret".into()));
        let scoped = token::generate(Scope::Read);
        let bearer = format!("Bearer {scoped}");
        let ok = grant(&access, &[("authorization", "bearer s3cret")], None).expect("admin");
        assert_eq!(ok.scope, Scope::Admin);
        let read = grant(
            &access,
            &[("authorization", &bearer)],
            Some(row(Scope::Read, None)),
        );
        assert_eq!(read.expect("scoped").scope, Scope::Read);
        // Cached now: found without the store.
        let again = grant(&access, &[("authorization", &bearer)], None);
        assert_eq!(again.expect("cached").scope, Scope::Read);
        access.forget();
        assert_eq!(
            grant(&access, &[("authorization", &bearer)], None).map(|g| g.scope),
            Err(Denied::Wrong)
        );
        assert_eq!(
            grant(
                &access,
                &[("authorization", &bearer)],
                Some(row(Scope::Read, Some(1)))
            )
            .map(|g| g.scope),
            Err(Denied::Revoked)
        );
        for wrong in ["Bearer s3cre7", "Bearer ", "Basic s3cret", "flux_read_AAAA"] {
            assert_eq!(
                grant(&access, &[("authorization", wrong)], None).map(|g| g.scope),
                Err(Denied::Wrong),
                "{wrong}"
            );
        }
        assert_eq!(
            grant(&access, &[], None).map(|g| g.scope),
            Err(Denied::Missing)
        );
        let open = Access::new(None);
        assert_eq!(
            grant(&open, &[("authorization", "Bearer whatever")], None).map(|g| g.scope),
            Ok(Scope::Admin)
        );
    }

    #[test]
    fn a_cached_token_is_asked_about_again_after_the_ttl() {
        let access = Access::new(Some("s3cret".into()));
        let start = Instant::now();
        access.remember(TokenKey::Token, "h".into(), row(Scope::Read, None));
        let later = |by: Duration| access.cached(TokenKey::Token, "h", start + by);
        assert!(later(Duration::ZERO).is_some());
        assert!(later(CACHE_TTL - Duration::from_millis(1)).is_some());
        // Another process's revocation is read from the store from here on.
        assert!(later(CACHE_TTL + Duration::from_millis(1)).is_none());
        assert!(access.cached(TokenKey::Session, "h", start).is_none());
    }

    #[test]
    fn a_use_is_noted_once_a_minute() {
        let access = Access::new(Some("s3cret".into()));
        let mut token = row(Scope::Read, None);
        assert!(access.note_use(&token, 100));
        token.last_used_at_us = Some(100);
        assert!(!access.note_use(&token, 100 + NOTE_USE_EVERY_US - 1));
        assert!(access.note_use(&token, 100 + NOTE_USE_EVERY_US));
    }
}
