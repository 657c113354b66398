use serde_json::{json, Map, Value};

use super::*;
use crate::record::{ErrorInfo, Mutation, MutationOp, Span, SpanStatus};

fn span(id: u32, name: &str, status: SpanStatus, attrs: Value, location: &str) -> Span {
    let attrs: Map<String, Value> = attrs.as_object().cloned().unwrap_or_default();
    Span {
        id,
        parent: (id > 0).then_some(0),
        name: name.into(),
        start_us: 10 * u64::from(id),
        duration_us: 5,
        status,
        location: Some(location.into()),
        attrs,
        error: match (status, name.starts_with("db.")) {
            (SpanStatus::Error, true) => Some("UNIQUE constraint failed: users.email".into()),
            (SpanStatus::Error, false) => Some("HTTP 429".into()),
            _ => None,
        },
    }
}

fn failed(kind: Kind, status: Status, spans: Vec<Span>) -> ExecutionRecord {
    ExecutionRecord {
        error: Some(ErrorInfo {
            name: "Error".into(),
            message: "user not found (userId: u_99)".into(),
            stack: None,
            location: Some("send_welcome_email.ts:8".into()),
            frames: Vec::new(),
            source: Vec::new(),
        }),
        spans,
        ..crate::record::sample(kind, "send_welcome_email", status)
    }
}

fn lookup_span() -> Span {
    span(
        1,
        "db.query",
        SpanStatus::Ok,
        json!({ "sql": "SELECT name FROM users WHERE id = $1", "params": ["u_99"], "rows": 0 }),
        "send_welcome_email.ts:6",
    )
}

#[test]
fn a_key_lookup_that_found_nothing_is_the_root_cause_at_its_call_site() {
    let record = failed(
        Kind::Job,
        Status::Error,
        vec![
            span(0, "f", SpanStatus::Error, json!({}), "f.ts"),
            lookup_span(),
        ],
    );
    let finding = explain(&record, &Related::default()).expect("a finding");
    assert_eq!(finding.root_cause, "Row not found: users WHERE id = 'u_99'");
    assert_eq!(finding.location.as_deref(), Some("send_welcome_email.ts:6"));
    assert_eq!(
        finding.suggestion.as_deref(),
        Some("→ Check that user row is committed before enqueueing job\n(consider using AFTER INSERT trigger or transactional enqueue)")
    );
}

#[test]
fn an_insert_by_the_enqueuer_after_the_read_is_named() {
    let record = failed(
        Kind::Job,
        Status::Error,
        vec![
            span(0, "f", SpanStatus::Error, json!({}), "f.ts"),
            lookup_span(),
        ],
    );
    let mut enqueuer = failed(Kind::Http, Status::Ok, Vec::new());
    enqueuer.started_at_us = 999_000;
    enqueuer.mutations.push(Mutation {
        table: "users".into(),
        pk: json!("u_99"),
        op: MutationOp::Insert,
        before: None,
        after: None,
        committed: true,
        span: None,
        at_us: 5_000,
    });
    let related = Related {
        enqueued_by: Some(enqueuer.clone()),
        ..Default::default()
    };
    let finding = explain(&record, &related).expect("a finding");
    let suggestion = finding.suggestion.expect("a suggestion");
    assert!(
        suggestion.starts_with(&format!(
            "→ req:{} inserted the user row after this job read it",
            enqueuer.id.short()
        )),
        "{suggestion}"
    );
}

#[test]
fn other_failures_have_their_own_rules() {
    let constraint = failed(
        Kind::Http,
        Status::Error,
        vec![
            span(0, "f", SpanStatus::Ok, json!({}), "f.ts"),
            span(
                1,
                "db.insert(users)",
                SpanStatus::Error,
                json!({}),
                "signup.ts:4",
            ),
        ],
    );
    let finding = explain(&constraint, &Related::default()).expect("finding");
    assert_eq!(
        (finding.cause, finding.location.as_deref()),
        ("unique", Some("signup.ts:4"))
    );

    let upstream = failed(
        Kind::Job,
        Status::Error,
        vec![span(
            1,
            "fetch",
            SpanStatus::Error,
            json!({ "method": "POST", "url": "https://api.stripe.test/v1", "status": 429 }),
            "invoice.ts:3",
        )],
    );
    let finding = explain(&upstream, &Related::default()).expect("finding");
    assert_eq!(
        finding.root_cause,
        "Upstream HTTP 429 from POST https://api.stripe.test/v1"
    );

    let timeout = failed(
        Kind::Job,
        Status::Timeout,
        vec![span(
            1,
            "fetch",
            SpanStatus::Pending,
            json!({}),
            "slow.ts:2",
        )],
    );
    let finding = explain(&timeout, &Related::default()).expect("finding");
    assert_eq!(
        (finding.cause, finding.location.as_deref()),
        ("timeout-pending", Some("slow.ts:2"))
    );

    let plain = failed(Kind::Http, Status::Error, Vec::new());
    assert_eq!(
        explain(&plain, &Related::default()).expect("finding").cause,
        "error"
    );
    let ok = failed(Kind::Http, Status::Ok, Vec::new());
    assert_eq!(explain(&ok, &Related::default()), None);
}
