//! The dashboard at `/_flux/`: a page of plain ES modules built into the binary, which reads
//! the same `/_flux/api/` the CLI does. Beyond loopback (a token is required) it asks for a
//! token (the server's, or a scoped one) once and keeps a session cookie derived from it,
//! which the guard accepts in place of the header for same-origin requests, with the token's
//! scope.

use std::sync::{Arc, OnceLock};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use subtle::ConstantTimeEq;

use super::access::Granted;
use super::{error, internal, with_store, ApiError, AppState};
use crate::clock::now_us;
use crate::store::tokens::TokenKey;
use crate::token;

/// The cookie that carries the dashboard's session.
pub const SESSION_COOKIE: &str = "flux_session";

/// Pages may run only the dashboard's own scripts and styles, talk only to this server, and
/// be framed by nobody; an email is shown from `/_flux/email/<id>` in a sandboxed frame.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// A captured email is someone's HTML: no script, no requests, no same origin (`sandbox`),
/// only its inline styles and inline images; framed by the dashboard alone.
const EMAIL_CSP: &str = "sandbox; default-src 'none'; style-src 'unsafe-inline'; \
     img-src data:; frame-ancestors 'self'";

/// One embedded file: its name under `/_flux/assets/`, content type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_str!(concat!("../dashboard/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("login.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("util.js", JS),
    asset!("runs.js", JS),
    asset!("run.js", JS),
    asset!("queue.js", JS),
    asset!("replay.js", JS),
    asset!("data.js", JS),
    asset!("emails.js", JS),
    asset!("charts.js", JS),
];

/// Each asset's ETag: a hash of its bytes, computed once.
fn etag(asset: &Asset) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{}\"", &blake3::hash(a.body.as_bytes()).to_hex()[..16]))
            .collect()
    });
    let index = ASSETS
        .iter()
        .position(|a| a.name == asset.name)
        .unwrap_or(0);
    tags.get(index).map(String::as_str).unwrap_or("\"\"")
}

/// The dashboard's routes; the guard in front of them keeps the Host/Origin rules.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/_flux", get(|| async { redirect("/_flux/", None) }))
        .route("/_flux/", get(index))
        .route("/_flux/assets/{file}", get(asset))
        .route("/_flux/login", post(login))
        .route("/_flux/email/{id}", get(email_html))
        .route("/_flux/source/{*file}", get(source))
}

fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// An asset, or 304 when the browser holds this version; browsers revalidate every time
/// (`no-cache`), so a new binary's assets are seen at once.
fn serve(asset: &'static Asset, headers: &HeaderMap) -> Response {
    let tag = etag(asset);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(tag) {
        h.insert(header::ETAG, value);
    }
    secure_headers(h, PAGE_CSP);
    response
}

fn secure_headers(h: &mut HeaderMap, csp: &'static str) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not `no-referrer`: under it a form's POST says `Origin: null`, which the guard refuses.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

async fn index(
    State(state): State<Arc<AppState>>,
    granted: Option<Extension<Granted>>,
    headers: HeaderMap,
) -> Response {
    // The guard granted what the request's session carries, if anything.
    let page = match (&state.access.admin, granted) {
        (Some(_), None) => "login.html",
        _ => "index.html",
    };
    match find(page) {
        Some(asset) => serve(asset, &headers),
        None => error(StatusCode::NOT_FOUND, "the dashboard is not built in"),
    }
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match find(&file).filter(|a| !a.name.ends_with(".html")) {
        Some(asset) => serve(asset, &headers),
        None => error(StatusCode::NOT_FOUND, format!("no dashboard file {file}")),
    }
}

#[derive(serde::Deserialize)]
struct LoginForm {
    token: String,
}

/// `POST /_flux/login` (the token form): the server's token or a live scoped token sets the
/// session cookie and goes back to the dashboard; anything else shows the form again (401),
/// saying so. The session has the token's scope.
async fn login(State(state): State<Arc<AppState>>, Form(form): Form<LoginForm>) -> Response {
    let Some(admin) = &state.access.admin else {
        return redirect("/_flux/", None);
    };
    let given = form.token.trim().to_string();
    let accepted = bool::from(given.as_bytes().ct_eq(admin.as_bytes())) || {
        let storage = Arc::clone(&state.shared.storage);
        let hash = token::hash(&given);
        let found = tokio::task::spawn_blocking(move || {
            storage.token_by_hash(TokenKey::Token, &hash).ok().flatten()
        })
        .await
        .ok()
        .flatten();
        found.is_some_and(|row| row.is_live(now_us()))
    };
    if !accepted {
        let page = find("login.html")
            .map(|a| a.body)
            .unwrap_or_default()
            .replace(
                "<!--message-->",
                "<p class=\"error\">That is not this server's token, nor a live one made with flux token create.</p>",
            );
        let mut response = (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            page,
        )
            .into_response();
        secure_headers(response.headers_mut(), PAGE_CSP);
        return response;
    }
    let cookie = format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/_flux",
        token::session_value(&given)
    );
    redirect("/_flux/", Some(cookie))
}

fn redirect(to: &'static str, cookie: Option<String>) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The session cookie's value, when the request may use it. Browsers send it on requests
/// they make themselves (`Sec-Fetch-Site: none`) and on the dashboard's own (`same-origin`);
/// a request another page caused is refused even were the cookie sent with it.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if !matches!(site, None | Some("same-origin" | "none")) {
        return None;
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// `GET /_flux/email/<id>`: a captured email's HTML as its own sandboxed document, for the
/// dashboard's frame.
async fn email_html(State(state): State<Arc<AppState>>, Path(raw): Path<String>) -> Response {
    let Ok(id) = raw.parse::<i64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("'{raw}' is not an email number"),
        );
    };
    let found = with_store(&state, move |store| {
        store
            .email(id)
            .map_err(internal)?
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no email {id}")))
    })
    .await;
    match found {
        Ok(email) => {
            let html = email.html.unwrap_or_default();
            let mut response =
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
            secure_headers(response.headers_mut(), EMAIL_CSP);
            response
        }
        Err(error) => error.into_response(),
    }
}

/// The largest source file shown beside an error.
const MAX_SOURCE: u64 = 1 << 20;

/// `GET /_flux/source/<file>`: a function's source file as it is now (`file` as an error's
/// location names it, under `functions/`), for the lines around an error. Only script files,
/// only under `functions/`, symbolic links included.
async fn source(State(state): State<Arc<AppState>>, Path(file): Path<String>) -> Response {
    let functions = state.shared.layout.functions_dir();
    let relative = std::path::PathBuf::from(&file);
    let plain = relative
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    let script = relative
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["ts", "tsx", "js", "jsx", "mjs", "mts", "cjs", "cts"].contains(&e));
    if !plain || !script {
        return error(StatusCode::NOT_FOUND, format!("no function source {file}"));
    }
    let read = tokio::task::spawn_blocking(move || -> Option<String> {
        let root = functions.canonicalize().ok()?;
        let path = functions.join(&relative).canonicalize().ok()?;
        if !path.starts_with(&root) || path.metadata().ok()?.len() > MAX_SOURCE {
            return None;
        }
        std::fs::read_to_string(path).ok()
    })
    .await;
    match read {
        Ok(Some(text)) => {
            let mut response =
                ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response();
            secure_headers(response.headers_mut(), PAGE_CSP);
            response
        }
        _ => error(StatusCode::NOT_FOUND, format!("no function source {file}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().expect("header value"));
        }
        map
    }

    #[test]
    fn the_session_cookie_counts_only_from_the_dashboards_own_origin() {
        let cookie = format!("a=b; {SESSION_COOKIE}=v1");
        assert_eq!(session_cookie(&with(&[("cookie", &cookie)])), Some("v1"));
        assert_eq!(
            session_cookie(&with(&[
                ("cookie", &cookie),
                ("sec-fetch-site", "same-origin")
            ])),
            Some("v1")
        );
        assert_eq!(
            session_cookie(&with(&[
                ("cookie", &cookie),
                ("sec-fetch-site", "same-site")
            ])),
            None
        );
        assert_eq!(session_cookie(&with(&[("cookie", "a=b")])), None);
    }

    #[test]
    fn every_asset_is_embedded_once_with_its_own_tag() {
        let mut names: Vec<_> = ASSETS.iter().map(|a| a.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ASSETS.len());
        assert!(ASSETS.iter().all(|a| etag(a).len() == 18));
    }
}
