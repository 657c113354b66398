//! `fetch`: the request runs on tokio while the script goes on; its response (or failure)
//! comes back to the engine's thread as a [`FetchDone`], which settles the JS promise.

use rquickjs::convert::List;
use rquickjs::{Ctx, FromJs, Function, IntoJs, Object, TypedArray};
use serde_json::{Map, Value};

use super::{site, Bridge, CopiedBytes, Event, ExecState, HostError, HostState, Token};
use crate::record::{attr, SpanKind, SpanStatus};
use crate::runtime::is_json_content_type;

/// The largest response body `fetch` reads.
const MAX_FETCH_BODY: usize = 50 * 1024 * 1024;

/// How much of a response's body its span keeps.
const BODY_SNIPPET: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("fetch: only http and https URLs are supported, not {0}:")]
    Scheme(String),
    #[error("fetch: invalid URL '{url}': {reason}")]
    Url { url: String, reason: String },
    #[error("fetch: invalid method '{0}'")]
    Method(String),
}

/// A response, as the engine's thread hands it to the glue's `settleFetch`.
pub struct FetchResponse {
    pub status: u16,
    pub status_text: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl<'js> IntoJs<'js> for FetchResponse {
    fn into_js(self, ctx: &Ctx<'js>) -> rquickjs::Result<rquickjs::Value<'js>> {
        let response = Object::new(ctx.clone())?;
        response.set("status", self.status)?;
        response.set("statusText", self.status_text)?;
        let headers: Vec<List<(String, String)>> = self.headers.into_iter().map(List).collect();
        response.set("headers", headers)?;
        response.set("body", TypedArray::<u8>::new(ctx.clone(), self.body)?)?;
        Ok(response.into_value())
    }
}

/// A finished `fetch`, sent back to the engine's thread.
pub struct FetchDone {
    /// The execution that started it.
    pub token: Token,
    pub id: u64,
    /// The response, or why there is none.
    pub outcome: Result<FetchResponse, String>,
}

/// A `fetch` still running on tokio: its span and the handle that cancels it.
pub(super) struct PendingFetch {
    span: u32,
    task: tokio::task::AbortHandle,
}

impl PendingFetch {
    pub(super) fn abort(&self) {
        self.task.abort();
    }
}

/// A request body as the glue passes it: text, or bytes in a `Uint8Array`.
struct Body(Vec<u8>);

impl<'js> FromJs<'js> for Body {
    fn from_js(ctx: &Ctx<'js>, value: rquickjs::Value<'js>) -> rquickjs::Result<Body> {
        if value.is_string() {
            return String::from_js(ctx, value).map(|text| Body(text.into_bytes()));
        }
        CopiedBytes::from_js(ctx, value).map(|CopiedBytes(bytes)| Body(bytes))
    }
}

pub(super) fn install<'js>(ctx: &Ctx<'js>, bridge: &Bridge) -> rquickjs::Result<Object<'js>> {
    let fetch = Object::new(ctx.clone())?;
    let b = bridge.clone();
    fetch.set(
        "start",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  method: String,
                  url: String,
                  headers: Vec<List<(String, String)>>,
                  body: Option<Body>,
                  at: Option<String>| {
                let request = Request {
                    method,
                    url,
                    headers: headers.into_iter().map(|List(header)| header).collect(),
                    body: body.map(|body| body.0),
                };
                // An id the glue keys its pending promises by (a JS number).
                b.run(&ctx, |state| state.start_fetch(request, site(at)))
                    .map(|id| id as f64)
            },
        )?,
    )?;
    let b = bridge.clone();
    fetch.set(
        "abort",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, id: f64, reason: String| {
                b.run(&ctx, |state| Ok(state.abort_fetch(id as u64, &reason)))
            },
        )?,
    )?;
    Ok(fetch)
}

/// What the glue's `Request` asked for.
struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl HostState {
    /// Starts a fetch for the execution whose code runs now (`fetch` is a global).
    fn start_fetch(&mut self, args: Request, site: Option<String>) -> Result<u64, HostError> {
        let token = self.current;
        self.running(token)?;
        let url = match reqwest::Url::parse(&args.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            Ok(url) => return Err(FetchError::Scheme(url.scheme().to_string()).into()),
            Err(e) => {
                return Err(FetchError::Url {
                    url: args.url,
                    reason: e.to_string(),
                }
                .into())
            }
        };
        let method = reqwest::Method::from_bytes(args.method.as_bytes())
            .map_err(|_| FetchError::Method(args.method.clone()))?;
        let mut attrs = Map::new();
        attrs.insert(attr::METHOD.into(), Value::String(method.to_string()));
        attrs.insert(attr::URL.into(), Value::String(url.to_string()));
        // Unique on the engine: the glue keys its pending promises by it.
        let id = self.next_op();
        let exec = self.running(token)?;
        let span = exec.recorder.open(SpanKind::Fetch, site, attrs);
        let mut request = self.shared.http_client.request(method, url);
        for (name, value) in args.headers {
            request = request.header(name, value);
        }
        if let Some(body) = args.body {
            request = request.body(body);
        }
        let inbox = self.inbox.clone();
        let task = self.shared.tokio.spawn(async move {
            let outcome = perform(request).await;
            let _ = inbox.send(Event::Fetch(FetchDone { token, id, outcome }));
        });
        let fetch = PendingFetch {
            span,
            task: task.abort_handle(),
        };
        self.running(token)?.fetches.insert(id, fetch);
        Ok(id)
    }

    /// `fetch`'s signal aborted: the request is cancelled and its span closed. Called from
    /// an abort listener, it never throws: after the execution it does nothing.
    fn abort_fetch(&mut self, id: u64, reason: &str) -> bool {
        self.execs
            .values_mut()
            .filter(|exec| !exec.ended)
            .any(|exec| exec.abort_fetch(id, reason))
    }

    /// Records a finished fetch on its span; false when its execution has ended (or it was
    /// aborted), and then nothing is to be delivered.
    pub fn finish_fetch(&mut self, done: &FetchDone) -> bool {
        let Ok(exec) = self.running(done.token) else {
            return false;
        };
        let Some(PendingFetch { span, .. }) = exec.fetches.remove(&done.id) else {
            return false;
        };
        let mut attrs = Map::new();
        let (status, error) = match &done.outcome {
            Ok(response) => {
                let code = response.status;
                attrs.insert(attr::STATUS.into(), Value::from(code));
                let content_type = response
                    .headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
                    .map(|(_, value)| value.as_str());
                if let Some(content_type) = content_type {
                    attrs.insert(attr::CONTENT_TYPE.into(), Value::from(content_type));
                }
                // What an error (or an answer that is not JSON) said: what `why` quotes when
                // the code then fails on it.
                let json = content_type.is_some_and(is_json_content_type);
                if code >= 400 || !json {
                    if let Some(snippet) = body_snippet(&response.body, content_type) {
                        attrs.insert(attr::BODY.into(), Value::from(snippet));
                    }
                }
                if code >= 400 {
                    (SpanStatus::Error, Some(format!("HTTP {code}")))
                } else {
                    (SpanStatus::Ok, None)
                }
            }
            Err(error) => (SpanStatus::Error, Some(error.clone())),
        };
        exec.recorder.close(span, status, error, attrs);
        true
    }
}

impl ExecState {
    /// Cancels a running fetch: dropping its future closes the upstream connection.
    fn abort_fetch(&mut self, id: u64, reason: &str) -> bool {
        let Some(fetch) = self.fetches.remove(&id) else {
            return false;
        };
        fetch.abort();
        let mut attrs = Map::new();
        attrs.insert(attr::ABORTED.into(), Value::String(reason.to_string()));
        self.recorder.close(
            fetch.span,
            SpanStatus::Error,
            Some(format!("aborted: {reason}")),
            attrs,
        );
        true
    }
}

async fn perform(request: reqwest::RequestBuilder) -> Result<FetchResponse, String> {
    let mut response = request.send().await.map_err(describe_reqwest)?;
    let status = response.status();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(describe_reqwest)? {
        if body.len() + chunk.len() > MAX_FETCH_BODY {
            return Err(format!(
                "the response body is larger than {} MiB",
                MAX_FETCH_BODY >> 20
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(FetchResponse {
        status: status.as_u16(),
        status_text: status.canonical_reason().unwrap_or("").to_string(),
        headers,
        body,
    })
}

fn describe_reqwest(error: reqwest::Error) -> String {
    use std::error::Error as _;
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// The start of a text body, cut at [`BODY_SNIPPET`] bytes on a character boundary (`…` says
/// it was cut); `None` for an empty or binary one.
fn body_snippet(body: &[u8], content_type: Option<&str>) -> Option<String> {
    if body.is_empty() || !content_type.is_none_or(is_text) {
        return None;
    }
    let head = &body[..body.len().min(BODY_SNIPPET)];
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        // Only a character cut at the end is forgiven: anything else is not text.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).ok()?,
        Err(_) => return None,
    };
    let cut = if head.len() < body.len() { "…" } else { "" };
    Some(format!("{text}{cut}"))
}

/// Whether a `Content-Type` names text: `text/*`, JSON, XML, JavaScript or a form.
fn is_text(content_type: &str) -> bool {
    let Ok(parsed) = content_type.parse::<mime::Mime>() else {
        return false;
    };
    let textual = |name: &str| {
        name == "json" || name == "xml" || name == "javascript" || name == "x-www-form-urlencoded"
    };
    parsed.type_() == mime::TEXT
        || (parsed.type_() == mime::APPLICATION
            && (textual(parsed.subtype().as_str())
                || parsed.suffix().is_some_and(|s| textual(s.as_str()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snippet_is_the_start_of_a_text_body() {
        let html = Some("text/html; charset=utf-8");
        assert_eq!(
            body_snippet(b"<h1>502</h1>", html).as_deref(),
            Some("<h1>502</h1>")
        );
        let problem = Some("application/problem+json");
        assert_eq!(body_snippet(b"{}", problem).as_deref(), Some("{}"));
        assert_eq!(body_snippet(b"oops", None).as_deref(), Some("oops"));
        assert_eq!(body_snippet(b"", html), None);
        assert_eq!(body_snippet(b"\x89PNG", Some("image/png")), None);
        assert_eq!(body_snippet(&[0xff, 0xfe, b'a'], None), None);
        // Cut at 500 bytes, never inside a character.
        let long = "é".repeat(300);
        let snippet = body_snippet(long.as_bytes(), html).expect("text");
        assert_eq!(snippet, format!("{}…", "é".repeat(250)));
        let odd = format!("a{long}");
        let snippet = body_snippet(odd.as_bytes(), html).expect("text");
        assert_eq!(snippet, format!("a{}…", "é".repeat(249)));
    }
}
