//! `flux tail`: executions as they happen, over the dev server's websocket.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::source::local_store;
use super::{CliError, Format, GlobalArgs, TailArgs};
use crate::api::{ErrorBody, TailMessage};
use crate::client::{encode, ClientError, Target, Untrusted};
use crate::output::print_line;
use crate::record::{ExecId, TailEvent};
use crate::render::{execution_lines, Style};
use crate::store::{Storage, TailFilter};
use crate::timefmt::parse_ago;

/// How long to keep trying a server that went away.
const GIVE_UP_AFTER: Duration = Duration::from_secs(30);

fn parse_filters(filters: &[String]) -> Result<(TailFilter, Vec<(String, String)>), CliError> {
    let mut filter = TailFilter::default();
    let mut query = Vec::new();
    for item in filters {
        let Some((key, value)) = item.split_once('=') else {
            return Err(CliError::usage(format!(
                "--filter {item}: expected key=value"
            )));
        };
        let values: Vec<String> = value.split('|').map(str::to_string).collect();
        let check = |allowed: &[&str]| {
            values
                .iter()
                .all(|v| allowed.contains(&v.as_str()))
                .then_some(())
                .ok_or_else(|| {
                    CliError::usage(format!("--filter {item}: expected {}", allowed.join(", ")))
                })
        };
        match key {
            "type" => {
                check(&["http", "job"])?;
                filter.kinds.extend(values);
            }
            "status" => {
                check(&["ok", "error", "timeout", "interrupted", "cancelled"])?;
                filter.statuses.extend(values);
            }
            "fn" => filter.functions.extend(values),
            "req" | "job" => {
                let prefixes = values
                    .iter()
                    .map(|v| ExecId::parse_prefix(v))
                    .collect::<Result<Vec<_>, _>>()?;
                if key == "req" {
                    filter.caused_by.extend(prefixes);
                } else {
                    filter.jobs.extend(prefixes);
                }
            }
            _ => {
                return Err(
                    CliError::usage(format!("--filter {item}: unknown key")).with_hint(
                        "filters: type=job|http, fn=NAME, status=ok|error|timeout|interrupted|cancelled, req=ID, job=ID",
                    ),
                )
            }
        }
        query.push((key.to_string(), value.to_string()));
    }
    Ok((filter, query))
}

fn print_event(event: &TailEvent, global: &GlobalArgs, style: Style) -> Result<(), CliError> {
    let text = match global.format() {
        Format::Json => serde_json::to_string(event)?,
        Format::Pretty => execution_lines(&event.record, event.next.as_ref(), style),
    };
    Ok(print_line(&text)?)
}

pub fn run(args: &TailArgs, global: &GlobalArgs) -> Result<(), CliError> {
    let (filter, query) = parse_filters(&args.filter)?;
    let since = match (&args.last, &args.since) {
        (Some(_), Some(_)) => return Err(CliError::usage("give --last or --since, not both")),
        (Some(text), None) => Some(parse_ago(text).map_err(|e| {
            CliError::usage(format!("--last {e}")).with_hint("for example: flux tail --last 1h")
        })?),
        (None, Some(text)) => Some(parse_ago(text).map_err(|e| {
            CliError::usage(format!("--since {e}"))
                .with_hint("for example: flux tail --since 10m, or --since 2026-11-30T07:00:00Z")
        })?),
        (None, None) => None,
    };
    let target = global.target();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(follow(
        &target,
        global,
        &filter,
        &query,
        since,
        !args.no_follow,
    ))
}

/// Prints what the tail socket sends until it closes or fails (`false`: reconnect) or the
/// server says the tail ended (`true`), keeping `last_seq` for the reconnect.
async fn read_events(
    socket: &mut (impl futures_util::Stream<Item = Result<Message, WsError>> + Unpin),
    last_seq: &mut Option<i64>,
    global: &GlobalArgs,
    style: Style,
) -> Result<bool, CliError> {
    while let Some(message) = socket.next().await {
        let Ok(Message::Text(text)) = message else {
            if message.is_err() {
                break;
            }
            continue;
        };
        // A message this flux does not know (a newer server's) is skipped.
        let Ok(message) = serde_json::from_str::<TailMessage>(&text) else {
            continue;
        };
        match message {
            TailMessage::Event(event) => {
                *last_seq = Some(event.seq);
                print_event(&event, global, style)?;
            }
            TailMessage::Missed { missed } => {
                eprintln!("… {missed} execution(s) missed: this terminal fell behind");
            }
            TailMessage::End { .. } => return Ok(true),
            TailMessage::Error { error } => return Err(CliError::failure(error)),
        }
    }
    Ok(false)
}

async fn follow(
    target: &Target,
    global: &GlobalArgs,
    filter: &TailFilter,
    query: &[(String, String)],
    since: Option<i64>,
    keep_following: bool,
) -> Result<(), CliError> {
    let style = global.style();
    if target.is_foreign() {
        return without_server(target, filter, since, global, keep_following);
    }
    let mut last_seq: Option<i64> = None;
    let mut connected_once = false;
    let mut down_since: Option<Instant> = None;
    let mut delay = Duration::from_millis(100);
    loop {
        let mut url = format!(
            "{}/_flux/api/tail?follow={}",
            target.url.replacen("http", "ws", 1),
            u8::from(keep_following)
        );
        for (key, value) in query {
            url.push_str(&format!("&{key}={}", encode(value)));
        }
        match (last_seq, since) {
            (Some(seq), _) => url.push_str(&format!("&after={seq}")),
            (None, Some(since)) => url.push_str(&format!("&since={since}")),
            (None, None) => {}
        }
        let mut request = url
            .into_client_request()
            .map_err(|e| CliError::failure(format!("bad server URL {}: {e}", target.url)))?;
        if let Some(token) = &target.token {
            if let Ok(value) = format!("Bearer {token}").parse() {
                request.headers_mut().insert("authorization", value);
            }
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((mut socket, _)) => {
                // After an outage the address may be another project's server. It is asked
                // once connected (asked before, a server starting in between would be
                // followed), and followed only once it says it serves this project.
                let foreign = if connected_once {
                    target.now_serves_another_project().await
                } else {
                    Some(false)
                };
                match foreign {
                    Some(true) => {
                        return Err(CliError::unreachable(format!(
                            "the flux server at {} now serves another project",
                            target.url
                        ))
                        .with_hint(
                            "start this project's 'flux dev' again, then 'flux tail --since …' to catch up",
                        ));
                    }
                    // It did not say who it is: not followed; the next try asks again.
                    None => drop(socket),
                    Some(false) => {
                        connected_once = true;
                        down_since = None;
                        delay = Duration::from_millis(100);
                        if read_events(&mut socket, &mut last_seq, global, style).await? {
                            return Ok(());
                        }
                    }
                }
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(response))
                if response.status() == 401 =>
            {
                return Err(ClientError::Unauthorized {
                    message: "the server wants a token".into(),
                }
                .into());
            }
            // Refused, not unreachable: a foreign Host or Origin, or too many tail clients.
            Err(tokio_tungstenite::tungstenite::Error::Http(response))
                if matches!(response.status().as_u16(), 403 | 503) =>
            {
                let said = response
                    .body()
                    .as_deref()
                    .and_then(|body| serde_json::from_slice::<ErrorBody>(body).ok())
                    .map(|body| body.error);
                return Err(CliError::failure(said.unwrap_or_else(|| {
                    format!("the server refused the tail ({})", response.status())
                })));
            }
            Err(error) => {
                // Refused by this machine, not unreachable: retrying or reading the local
                // store would hide it.
                if let Some(why) = Untrusted::find(&error) {
                    return Err(ClientError::Untrusted {
                        url: target.url.clone(),
                        why,
                    }
                    .into());
                }
                if !connected_once {
                    return without_server(target, filter, since, global, keep_following);
                }
            }
        }
        // Said once per outage, not once per try.
        if down_since.is_none() {
            eprintln!("reconnecting…");
        }
        let since_down = *down_since.get_or_insert_with(Instant::now);
        if since_down.elapsed() > GIVE_UP_AFTER {
            return Err(CliError::unreachable(format!(
                "lost the flux server at {} and it did not come back",
                target.url
            ))
            .with_hint("start 'flux dev' again, then 'flux tail --since …' to catch up"));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// No server of this project to follow: history still reads from the project's store.
fn without_server(
    target: &Target,
    filter: &TailFilter,
    since: Option<i64>,
    global: &GlobalArgs,
    keep_following: bool,
) -> Result<(), CliError> {
    if !keep_following {
        if let Some(store) = local_store(target)? {
            return from_store(store.as_ref(), filter, since, global, global.style());
        }
    }
    Err(target.unreachable().into())
}

fn from_store(
    store: &dyn Storage,
    filter: &TailFilter,
    since: Option<i64>,
    global: &GlobalArgs,
    style: Style,
) -> Result<(), CliError> {
    let events = store
        .tail_history(None, since, filter, 100_000)
        .map_err(|e| CliError::failure(e.to_string()))?;
    for event in &events {
        print_event(event, global, style)?;
    }
    Ok(())
}
