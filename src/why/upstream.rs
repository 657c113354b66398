//! Failures that came from an HTTP answer: an upstream service's error, an answer that was not
//! the JSON the code parsed, and a 5xx the function returned itself.

use serde_json::Value;

use super::Finding;
use crate::record::{attr, inspect, ExecutionRecord, Kind, Span, SpanKind};

/// How much of a body a root cause quotes.
const QUOTED: usize = 200;

/// The code failed to parse as JSON an answer that was not JSON: the answer is the cause.
pub(super) fn not_json(record: &ExecutionRecord, _: &super::Related) -> Option<Finding> {
    let error = record.error.as_ref()?;
    if error.name != "SyntaxError" || module_syntax_error(&error.message) {
        return None;
    }
    let span = record
        .spans
        .iter()
        .rev()
        .filter(|s| s.name == SpanKind::Fetch && s.u64_attr(attr::STATUS).is_some())
        .find(|s| parsed_this(s, &error.message))?;
    let status = span.u64_attr(attr::STATUS).unwrap_or(0);
    let kind = span
        .str_attr(attr::CONTENT_TYPE)
        .map_or_else(|| "no content type".to_string(), str::to_string);
    let body = span.str_attr(attr::BODY).map_or_else(
        || " with an empty body".to_string(),
        |b| format!(": {}", quote(b)),
    );
    let suggestion = match status {
        429 | 500.. => "→ The upstream failed, and its error page is what the code parsed: check r.ok before reading the body, and retry with backoff",
        401 | 403 => "→ The upstream refused the credentials, and its error page is what the code parsed: check r.ok before reading the body, and the key or token sent (ctx.env holds only the variables the config's env names)",
        404 => "→ Nothing answers at this URL (its error page is what the code parsed): check the URL, and r.ok before reading the body",
        400..=499 => "→ The upstream refused the request, and its error page is what the code parsed: check r.ok before reading the body; its answer says what was wrong",
        _ => "→ The URL answered a page, not JSON (a login or proxy page, or a site's page instead of its API): check the URL and the credentials sent, and the content type before r.json()",
    };
    Some(Finding {
        cause: "upstream-not-json",
        root_cause: format!(
            "Not JSON: {} {} answered HTTP {status} ({kind}){body}; parsing it threw {}: {}",
            span.str_attr(attr::METHOD).unwrap_or("GET"),
            span.str_attr(attr::URL).unwrap_or(""),
            error.name,
            error.message
        ),
        // The parse's own line when it ran in the project's code (`JSON.parse`); `r.json()`
        // parses inside flux, and then the fetch whose answer it was is the closest line.
        location: error.location.clone().or_else(|| span.location.clone()),
        call_chain: Vec::new(),
        blamed: None,
        suggestion: Some(suggestion.into()),
    })
}

/// A `file.ts:3:1: …` message: a module that did not parse, not a JSON text.
fn module_syntax_error(message: &str) -> bool {
    let Some((place, _)) = message.split_once(": ") else {
        return false;
    };
    let mut parts = place.rsplitn(3, ':');
    let (column, line, file) = (parts.next(), parts.next(), parts.next());
    column.is_some_and(|c| c.parse::<u32>().is_ok())
        && line.is_some_and(|l| l.parse::<u32>().is_ok())
        && file.is_some_and(|f| {
            [".ts", ".js", ".mjs", ".mts"]
                .iter()
                .any(|e| f.ends_with(e))
        })
}

/// Whether `span`'s answer was not JSON and is what a parse failing with `message` read: its
/// body starts with the token QuickJS names (`unexpected token: '<'`), or is empty for an
/// unexpected end.
fn parsed_this(span: &Span, message: &str) -> bool {
    let body = span.str_attr(attr::BODY);
    let json_type = span
        .str_attr(attr::CONTENT_TYPE)
        .is_some_and(|t| t.contains("json"));
    let json_body = body.is_some_and(|b| serde_json::from_str::<Value>(b).is_ok());
    if (json_type && body.is_none()) || json_body {
        return false;
    }
    let lower = message.to_lowercase();
    if lower.contains("end of") {
        return body.is_none_or(|b| b.trim().is_empty());
    }
    let token = message
        .split_once("token: '")
        .or_else(|| message.split_once("token '"))
        .and_then(|(_, rest)| rest.chars().next());
    match (token, body) {
        (Some(token), Some(body)) => body.trim_start().starts_with(token),
        (Some(_), None) => false,
        (None, _) => body.is_some(),
    }
}

/// An upstream service answered with an error status.
pub(super) fn upstream_error(record: &ExecutionRecord, _: &super::Related) -> Option<Finding> {
    // The last error answer: the one closest to the failure.
    let span = record.spans.iter().rev().find(|s| {
        s.name == SpanKind::Fetch && s.u64_attr(attr::STATUS).is_some_and(|code| code >= 400)
    })?;
    let status = span.u64_attr(attr::STATUS).unwrap_or(0);
    let method = span.str_attr(attr::METHOD).unwrap_or("GET");
    let url = span.str_attr(attr::URL).unwrap_or("");
    let body = span
        .str_attr(attr::BODY)
        .filter(|b| !b.trim().is_empty())
        .map(|b| format!(": {}", quote(b)))
        .unwrap_or_default();
    let retry = match (record.links.attempt, record.links.max_attempts) {
        (Some(n), Some(max)) if n < max => format!(
            "the job retries it (attempt {} of {max}, after the worker's backoff)",
            n + 1
        ),
        (Some(_), Some(max)) => format!(
            "this was the job's last attempt of {max}: raise workers.{}.maxAttempts or its backoff in flux.config.ts",
            record.function
        ),
        _ => "retry with backoff, or enqueue the call as a job (ctx.queue.enqueue), which retries with backoff".into(),
    };
    let suggestion = match status {
        429 => Some(format!("→ The upstream is rate-limiting these calls (wait as long as its Retry-After says): {retry}")),
        500.. => Some(format!("→ The upstream failed (HTTP {status}), not this code: {retry}")),
        401 | 403 => Some(format!("→ The upstream refused the credentials (HTTP {status}): check the key or token sent; ctx.env holds only the variables the config's env names")),
        404 => Some(format!("→ Nothing answers at {method} {url}: check the URL, its path and the ids in it")),
        405 => Some(format!("→ The upstream does not take {method} at this URL: check the method")),
        400 | 422 => Some(format!("→ The upstream rejected what was sent (HTTP {status}): its answer says which field; check the body and parameters this code built")),
        _ => None,
    };
    Some(Finding {
        cause: "upstream-error",
        root_cause: format!("Upstream HTTP {status} from {method} {url}{body}"),
        location: span.location.clone(),
        call_chain: Vec::new(),
        blamed: None,
        suggestion,
    })
}

/// The function answered a 5xx itself: the request failed, by the code's own choice.
pub(super) fn returned_5xx(record: &ExecutionRecord, _: &super::Related) -> Option<Finding> {
    if record.kind != Kind::Http || record.error.is_some() {
        return None;
    }
    let status = record.http_status.filter(|s| *s >= 500)?;
    let body = record
        .output
        .as_ref()
        .and_then(|o| o.get("body"))
        .filter(|b| !b.is_null())
        .map(|b| match b {
            Value::String(text) => format!(": {}", quote(text)),
            other => format!(": {}", quote(&inspect(other))),
        })
        .unwrap_or_default();
    Some(Finding {
        cause: "http-5xx",
        root_cause: format!("{} returned HTTP {status}{body}", record.function),
        location: record
            .output
            .as_ref()
            .and_then(|o| o.get("location"))
            .and_then(Value::as_str)
            .map(String::from),
        call_chain: Vec::new(),
        blamed: None,
        suggestion: None,
    })
}

/// A body on one line, cut at [`QUOTED`] characters.
fn quote(body: &str) -> String {
    let flat = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(QUOTED) {
        Some((cut, _)) => format!("{}…", flat[..cut].trim_end_matches('…')),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::record::{sample, ErrorInfo, SpanStatus, Status};
    use crate::why::Related;

    fn fetch(attrs: Value) -> Span {
        Span {
            id: 1,
            parent: Some(0),
            name: SpanKind::Fetch,
            start_us: 10,
            duration_us: 5,
            status: SpanStatus::Ok,
            location: Some("f.ts:2".into()),
            attrs: attrs.as_object().cloned().unwrap_or_default(),
            error: None,
        }
    }

    fn failed(kind: Kind, name: &str, message: &str, spans: Vec<Span>) -> ExecutionRecord {
        ExecutionRecord {
            error: Some(ErrorInfo {
                name: name.into(),
                message: message.into(),
                stack: None,
                location: None,
                frames: Vec::new(),
                source: Vec::new(),
            }),
            spans,
            ..sample(kind, "f", Status::Error)
        }
    }

    #[test]
    fn a_failed_parse_is_blamed_on_the_answer_it_read() {
        let html =
            fetch(json!({ "status": 200, "content_type": "text/html", "body": "<p>hi</p>" }));
        assert!(parsed_this(&html, "unexpected token: '<'"));
        assert!(!parsed_this(&html, "unexpected token: 'x'"));
        let json_answer =
            fetch(json!({ "status": 500, "content_type": "text/plain", "body": "{}" }));
        assert!(!parsed_this(&json_answer, "unexpected token: '<'"));
        let empty = fetch(json!({ "status": 204 }));
        assert!(parsed_this(&empty, "Unexpected end of JSON input"));
        let unread = fetch(json!({ "status": 200, "content_type": "application/json" }));
        assert!(!parsed_this(&unread, "Unexpected end of JSON input"));

        let related = Related::default();
        let record = failed(
            Kind::Http,
            "SyntaxError",
            "unexpected token: '<'",
            vec![html],
        );
        let finding = not_json(&record, &related).expect("a finding");
        assert_eq!(
            (finding.cause, finding.location.as_deref()),
            ("upstream-not-json", Some("f.ts:2"))
        );
        // A JSON.parse of something else, with no fetch: the thrown error explains it.
        let alone = failed(
            Kind::Http,
            "SyntaxError",
            "unexpected token: '<'",
            Vec::new(),
        );
        assert_eq!(not_json(&alone, &related), None);
    }

    #[test]
    fn retry_advice_follows_the_jobs_attempts() {
        let failing = fetch(json!({ "method": "GET", "url": "http://x.test/a", "status": 503 }));
        let mut record = failed(Kind::Job, "Error", "no", vec![failing]);
        record.links.attempt = Some(1);
        record.links.max_attempts = Some(3);
        let suggestion = |record: &ExecutionRecord| {
            upstream_error(record, &Related::default())
                .and_then(|f| f.suggestion)
                .expect("a suggestion")
        };
        assert!(
            suggestion(&record)
                .ends_with("the job retries it (attempt 2 of 3, after the worker's backoff)"),
            "{}",
            suggestion(&record)
        );
        record.links.attempt = Some(3);
        assert!(
            suggestion(&record).ends_with("this was the job's last attempt of 3: raise workers.f.maxAttempts or its backoff in flux.config.ts"),
            "{}",
            suggestion(&record)
        );
        // A status flux has no advice for gets none.
        let conflict = fetch(json!({ "method": "PUT", "url": "http://x.test/a", "status": 409 }));
        let record = failed(Kind::Http, "Error", "no", vec![conflict]);
        let finding = upstream_error(&record, &Related::default()).expect("a finding");
        assert_eq!(finding.suggestion, None);
    }

    #[test]
    fn a_returned_5xx_quotes_its_body_and_a_thrown_error_is_not_one() {
        let mut record = sample(Kind::Http, "f", Status::Error);
        record.http_status = Some(503);
        record.output = Some(json!({ "status": 503, "body": "back soon" }));
        let finding = returned_5xx(&record, &Related::default()).expect("a finding");
        assert_eq!(finding.root_cause, "f returned HTTP 503: back soon");
        let thrown = failed(Kind::Http, "Error", "no", Vec::new());
        assert_eq!(returned_5xx(&thrown, &Related::default()), None);
    }

    #[test]
    fn module_syntax_errors_are_told_from_json_ones() {
        assert!(module_syntax_error("bad.ts:2:11: Expression expected"));
        assert!(!module_syntax_error("unexpected token: '<'"));
        assert!(!module_syntax_error(
            "Expected property name or '}' in JSON at position 8 (line 1 column 9)"
        ));
    }

    #[test]
    fn quotes_are_one_line_and_short() {
        assert_eq!(quote("<h1>\n  502\n</h1>"), "<h1> 502 </h1>");
        let long = "x".repeat(300);
        assert_eq!(quote(&long), format!("{}…", "x".repeat(200)));
    }
}
