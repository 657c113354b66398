//! Who may use `/_flux/`: the right `Host` (no DNS rebinding), no other web page's `Origin`
//! (no cross-site requests), and, when the server has a token, a token or dashboard session
//! (`dashboard.rs`) whose scope the route needs (`access.rs`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use super::access::refusal;
use super::{error, AppState};
use crate::clock::now_us;
use axum::extract::{MatchedPath, Request, State};
use axum::http::uri::{Authority, Uri};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

/// Where a request's connection arrived, put on every request by the serve loop.
#[derive(Debug, Clone, Copy)]
pub struct ConnectedTo {
    /// The local address the client reached.
    pub local: SocketAddr,
    /// The address the server listens on (`0.0.0.0:4000` with `--host 0.0.0.0`).
    pub bound: SocketAddr,
}

/// Checks `/_flux/` requests; function routes are the app's own and pass untouched.
pub async fn guard_api(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    if !request.uri().path().starts_with("/_flux/") {
        return next.run(request).await;
    }
    let connected = request.extensions().get::<ConnectedTo>().copied();
    let config = state.shared.config();
    let allowed = &config.server.allowed_hosts;
    if let Err(refusal) = check_host(request.headers(), connected, allowed)
        .and_then(|()| check_origin(request.headers(), connected, allowed))
    {
        return error(StatusCode::FORBIDDEN, refusal);
    }
    let storage = Arc::clone(&state.shared.storage);
    let lookup = |key, hash: String| async move {
        tokio::task::spawn_blocking(move || storage.token_by_hash(key, &hash).ok().flatten())
            .await
            .ok()
            .flatten()
    };
    let granted = state.access.grant(request.headers(), lookup).await;
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("", |m| m.as_str());
    // The dashboard's page, code and token form are no secret (the page shows the token form
    // when the request carries no token or session).
    let Some(needed) = super::access::needed(request.method(), matched) else {
        let mut request = request;
        if let Ok(granted) = granted {
            request.extensions_mut().insert(granted);
        }
        return next.run(request).await;
    };
    let granted = match granted {
        Ok(granted) => granted,
        Err(denied) => return error(StatusCode::UNAUTHORIZED, denied.message()),
    };
    if !granted.scope.allows(needed) {
        let message = refusal(
            granted.scope,
            needed,
            request.method(),
            request.uri().path(),
        );
        return error(StatusCode::FORBIDDEN, message);
    }
    if let Some(row) = &granted.token {
        let now = now_us();
        if state.access.note_use(row, now) {
            let (state, id) = (Arc::clone(&state), row.id.clone());
            // Best effort: a lost note of a use is not worth failing the request for.
            tokio::spawn(async move {
                let _ = super::with_writer(&state, move |tx| {
                    tx.note_token_used(&id, now).map_err(super::internal)
                })
                .await;
            });
        }
    }
    let mut request = request;
    request.extensions_mut().insert(granted);
    next.run(request).await
}

/// A name this server answers to: a loopback name or address, the address the client
/// connected to or the server is bound to, or one of `server.allowedHosts`. A DNS-rebinding
/// page reaches the server under its own domain name, which is none of these.
fn host_allowed(host: &str, connected: Option<ConnectedTo>, allowed: &[String]) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        let ip = ip.to_canonical();
        return ip.is_loopback()
            || connected.is_some_and(|c| {
                c.local.ip().to_canonical() == ip || c.bound.ip().to_canonical() == ip
            });
    }
    allowed.contains(&host)
}

fn check_host(
    headers: &HeaderMap,
    connected: Option<ConnectedTo>,
    allowed: &[String],
) -> Result<(), String> {
    // Browsers always send Host; a client without one is not a web page.
    let Some(value) = headers.get(header::HOST) else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(value.as_bytes());
    let host = text
        .parse::<Authority>()
        .map(|a| a.host().to_string())
        .unwrap_or_else(|_| text.to_string());
    if host_allowed(&host, connected, allowed) {
        return Ok(());
    }
    Err(format!(
        "refused: Host '{text}' is not a name of this flux server (a web page may be reaching it \
         through DNS rebinding). To use /_flux/ under that name, add '{host}' to \
         server.allowedHosts in flux.config.ts"
    ))
}

fn check_origin(
    headers: &HeaderMap,
    connected: Option<ConnectedTo>,
    allowed: &[String],
) -> Result<(), String> {
    let refused = |origin: &str| {
        Err(format!(
            "refused: the web page at {origin} may not use this flux server's /_flux/ API \
             (only the server's own origin may; the CLI and scripts send no Origin)"
        ))
    };
    if let Some(origin) = headers.get(header::ORIGIN) {
        let text = String::from_utf8_lossy(origin.as_bytes());
        let Ok(uri) = text.parse::<Uri>() else {
            return refused(&text);
        };
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return refused(&text);
        };
        let default_port = match scheme {
            "http" => 80,
            "https" => 443,
            _ => return refused(&text),
        };
        let port = uri.port_u16().unwrap_or(default_port);
        let configured = allowed.iter().any(|name| name.eq_ignore_ascii_case(host));
        // Another server on this machine (say a front-end on localhost:3000) is another
        // origin: its pages must not drive this one.
        let same_port = connected.is_none_or(|c| c.local.port() == port);
        if !(configured || (host_allowed(host, connected, allowed) && same_port)) {
            return refused(&text);
        }
    }
    // Requests a page makes without CORS (an <img>, a form) may carry no Origin; the fetch
    // metadata browsers add still says where they come from.
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some("cross-site" | "same-site") => refused("another site"),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::test_headers as headers;

    fn connected(local: &str, bound: &str) -> Option<ConnectedTo> {
        Some(ConnectedTo {
            local: local.parse().expect("local address"),
            bound: bound.parse().expect("bound address"),
        })
    }

    #[test]
    fn hosts_are_loopback_the_connected_address_or_configured() {
        let connected = connected("192.168.1.5:4000", "0.0.0.0:4000");
        let allowed = vec!["myapp.test".to_string()];
        for host in [
            "localhost",
            "app.localhost",
            "127.0.0.1",
            "[::1]",
            "192.168.1.5",
            "0.0.0.0",
            "MyApp.test",
        ] {
            assert!(host_allowed(host, connected, &allowed), "{host}");
        }
        for host in ["evil.example", "10.0.0.1", "localhost.evil.example"] {
            assert!(!host_allowed(host, connected, &allowed), "{host}");
        }
    }

    #[test]
    fn origins_must_be_the_servers_own() {
        let connected = connected("127.0.0.1:4000", "127.0.0.1:4000");
        let ok = |origin: &str| check_origin(&headers(&[("origin", origin)]), connected, &[]);
        assert!(ok("http://127.0.0.1:4000").is_ok());
        assert!(ok("http://localhost:4000").is_ok());
        assert!(ok("http://localhost:3000").is_err());
        assert!(ok("http://evil.example").is_err());
        assert!(ok("null").is_err());
        let cross = headers(&[("sec-fetch-site", "cross-site")]);
        assert!(check_origin(&cross, connected, &[]).is_err());
    }
}
